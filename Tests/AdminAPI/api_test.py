#!/usr/bin/env python3
"""Every endpoint of Switchboard's admin API over real HTTP, with its refusals.

Run by the end-to-end test (Tests/EndToEndTests/AdminAPITests.swift) against a proxy started
with `--admin-listen`, a real upstream sshd and tokens made with `switchboard token create`:

    python3 Tests/AdminAPI/api_test.py --url http://127.0.0.1:PORT [--cacert FILE] \
        --token RW --token-name ops --read-only-token RO --revoked-token REVOKED \
        --upstream 127.0.0.1:SSHD_PORT --ssh "ssh … sbt-alice@127.0.0.1" --login sbt-alice \
        --authorized-key ~/.ssh/id_ed25519.pub

It prints one `ok - …` line per check. The first failed check prints the request, the status
and the body, and the script exits with status 1. Only the standard library is used; the live
session runs in tmux (a private tmux server, killed at the end).
"""

import argparse
import base64
import collections
import hashlib
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse

# Every (method, path template) the server answers under /v1; the served description must list
# exactly these.
ENDPOINTS = {
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/whoami"),
    ("GET", "/v1/routes"),
    ("POST", "/v1/routes"),
    ("GET", "/v1/routes/{login}"),
    ("PATCH", "/v1/routes/{login}"),
    ("DELETE", "/v1/routes/{login}"),
    ("POST", "/v1/routes/{login}/trust"),
    ("POST", "/v1/routes/{login}/keygen"),
    ("GET", "/v1/routes/{login}/keys"),
    ("POST", "/v1/routes/{login}/keys"),
    ("DELETE", "/v1/routes/{login}/keys/{fingerprint}"),
    ("GET", "/v1/explain"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/{id}"),
    ("DELETE", "/v1/sessions/{id}"),
    ("GET", "/v1/sessions/{id}/stream"),
    ("GET", "/v1/sessions/{id}/recording"),
    ("GET", "/v1/changes"),
}

ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
NO_SUCH_SESSION = 999999999


def enc(text):
    """One path segment, percent-encoded (`*` → `%2A`, `/` → `%2F`)."""
    return urllib.parse.quote(text, safe="")


class Failure(Exception):
    def __init__(self, what, reply=None, detail=None):
        super().__init__(what)
        self.what = what
        self.reply = reply
        self.detail = detail


class Reply:
    """One answer, with the request that got it (for failure reports)."""

    def __init__(self, method, path, sent, status, headers, body):
        self.method = method
        self.path = path
        self.sent = sent
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure(f"{self.method} {self.path} answers JSON", self)

    def report(self):
        lines = [f"  request: {self.method} {self.path}"]
        if self.sent is not None:
            lines.append(f"  request body: {self.sent[:2000]!r}")
        lines.append(f"  status: {self.status}")
        for name, value in sorted(self.headers.items()):
            lines.append(f"  {name}: {value}")
        lines.append(f"  body: {self.body[:4000].decode('utf-8', 'replace')}")
        return "\n".join(lines)


class Client:
    def __init__(self, url, cacert):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SystemExit(f"--url must be http(s)://HOST:PORT, not {url!r}")
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.https else 80)
        self.context = ssl.create_default_context(cafile=cacert) if self.https else None
        self.checks = 0

    def connect(self, timeout=30):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def open(self, method, path, token=None, body=None, headers=None, timeout=30):
        """Sends a request and returns the connection and the response, body unread."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        connection = self.connect(timeout)
        connection.request(method, path, body=body, headers=all_headers)
        return connection, connection.getresponse(), body

    def call(self, method, path, token=None, body=None, headers=None, timeout=30):
        connection, response, sent = self.open(method, path, token, body, headers, timeout)
        try:
            data = response.read()
        finally:
            connection.close()
        received = {name.lower(): value for name, value in response.getheaders()}
        return Reply(method, path, sent, response.status, received, data)

    # Checks

    def ok(self, what):
        self.checks += 1
        print(f"ok - {what}", flush=True)

    def check(self, condition, what, reply=None, detail=None):
        if not condition:
            raise Failure(what, reply, detail)
        self.ok(what)

    def expect(self, reply, status, what, code=None):
        """`reply` has `status` and, for a refusal, the error `code` in the API's shape."""
        if reply.status != status:
            raise Failure(f"{what}: expected status {status}", reply)
        if code is not None:
            body = reply.json()
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict) or error.get("code") != code or not isinstance(error.get("message"), str):
                raise Failure(f"{what}: expected error code {code!r}", reply)
            if not (reply.header("content-type") or "").startswith("application/json"):
                raise Failure(f"{what}: an error is application/json", reply)
        self.ok(what)
        return reply


class Tmux:
    """A private tmux server (its own socket) for the live ssh session."""

    def __init__(self):
        self.socket = f"sbt-api-test-{os.getpid()}"
        self.started = False

    def run(self, *arguments, check=True):
        result = subprocess.run(["tmux", "-L", self.socket, *arguments], capture_output=True, text=True, timeout=20)
        if check and result.returncode != 0:
            raise Failure(f"tmux {' '.join(arguments[:2])} works", detail=result.stderr)
        return result

    def start(self, command):
        # The pane outlives ssh and says how it ended, so the test can see it exit.
        shell = f"{command}; echo \"[ssh exited: $?]\"; exec sleep 600"
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "api", "-x", "100", "-y", "30", shell)
        self.started = True

    def type(self, text):
        self.run("send-keys", "-t", "api", "-l", text)
        self.run("send-keys", "-t", "api", "Enter")

    def screen(self):
        result = self.run("capture-pane", "-p", "-t", "api", check=False)
        return result.stdout if result.returncode == 0 else ""

    def cleanup(self):
        if self.started:
            self.run("kill-server", check=False)


class SSE:
    """Reads server-sent events from a streaming response."""

    def __init__(self, response):
        self.response = response

    def next(self, deadline):
        """The next event as (name, data); comments (keepalives) are skipped; None at the end."""
        name, data = "message", []
        while time.monotonic() < deadline:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    return name, "\n".join(data)
                name = "message"
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        raise TimeoutError("no event in time")


class APITest:
    def __init__(self, args):
        self.args = args
        self.api = Client(args.url, args.cacert)
        self.token = args.token
        self.ro = args.read_only_token
        self.tmux = Tmux()
        self.suffix = f"{os.getpid() % 100000}"
        self.login = f"sbt-api-{self.suffix}"
        self.refused_login = f"sbt-refused-{self.suffix}"
        # Every write that succeeded, as (action, target): the record of changes must hold
        # exactly these.
        self.writes = collections.Counter()
        self.ro_name = None
        self.catch_all_existed = False
        with open(args.authorized_key) as file:
            self.key_text = file.read()
        self.key_fields = self.key_text.split()
        if len(self.key_fields) < 2 or self.key_fields[0] != "ssh-ed25519":
            raise SystemExit(f"{args.authorized_key} is not an ed25519 public key")
        digest = hashlib.sha256(base64.b64decode(self.key_fields[1])).digest()
        self.fingerprint = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    # Helpers

    def get(self, path, token=None):
        return self.api.call("GET", path, token=self.token if token is None else token)

    def routes_bytes(self):
        reply = self.get("/v1/routes")
        if reply.status != 200:
            raise Failure("GET /v1/routes answers 200", reply)
        return reply.body

    def unchanged(self, before, what):
        self.api.check(self.routes_bytes() == before, f"{what}: GET /v1/routes is byte-identical to before")

    def no_nulls(self, value, what, reply):
        """Fields without a value are omitted, never null."""
        def walk(node):
            if node is None:
                return False
            if isinstance(node, dict):
                return all(walk(item) for item in node.values())
            if isinstance(node, list):
                return all(walk(item) for item in node)
            return True
        self.api.check(walk(value), f"{what}: no null fields (they are omitted)", reply)

    def changes_high_water(self):
        reply = self.get("/v1/changes?limit=1")
        self.api.expect(reply, 200, "GET /v1/changes?limit=1 → 200")
        changes = reply.json()["changes"]
        return changes[0]["id"] if changes else 0

    # Sections

    def refusals(self):
        api = self.api
        reply = api.call("GET", "/v1/whoami")
        api.expect(reply, 401, "no token → 401 unauthorized", "unauthorized")
        api.check(reply.header("www-authenticate") == "Bearer", "401 carries WWW-Authenticate: Bearer", reply)
        for label, header in [
            ("garbage token", "Bearer sbt_" + "A" * 43),
            ("token without the sbt_ prefix", "Bearer not-a-token"),
            ("Basic instead of Bearer", "Basic b3BzOm9wcw=="),
            ("Bearer without a token", "Bearer"),
        ]:
            reply = api.call("GET", "/v1/whoami", headers={"Authorization": header})
            api.expect(reply, 401, f"{label} → 401 unauthorized", "unauthorized")
            api.check(reply.header("www-authenticate") == "Bearer", f"{label}: WWW-Authenticate: Bearer", reply)
        reply = api.call("GET", "/v1/routes", token=self.args.revoked_token)
        api.expect(reply, 401, "revoked token → 401 unauthorized", "unauthorized")
        api.expect(api.call("GET", "/v1/nope"), 401, "unknown path without a token → 401 (the token is checked first)", "unauthorized")

        for path in ["/v1/nope", "/v1/routes/a/b/c/d", "/v1", "/v1/sessions/1/nope", "/v1/whoami/x"]:
            api.expect(api.call("GET", path, token=self.token), 404, f"GET {path} → 404 not-found", "not-found")
        api.expect(api.call("GET", "/v1/routes/a%2Fkeys", token=self.token), 404,
                   "GET /v1/routes/a%2Fkeys → 404 route-not-found (%2F stays inside its segment)", "route-not-found")
        reply = api.call("GET", "/v1/routes/a/..", token=self.token)
        api.check(reply.status == 400, "GET /v1/routes/a/.. → 400 (no dot segments)", reply)
        for method, path in [("PUT", "/v1/whoami"), ("DELETE", "/v1/routes"), ("GET", f"/v1/routes/{self.login}/trust"),
                             ("POST", "/v1/sessions"), ("PATCH", "/v1/changes")]:
            api.expect(api.call(method, path, token=self.token), 405, f"{method} {path} → 405 method-not-allowed", "method-not-allowed")

    def whoami(self):
        api = self.api
        reply = api.expect(self.get("/v1/whoami"), 200, "GET /v1/whoami (read-write token) → 200")
        body = reply.json()
        api.check(body == {"name": self.args.token_name, "read_only": False},
                  f"whoami names the token {self.args.token_name!r}, read_only false", reply)
        reply = api.expect(self.get("/v1/whoami", token=self.ro), 200, "GET /v1/whoami (read-only token) → 200")
        body = reply.json()
        api.check(body.get("read_only") is True and isinstance(body.get("name"), str) and body["name"] != self.args.token_name,
                  "whoami of the read-only token: its own name, read_only true", reply)
        self.ro_name = body["name"]

    def read_only_writes(self):
        api = self.api
        login = enc(self.args.login)
        routes = self.routes_bytes()
        keys = self.get(f"/v1/routes/{login}/keys")
        api.expect(keys, 200, f"GET /v1/routes/{self.args.login}/keys → 200")
        high = self.changes_high_water()
        writes = [
            ("POST", "/v1/routes", {"login": self.refused_login, "upstream": self.args.upstream}),
            ("PATCH", f"/v1/routes/{login}", {"enabled": False}),
            ("DELETE", f"/v1/routes/{login}", None),
            ("POST", f"/v1/routes/{login}/trust", None),
            ("POST", f"/v1/routes/{login}/keygen", None),
            ("POST", f"/v1/routes/{login}/keys", {"authorized_keys": self.key_text}),
            ("DELETE", f"/v1/routes/{login}/keys/{enc('SHA256:' + 'A' * 43)}", None),
            ("DELETE", "/v1/sessions/1", None),
        ]
        for method, path, body in writes:
            reply = api.call(method, path, token=self.ro, body=body)
            api.expect(reply, 403, f"read-only token: {method} {path} → 403 read-only-token", "read-only-token")
        api.check(self.routes_bytes() == routes, "after the read-only writes the routes are byte-identical")
        again = self.get(f"/v1/routes/{login}/keys")
        api.check(again.body == keys.body, "after the read-only writes the keys are unchanged", again)
        api.check(self.changes_high_water() == high, "the read-only writes recorded no change")

    def routes(self):
        api = self.api
        up_host, _, up_port = self.args.upstream.rpartition(":")
        up_port = int(up_port)
        login = self.login
        path = f"/v1/routes/{enc(login)}"

        before = self.routes_bytes()
        reply = api.call("POST", "/v1/routes", token=self.token, body={
            "login": login, "upstream": self.args.upstream, "forwarding": "local", "max_sessions": 3,
            "schedule_ends_sessions": "off", "host_key_policy": "accept-new",
        })
        api.expect(reply, 201, f"POST /v1/routes {login} → 201")
        self.writes["route.create", login] += 1
        created = reply.json()
        api.check(created.get("login") == login and created.get("upstream_host") == up_host and created.get("upstream_port") == up_port,
                  "the new route echoes login, upstream_host and upstream_port", reply)
        api.check(created.get("forwarding") == "local" and created.get("max_sessions") == 3 and created.get("host_key_policy") == "accept-new"
                  and created.get("schedule_ends_sessions") is False and created.get("enabled") is True and created.get("catch_all") is False,
                  "the new route echoes forwarding, max_sessions, host_key_policy, schedule_ends_sessions; enabled, not catch-all", reply)
        api.check(created.get("effective_upstream_user") == login and "upstream_user" not in created and "pattern" not in created,
                  "unset fields are omitted (upstream_user, pattern); effective_upstream_user is the login", reply)
        api.check(all(ISO_DATE.match(created.get(field, "")) for field in ("created_at", "updated_at")),
                  "created_at and updated_at are ISO 8601", reply)
        self.no_nulls(created, "the new route", reply)
        api.check(list(json.loads(reply.body)) == sorted(created), "the route's JSON keys are sorted", reply)

        reply = api.expect(self.get(path), 200, f"GET {path} → 200")
        api.check(reply.json() == created, "GET shows the route as POST answered it", reply)
        reply = api.expect(self.get("/v1/routes"), 200, "GET /v1/routes → 200")
        api.check(any(route.get("login") == login for route in reply.json()["routes"]), "GET /v1/routes lists the new route", reply)
        api.check(any(route.get("login") == self.args.login for route in reply.json()["routes"]),
                  f"GET /v1/routes lists {self.args.login}", reply)

        # Refusals: each leaves the store exactly as it was.
        before = self.routes_bytes()
        refused = [
            ("POST", "/v1/routes", {"login": login, "upstream": self.args.upstream}, 409, "route-exists", "the same route again"),
            ("POST", "/v1/routes", {"login": self.refused_login, "upstream": "bad host"}, 400, "invalid-host", "upstream \"bad host\""),
            ("PATCH", path, {"port": 70000}, 400, "invalid-port", "port 70000"),
            ("PATCH", path, {"schedule": "Mon-Fri 25:00-26:00"}, 400, "invalid-policy", "schedule Mon-Fri 25:00-26:00"),
            ("POST", "/v1/routes", {"login": self.refused_login, "upstream": self.args.upstream, "colour": "blue"}, 400, "bad-request",
             "an unknown field"),
            ("PATCH", path, {"enabled": False, "colour": "blue"}, 400, "bad-request", "an unknown field"),
            ("POST", "/v1/routes", {"login": self.refused_login, "upstream": 22}, 400, "bad-request", "upstream of the wrong type"),
            ("PATCH", path, {"enabled": "no"}, 400, "bad-request", "enabled of the wrong type"),
            ("PATCH", path, {"port": 22.5}, 400, "bad-request", "a port that is not a whole number"),
            ("POST", "/v1/routes", {"login": self.refused_login, "upstream": self.args.upstream, "forwarding": "sideways"}, 400,
             "invalid-route", "forwarding sideways"),
            ("POST", "/v1/routes", {"login": self.refused_login, "match": "sbt-x-[0-9]+", "upstream": self.args.upstream}, 400,
             "invalid-route", "both login and match"),
            ("POST", "/v1/routes", {"login": "bad login!", "upstream": self.args.upstream}, 400, "invalid-login", "an invalid login"),
            ("POST", "/v1/routes", {"login": self.refused_login}, 400, "bad-request", "no upstream"),
            ("POST", "/v1/routes", "{not json", 400, "bad-request", "a body that is not JSON"),
            ("POST", "/v1/routes", [1, 2], 400, "bad-request", "a JSON array"),
            ("POST", "/v1/routes", None, 400, "bad-request", "no body"),
            ("PATCH", path, {}, 400, "nothing-to-change", "no changes"),
            ("PATCH", f"/v1/routes/{self.refused_login}", {"enabled": False}, 404, "route-not-found", "a route that does not exist"),
        ]
        for method, target, body, status, code, label in refused:
            reply = api.call(method, target, token=self.token, body=body)
            api.expect(reply, status, f"{method} {target} with {label} → {status} {code}", code)
            self.unchanged(before, f"{label} refused")

        # Changes.
        for changes, expectation, label in [
            ({"enabled": False}, lambda r: r.get("enabled") is False, "enabled false"),
            ({"upstream_user": "deploy"}, lambda r: r.get("upstream_user") == "deploy" and r.get("effective_upstream_user") == "deploy",
             "upstream_user deploy"),
            ({"allow_from": "10.0.0.0/8"}, lambda r: r.get("allow_from") == ["10.0.0.0/8"], "allow_from 10.0.0.0/8"),
            ({"port": "2201"}, lambda r: r.get("upstream_port") == 2201, "port as text"),
            ({"port": up_port, "enabled": True, "allow_from": "any"},
             lambda r: r.get("upstream_port") == up_port and r.get("enabled") is True and "allow_from" not in r,
             "port as a number, enabled again, allow_from any"),
            ({"max_sessions": "none"}, lambda r: "max_sessions" not in r, "max_sessions none"),
        ]:
            reply = api.call("PATCH", path, token=self.token, body=changes)
            api.expect(reply, 200, f"PATCH {path} {label} → 200")
            self.writes["route.update", login] += 1
            api.check(expectation(reply.json()), f"PATCH {label} is in the answer", reply)
            shown = self.get(path)
            api.check(shown.status == 200 and shown.json() == reply.json(), f"GET shows the route after PATCH {label}", shown)

        # Trust and keygen.
        reply = api.call("POST", f"{path}/trust", token=self.token)
        api.expect(reply, 200, f"POST {path}/trust → 200")
        self.writes["route.trust", login] += 1
        pinned = reply.json()
        api.check(str(pinned.get("fingerprint", "")).startswith("SHA256:") and "previous" not in pinned,
                  "trust pins the upstream's key (SHA256:…), no previous pin", reply)
        shown = self.get(path).json()
        api.check(shown.get("host_key_fingerprint") == pinned["fingerprint"], "the route shows the pinned fingerprint")
        reply = api.call("POST", f"{path}/keygen", token=self.token)
        api.expect(reply, 200, f"POST {path}/keygen → 200")
        self.writes["route.keygen", login] += 1
        made = reply.json()
        api.check(str(made.get("public_key", "")).startswith("ssh-ed25519 "), "keygen answers an ssh-ed25519 public key", reply)
        shown = self.get(path).json()
        if "file" in made:
            api.check(shown.get("identity_file") == made["file"], "the route uses the new key file", reply)
        # Over the API a route may use only a key in the data directory's route-keys folder: a
        # token must not point it at any private key the proxy can read (nor probe for files).
        for outside in ("/etc/ssh/ssh_host_ed25519_key", "/root/.ssh/id_ed25519", "/nonexistent/key",
                        (made.get("file") or "/x/route-keys/k") + "/../../../../etc/shadow"):
            before = self.routes_bytes()
            api.expect(api.call("PATCH", path, token=self.token, body={"identity_file": outside}), 400,
                       f"PATCH identity_file {outside} → 400 invalid-identity-file", "invalid-identity-file")
            self.unchanged(before, f"identity_file {outside}")
        api.expect(api.call("POST", f"/v1/routes/{self.refused_login}/trust", token=self.token), 404,
                   "trust of a route that does not exist → 404 route-not-found", "route-not-found")
        api.expect(api.call("POST", f"/v1/routes/{self.refused_login}/keygen", token=self.token), 404,
                   "keygen of a route that does not exist → 404 route-not-found", "route-not-found")

        # Keys.
        keys_path = f"{path}/keys"
        reply = api.expect(self.get(keys_path), 200, f"GET {keys_path} → 200")
        api.check(reply.json() == {"keys": []}, "a new route lists no keys", reply)
        reply = api.call("POST", keys_path, token=self.token, body={"authorized_keys": self.key_text})
        api.expect(reply, 201, f"POST {keys_path} with {self.args.authorized_key} → 201")
        self.writes["key.add", login] += 1
        added = reply.json().get("keys")
        comment = " ".join(self.key_fields[2:])
        api.check(isinstance(added, list) and len(added) == 1 and added[0].get("fingerprint") == self.fingerprint
                  and added[0].get("type") == "ssh-ed25519" and added[0].get("comment") == comment
                  and ISO_DATE.match(added[0].get("created_at", "")),
                  f"the added key: ssh-ed25519, {self.fingerprint}, comment {comment!r}", reply)
        reply = api.expect(self.get(keys_path), 200, f"GET {keys_path} → 200")
        listed = reply.json()["keys"]
        api.check([key.get("fingerprint") for key in listed] == [self.fingerprint], "the key is listed", reply)
        refused = [
            ({"authorized_keys": self.key_text}, 409, "key-exists", "the same key again"),
            ({"authorized_keys": "ssh-ed25519 not-base64"}, 400, "invalid-key", "a broken key"),
            ({"authorized_keys": 7}, 400, "bad-request", "authorized_keys of the wrong type"),
            ({"keys": self.key_text}, 400, "bad-request", "an unknown field"),
        ]
        for body, status, code, label in refused:
            reply = api.call("POST", keys_path, token=self.token, body=body)
            api.expect(reply, status, f"POST {keys_path} with {label} → {status} {code}", code)
            again = self.get(keys_path)
            api.check(again.body == self.get(keys_path).body and [k["fingerprint"] for k in again.json()["keys"]] == [self.fingerprint],
                      f"{label} refused: the keys are unchanged", again)
        key_path = f"{keys_path}/{enc(self.fingerprint)}"
        reply = api.call("DELETE", key_path, token=self.token)
        if reply.status == 404 and "/" in self.fingerprint:
            raise Failure(f"DELETE {key_path} → 204 (the fingerprint holds '/', sent as %2F, which must stay inside its path "
                          "segment)", reply)
        api.expect(reply, 204, f"DELETE {key_path} → 204")
        self.writes["key.delete", login] += 1
        api.check(reply.body == b"", "204 has no body", reply)
        reply = api.expect(self.get(keys_path), 200, f"GET {keys_path} → 200")
        api.check(reply.json() == {"keys": []}, "the key is gone", reply)
        api.expect(api.call("DELETE", key_path, token=self.token), 404, "DELETE the key again → 404 key-not-found", "key-not-found")
        api.expect(self.get(f"/v1/routes/{self.refused_login}/keys"), 404, "keys of a route that does not exist → 404 route-not-found",
                   "route-not-found")

        # The catch-all route, addressed as %2A.
        star = "/v1/routes/%2A"
        existing = self.get(star)
        self.catch_all_existed = existing.status == 200
        if existing.status == 200:
            api.check(existing.json().get("catch_all") is True, "GET /v1/routes/%2A shows the existing catch-all route", existing)
        else:
            api.expect(existing, 404, "GET /v1/routes/%2A → 404 route-not-found before it exists", "route-not-found")
            reply = api.call("POST", "/v1/routes", token=self.token, body={"login": "*", "upstream": self.args.upstream})
            api.expect(reply, 201, "POST /v1/routes login * → 201")
            self.writes["route.create", "*"] += 1
            api.check(reply.json().get("login") == "*" and reply.json().get("catch_all") is True, "the catch-all route: login *, catch_all",
                      reply)
            shown = api.expect(self.get(star), 200, "GET /v1/routes/%2A → 200")
            api.check(shown.json() == reply.json(), "GET /v1/routes/%2A shows the catch-all route", shown)
            api.expect(api.call("POST", f"{star}/keygen", token=self.token), 400,
                       "keygen for the catch-all route → 400 invalid-identity-file", "invalid-identity-file")
            reply = api.call("PATCH", star, token=self.token, body={"enabled": False})
            api.expect(reply, 200, "PATCH /v1/routes/%2A → 200")
            self.writes["route.update", "*"] += 1
            api.check(reply.json().get("enabled") is False, "the catch-all route is disabled", reply)
            api.expect(api.call("DELETE", star, token=self.token), 204, "DELETE /v1/routes/%2A → 204")
            self.writes["route.delete", "*"] += 1
            api.expect(self.get(star), 404, "GET /v1/routes/%2A after DELETE → 404 route-not-found", "route-not-found")

        # A pattern route.
        pattern = "sbt-pat-([0-9]+)"
        reply = api.call("POST", "/v1/routes", token=self.token, body={
            "match": pattern, "priority": 5, "upstream": self.args.upstream, "upstream_user": "user-$1"})
        api.expect(reply, 201, f"POST /v1/routes match {pattern} → 201")
        pattern_route = reply.json()
        pattern_login = pattern_route.get("login", "")
        self.writes["route.create", pattern_login] += 1
        api.check(pattern_route.get("pattern") == pattern and pattern_route.get("priority") == 5 and pattern_login.endswith(pattern)
                  and pattern_route.get("catch_all") is False, "the pattern route echoes pattern and priority", reply)
        pattern_path = f"/v1/routes/{enc(pattern_login)}"
        shown = api.expect(self.get(pattern_path), 200, f"GET {pattern_path} → 200")
        api.check(shown.json() == pattern_route, "GET shows the pattern route", shown)
        reply = api.expect(self.get("/v1/explain?login=sbt-pat-7"), 200, "explain a login the pattern serves → 200")
        explained = reply.json()
        if not self.catch_all_existed:
            api.check(explained.get("route") == pattern_login and explained.get("served_by") == "pattern"
                      and explained.get("upstream_user") == "user-7", "explain: the pattern route serves sbt-pat-7 as user-7", reply)
        api.expect(api.call("POST", "/v1/routes", token=self.token, body={"match": pattern, "upstream": self.args.upstream}), 409,
                   "the same pattern again → 409 route-exists", "route-exists")
        api.expect(api.call("DELETE", pattern_path, token=self.token), 204, f"DELETE {pattern_path} → 204")
        self.writes["route.delete", pattern_login] += 1

        # Delete.
        api.expect(api.call("DELETE", path, token=self.token), 204, f"DELETE {path} → 204")
        self.writes["route.delete", login] += 1
        api.expect(self.get(path), 404, f"GET {path} after DELETE → 404 route-not-found", "route-not-found")
        api.expect(api.call("DELETE", path, token=self.token), 404, f"DELETE {path} again → 404 route-not-found", "route-not-found")
        reply = api.expect(self.get("/v1/routes"), 200, "GET /v1/routes → 200")
        api.check(all(route.get("login") != login for route in reply.json()["routes"]), "GET /v1/routes no longer lists it", reply)

    def explain(self):
        api = self.api
        login = self.args.login
        reply = api.expect(self.get(f"/v1/explain?login={enc(login)}"), 200, f"GET /v1/explain?login={login} → 200")
        body = reply.json()
        api.check(body.get("login") == login and body.get("verdict") == "allowed" and body.get("route") == login
                  and body.get("served_by") == "own" and isinstance(body.get("checks"), list) and ISO_DATE.match(body.get("at", "")),
                  f"explain {login}: its own route, verdict allowed, checks, at", reply)
        self.no_nulls(body, "the explanation", reply)
        at = enc("2026-12-01T21:00:00+01:00")
        reply = api.expect(self.get(f"/v1/explain?login={enc(login)}&from=127.0.0.1&at={at}"), 200,
                           "explain with from=127.0.0.1 and at=2026-12-01T21:00:00+01:00 → 200")
        api.check(reply.json().get("from") == "127.0.0.1" and "verdict" in reply.json(), "explain echoes from, has a verdict", reply)
        if not self.catch_all_existed:
            reply = api.expect(self.get("/v1/explain?login=sbt-nobody-here"), 200, "explain a login no route serves → 200")
            api.check(reply.json().get("verdict") == "no-route" and "route" not in reply.json(),
                      "no route: verdict no-route, no route field", reply)
        api.expect(self.get(f"/v1/explain?login={enc(login)}&from=not-an-ip"), 400, "explain from=not-an-ip → 400 invalid-policy",
                   "invalid-policy")
        api.expect(self.get(f"/v1/explain?login={enc(login)}&from=10.0.0.0%2F8"), 400, "explain from=10.0.0.0/8 (a range) → 400",
                   "invalid-policy")
        api.expect(self.get(f"/v1/explain?login={enc(login)}&at=someday"), 400, "explain at=someday → 400", "invalid-policy")
        api.expect(self.get("/v1/explain"), 400, "explain without login → 400 bad-request", "bad-request")

    def find_live_session(self, known, deadline):
        login = enc(self.args.login)
        while time.monotonic() < deadline:
            reply = self.get(f"/v1/sessions?active=true&user={login}")
            if reply.status != 200:
                raise Failure("GET /v1/sessions?active=true → 200", reply)
            for session in reply.json()["sessions"]:
                if session["id"] not in known and session.get("live") is True:
                    return session, reply
            time.sleep(0.3)
        raise Failure(f"a live session of {self.args.login} appears within 30 s", detail="screen:\n" + self.tmux.screen())

    def sessions(self):
        api = self.api
        login = self.args.login
        reply = api.expect(self.get(f"/v1/sessions?active=true&user={enc(login)}"), 200, "GET /v1/sessions?active=true&user=… → 200")
        known = {session["id"] for session in reply.json()["sessions"]}

        self.tmux.start(self.args.ssh)
        session, reply = self.find_live_session(known, time.monotonic() + 30)
        sid = session["id"]
        api.check(session.get("login") == login and "ended_at" not in session and ISO_DATE.match(session.get("started_at", "")),
                  f"session {sid} is listed: live, running (no ended_at), started_at ISO 8601", reply)
        self.no_nulls(session, "a running session", reply)
        reply = api.expect(self.get(f"/v1/sessions/{sid}"), 200, f"GET /v1/sessions/{sid} → 200")
        shown = reply.json()
        api.check(shown.get("id") == sid and shown.get("live") is True and isinstance(shown.get("has_recording"), bool)
                  and isinstance(shown.get("bytes_to_client"), int) and isinstance(shown.get("client_port"), int),
                  "the session: live, has_recording, byte counts", reply)

        reply = api.call("DELETE", f"/v1/sessions/{sid}", token=self.ro)
        api.expect(reply, 403, f"read-only token: DELETE /v1/sessions/{sid} → 403 read-only-token", "read-only-token")
        reply = self.get(f"/v1/sessions/{sid}")
        api.check(reply.status == 200 and reply.json().get("live") is True and "ended_at" not in reply.json(),
                  "the session still runs after the read-only DELETE", reply)

        # Watch it.
        stream_path = f"/v1/sessions/{sid}/stream"
        connection, response, _ = self.api.open("GET", stream_path, token=self.token, timeout=30)
        try:
            headers = {name.lower(): value for name, value in response.getheaders()}
            head = Reply("GET", stream_path, None, response.status, headers, b"")
            if response.status != 200:
                head.body = response.read()
            api.check(response.status == 200 and headers.get("content-type", "").startswith("text/event-stream"),
                      f"GET {stream_path} → 200 text/event-stream", head)
            events = SSE(response)
            first = events.next(time.monotonic() + 15)
            header = json.loads(first[1]) if first and first[0] == "message" else None
            api.check(isinstance(header, dict) and header.get("version") == 2 and isinstance(header.get("width"), int)
                      and isinstance(header.get("height"), int), f"the first event is the asciicast header: {first}", head)

            self.tmux.type("echo streamed-$((6*7))")
            seen, deadline = "", time.monotonic() + 20
            while "streamed-42" not in seen:
                event = events.next(deadline)
                if event is None:
                    raise Failure("the stream delivers streamed-42 before it ends", head, detail=seen[-2000:])
                if event[0] == "message":
                    item = json.loads(event[1])
                    if isinstance(item, list) and len(item) == 3 and item[1] == "o":
                        seen += item[2]
            api.ok("the stream shows what was typed: streamed-42")

            reply = api.call("DELETE", f"/v1/sessions/{sid}", token=self.token, timeout=30)
            api.expect(reply, 200, f"DELETE /v1/sessions/{sid} → 200")
            self.writes["session.end", str(sid)] += 1
            ended = reply.json()
            api.check(ended.get("id") == sid and ISO_DATE.match(ended.get("ended_at", "")) and ended.get("live") is False,
                      "the answer is the ended session: ended_at set, live false", reply)

            deadline = time.monotonic() + 15
            while True:
                event = events.next(deadline)
                if event is None:
                    raise Failure("the stream sends `event: end` before it closes", head)
                if event[0] == "end":
                    break
            api.check(json.loads(event[1]).get("reason") == "session-ended", f"the stream ends with event: end, {event[1]}", head)
        finally:
            connection.close()

        deadline = time.monotonic() + 15
        while "[ssh exited" not in self.tmux.screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        api.check("[ssh exited" in self.tmux.screen(), "the ssh client exits", detail=self.tmux.screen())

        api.expect(api.call("DELETE", f"/v1/sessions/{sid}", token=self.token), 409, "DELETE it again → 409 session-not-running",
                   "session-not-running")
        api.expect(self.get(stream_path), 409, "stream of an ended session → 409 session-not-running", "session-not-running")
        reply = api.expect(self.get(f"/v1/sessions/{sid}"), 200, f"GET /v1/sessions/{sid} after the end → 200")
        api.check(reply.json().get("live") is False and "ended_at" in reply.json() and isinstance(reply.json().get("end_reason"), str)
                  and reply.json().get("has_recording") is True and isinstance(reply.json().get("recording_path"), str),
                  "the ended session: not live, ended_at, end_reason, has_recording and recording_path", reply)

        reply = self.get(f"/v1/sessions/{sid}/recording")
        api.expect(reply, 200, f"GET /v1/sessions/{sid}/recording → 200")
        api.check((reply.header("content-type") or "").startswith("application/x-asciicast"), "the recording is application/x-asciicast",
                  reply)
        lines = reply.body.decode("utf-8", "replace").splitlines()
        try:
            cast = json.loads(lines[0]) if lines else None
        except ValueError:
            cast = None
        api.check(isinstance(cast, dict) and cast.get("version") == 2, "the recording's first line is an asciicast v2 header", reply)
        api.check(b"streamed-42" in reply.body, "the recording holds streamed-42", reply)

        for path in [f"/v1/sessions/{NO_SUCH_SESSION}", f"/v1/sessions/{NO_SUCH_SESSION}/recording",
                     f"/v1/sessions/{NO_SUCH_SESSION}/stream", "/v1/sessions/abc", "/v1/sessions/0"]:
            api.expect(self.get(path), 404, f"GET {path} → 404 session-not-found", "session-not-found")
        api.expect(api.call("DELETE", f"/v1/sessions/{NO_SUCH_SESSION}", token=self.token), 404,
                   "DELETE a session that does not exist → 404 session-not-found", "session-not-found")

        reply = api.expect(self.get("/v1/sessions?since=1h"), 200, "GET /v1/sessions?since=1h → 200")
        listed = reply.json()["sessions"]
        api.check(any(item["id"] == sid for item in listed), "since=1h lists the session", reply)
        api.check([item["id"] for item in listed] == sorted((item["id"] for item in listed), reverse=True), "sessions are newest first",
                  reply)
        reply = api.expect(self.get("/v1/sessions?limit=1"), 200, "GET /v1/sessions?limit=1 → 200")
        api.check(len(reply.json()["sessions"]) == 1, "limit=1 gives one session", reply)
        reply = api.expect(self.get(f"/v1/sessions?user={enc(login)}"), 200, "GET /v1/sessions?user=… → 200")
        api.check(all(item["login"] == login for item in reply.json()["sessions"]) and any(item["id"] == sid for item in reply.json()["sessions"]),
                  f"user={login} lists only its sessions, this one among them", reply)
        reply = api.expect(self.get(f"/v1/sessions?active=true&user={enc(login)}"), 200, "GET /v1/sessions?active=true → 200")
        api.check(all(item["id"] != sid and "ended_at" not in item for item in reply.json()["sessions"]),
                  "active=true lists only running sessions", reply)
        for query, label in [("active=maybe", "active=maybe"), ("since=soon", "since=soon"), ("limit=0", "limit=0"),
                             ("limit=1001", "limit=1001"), ("limit=ten", "limit=ten")]:
            api.expect(self.get(f"/v1/sessions?{query}"), 400, f"GET /v1/sessions?{label} → 400 bad-request", "bad-request")

    def changes(self, high):
        api = self.api
        reply = api.expect(self.get("/v1/changes?limit=1000"), 200, "GET /v1/changes?limit=1000 → 200")
        changes = reply.json()["changes"]
        api.check(len(changes) <= 1000 and [c["id"] for c in changes] == sorted((c["id"] for c in changes), reverse=True),
                  "changes are newest first", reply)
        mine = [change for change in changes if change["id"] > high]
        self.no_nulls(mine, "the changes", reply)
        api.check(all(set(change) >= {"id", "at", "token", "action", "target", "detail"} and ISO_DATE.match(change["at"])
                      and isinstance(change["detail"], str) for change in mine), "each change has id, at, token, action, target, detail",
                  reply)
        api.check(all(change["token"] == self.args.token_name for change in mine),
                  f"every change of this run names the token {self.args.token_name!r}", reply)
        api.check(all(change["token"] != self.ro_name for change in changes), "no change is recorded for the read-only token", reply)
        actions = {change["action"] for change in mine}
        required = {"route.create", "route.update", "route.delete", "key.add", "key.delete", "route.keygen", "route.trust", "session.end"}
        api.check(actions >= required, f"the changes include {', '.join(sorted(required))}", reply)
        recorded = collections.Counter((change["action"], change["target"]) for change in mine)
        api.check(recorded == self.writes, "exactly the writes that succeeded are recorded, none of the refused ones", reply,
                  detail=f"recorded {dict(recorded)}\nexpected {dict(self.writes)}")
        api.check(all(change["target"] != self.refused_login for change in changes), "no change names a refused route", reply)
        creation = next(change for change in mine if change["action"] == "route.create" and change["target"] == self.login)
        detail = json.loads(creation["detail"])
        api.check(detail.get("login") == self.login and detail.get("upstream") == self.args.upstream,
                  "route.create's detail holds the request's fields", reply)
        api.expect(self.get("/v1/changes?limit=0"), 400, "GET /v1/changes?limit=0 → 400 bad-request", "bad-request")
        reply = api.expect(self.get("/v1/changes?limit=2", token=self.ro), 200, "the read-only token reads /v1/changes?limit=2")
        api.check(len(reply.json()["changes"]) == 2, "limit=2 gives two changes", reply)

    def description(self):
        api = self.api
        reply = api.call("GET", "/v1/openapi.json")
        api.expect(reply, 200, "GET /v1/openapi.json without a token → 200")
        api.check((reply.header("content-type") or "").startswith("application/json"), "the description is application/json", reply)
        document = reply.json()
        api.check(str(document.get("openapi", "")).startswith("3.1"), "the description is OpenAPI 3.1", reply)
        described = set()
        for template, item in document.get("paths", {}).items():
            for method in item:
                if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                    described.add((method.upper(), template))
        api.check(described == ENDPOINTS, "the description lists exactly the endpoints the server answers", reply,
                  detail=f"only described: {sorted(described - ENDPOINTS)}\nnot described: {sorted(ENDPOINTS - described)}")
        api.check(document["paths"]["/v1/openapi.json"]["get"].get("security") == [], "the description itself needs no token", reply)
        api.check("bearer" in document.get("components", {}).get("securitySchemes", {}) and document.get("security") == [{"bearer": []}],
                  "bearer is the global security scheme", reply)

        values = {"login": enc(self.args.login), "id": str(NO_SUCH_SESSION), "fingerprint": enc("SHA256:" + "A" * 43)}
        templates = sorted({template for _, template in ENDPOINTS})
        for template in templates:
            path = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)
            token = None if template == "/v1/openapi.json" else self.ro
            for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
                reply = api.call(method, path, token=token)
                code = None
                if reply.status >= 400:
                    try:
                        code = reply.json().get("error", {}).get("code")
                    except Failure:
                        code = None
                if (method, template) in ENDPOINTS:
                    served = reply.status != 405 and not (reply.status == 404 and code == "not-found")
                    api.check(served, f"{method} {template} is served ({reply.status} {code or ''})".replace(" )", ")"), reply)
                else:
                    api.expect(reply, 405, f"{method} {template} → 405 (not described, not served)", "method-not-allowed")

    def console(self):
        api = self.api
        reply = api.call("GET", "/")
        api.check(reply.status == 302 and (reply.header("location") or "").endswith("/console/"), "GET / → 302 to /console/", reply)
        reply = api.call("GET", "/console/")
        api.check(reply.status == 200 and (reply.header("content-type") or "").startswith("text/html"), "GET /console/ → 200 HTML", reply)
        policy = reply.header("content-security-policy") or ""
        api.check("script-src 'self'" in policy and "frame-ancestors 'none'" in policy,
                  "/console/ has a Content-Security-Policy (script-src 'self', frame-ancestors 'none')", reply)
        reply = api.call("GET", "/console/xterm/xterm.js")
        api.check(reply.status == 200 and len(reply.body) > 1000, "GET /console/xterm/xterm.js → 200", reply)
        api.expect(api.call("POST", "/console/"), 405, "POST /console/ → 405", "method-not-allowed")
        api.expect(api.call("GET", "/console/nope.js"), 404, "GET /console/nope.js → 404 not-found", "not-found")

    def run(self):
        self.refusals()
        self.whoami()
        high = self.changes_high_water()
        self.read_only_writes()
        self.routes()
        self.explain()
        self.sessions()
        self.changes(high)
        self.description()
        self.console()


def main():
    parser = argparse.ArgumentParser(description="Tests every endpoint of the admin API over HTTP.")
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT or https://…")
    parser.add_argument("--cacert", help="CA certificate file for https")
    parser.add_argument("--token", required=True, help="a read-write token")
    parser.add_argument("--token-name", required=True, help="that token's name")
    parser.add_argument("--read-only-token", required=True)
    parser.add_argument("--revoked-token", required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of a real sshd for new routes")
    parser.add_argument("--ssh", required=True, help="a shell command that logs in through the proxy with no prompt")
    parser.add_argument("--login", required=True, help="an existing route whose terminal sessions are recorded")
    parser.add_argument("--authorized-key", required=True, help="an ed25519 public key file")
    args = parser.parse_args()

    test = APITest(args)
    try:
        test.run()
    except Failure as failure:
        print(f"not ok - {failure.what}", flush=True)
        if failure.reply is not None:
            print(failure.reply.report())
        if failure.detail:
            print(f"  detail: {failure.detail}")
        return 1
    except (OSError, http.client.HTTPException, TimeoutError, ValueError, KeyError, TypeError) as error:
        print(f"not ok - the test stopped: {type(error).__name__}: {error}", flush=True)
        return 1
    finally:
        test.tmux.cleanup()
    print(f"# all {test.api.checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
