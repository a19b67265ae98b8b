#!/usr/bin/env bash
# Fuzzes Switchboard's admin API against its own description with schemathesis 4.x (`st`).
#
#   Tests/AdminAPI/schemathesis.sh URL TOKEN READONLY_TOKEN
#   e.g. Tests/AdminAPI/schemathesis.sh http://127.0.0.1:8022 sbt_… sbt_…
#
# URL is the admin listener (http://HOST:PORT or https://…; for a private CA set CACERT=FILE).
# The description is fetched from URL/v1/openapi.json, as clients get it.
#
# What it checks, for every request schemathesis generates (valid and invalid data, from the
# examples, coverage and fuzzing phases, at most $MAX_EXAMPLES cases per operation):
#   - not_a_server_error:           no 5xx answer;
#   - status_code_conformance:      every status is one the description lists for the operation;
#   - content_type_conformance:     every Content-Type is one the description lists for it;
#   - response_schema_conformance:  every body matches the schema the description gives it.
#
# Two runs, so that it never removes or ends anything other tests need:
#   1. the read-only token on every operation but the live stream (a stream of a running
#      session lasts as long as the session): reads are fuzzed for real, and every write must
#      be refused with the documented 403 `read-only-token` before it looks at its input;
#   2. the read-write token on the routes endpoints (/v1/routes…) except DELETE, so that
#      request bodies and path parameters go through the real validation. Listing the routes
#      is left out of this run: schemathesis reuses values it reads in answers, and it must not
#      learn the logins of existing routes and change them. Routes this run creates are
#      deleted afterwards; an existing route that was changed anyway is reported. `trust` is
#      left out too: it connects to the route's upstream, so the proxy would dial whatever host
#      the fuzzer wrote, and an upstream it cannot reach is rightly a 502 (upstream-unreachable).
#
# Exits non-zero when a run finds a failure (or cannot run). Environment: ST (the schemathesis
# command, default `st`), MAX_EXAMPLES (default 25), ST_SEED (a seed to replay a run), CACERT.
set -uo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 URL TOKEN READONLY_TOKEN" >&2
    exit 2
fi
url=${1%/}
token=$2
readonly_token=$3
st=${ST:-st}
max_examples=${MAX_EXAMPLES:-25}

if ! command -v "$st" >/dev/null; then
    echo "schemathesis ($st) is not installed: pip install schemathesis" >&2
    exit 2
fi

common=(
    --url "$url"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
    --phases examples,coverage,fuzzing
    --max-examples "$max_examples"
    --request-timeout 20
    --generation-allow-x00 false
    --generation-database none
    --workers 1
    --no-color
)
if [ -n "${ST_SEED:-}" ]; then common+=(--seed "$ST_SEED"); fi
if [ -n "${CACERT:-}" ]; then common+=(--tls-verify "$CACERT"); fi

# The routes as the read-write token sees them (one JSON document), or the call's failure.
routes_json() {
    python3 - "$url" "$token" "${CACERT:-}" <<'EOF'
import json, ssl, sys, urllib.request
url, token, cacert = sys.argv[1:4]
context = ssl.create_default_context(cafile=cacert) if cacert else None
request = urllib.request.Request(url + "/v1/routes", headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(request, timeout=30, context=context) as response:
    print(json.dumps(json.load(response)["routes"], sort_keys=True))
EOF
}

# Deletes the routes in $2 whose login is not in $1 and reports those that changed.
restore_routes() {
    python3 - "$url" "$token" "${CACERT:-}" "$1" "$2" <<'EOF'
import json, ssl, sys, urllib.error, urllib.parse, urllib.request
url, token, cacert, before, after = sys.argv[1:6]
context = ssl.create_default_context(cafile=cacert) if cacert else None
before = {route["login"]: route for route in json.loads(before)}
after = {route["login"]: route for route in json.loads(after)}
status = 0
for login in sorted(set(after) - set(before)):
    request = urllib.request.Request(url + "/v1/routes/" + urllib.parse.quote(login, safe=""), method="DELETE",
                                     headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context):
            pass
    except urllib.error.HTTPError as error:
        print(f"could not delete the fuzzed route {login!r}: {error.code} {error.read()[:300]!r}", file=sys.stderr)
        status = 1
print(f"deleted {len(set(after) - set(before))} route(s) the fuzzing created")
for login in sorted(set(before) & set(after)):
    if before[login] != after[login]:
        print(f"warning: the fuzzing changed the existing route {login!r}", file=sys.stderr)
for login in sorted(set(before) - set(after)):
    print(f"the fuzzing removed the existing route {login!r}", file=sys.stderr)
    status = 1
sys.exit(status)
EOF
}

status=0

echo "== schemathesis, read-only token, every operation but the stream"
"$st" run "$url/v1/openapi.json" "${common[@]}" \
    --header "Authorization: Bearer $readonly_token" \
    --exclude-path-regex '/stream$' || status=1

echo "== schemathesis, read-write token, the routes endpoints (no DELETE, no listing)"
if ! before=$(routes_json); then
    echo "cannot list the routes with the read-write token" >&2
    exit 1
fi
"$st" run "$url/v1/openapi.json" "${common[@]}" \
    --header "Authorization: Bearer $token" \
    --include-path-regex '^/v1/routes' \
    --exclude-path-regex '/trust$' \
    --exclude-method DELETE \
    --exclude-operation-id listRoutes || status=1
if after=$(routes_json); then
    restore_routes "$before" "$after" || status=1
else
    echo "cannot list the routes after the fuzzing" >&2
    status=1
fi

if [ "$status" -ne 0 ]; then
    echo "schemathesis found answers that contradict the description (see above)" >&2
fi
exit "$status"
