#!/usr/bin/env python3
"""The scale benchmark's load generator: one asyncssh client process holding many sessions.

    python3 bench/loadgen.py --proxy-port P --direct-port D --user NAME --key FILE

It takes one JSON command per line on standard input and answers each with one JSON line on
standard output, in order; meanwhile the sessions it holds stay open. `target` is "proxy" (the
Switchboard port) or "direct" (the upstream's own port).

    {"cmd": "grow", "to": N, "concurrency": C, "per_second": R}
        opens idle terminal sessions through the proxy until N are held, at most C logins in
        flight and R started per second: {"held", "opened", "failed", "errors", "seconds"}
    {"cmd": "probe", "count": K}
        K new logins, one after another, each timed from connect until the shell's prompt
        arrives, then closed; it gives up after 5 failures in a row, each of which waits up to
        10 s: {"seconds": [...], "failed", "errors", "not_tried"}
    {"cmd": "ping", "timeout": S}
        every held session types a character and waits for its echo: {"answered", "silent"}
    {"cmd": "rate", "target": T, "seconds": S, "workers": W}
        W workers each log in, run `true`, check its exit status 0 and close, again and again
        for S seconds: {"ok", "failed", "errors", "seconds": [...]}
    {"cmd": "status"}  {"held", "died", "errors"}
    {"cmd": "release"}  closes every held session: {"released"}

An idle terminal session is what `ssh -tt host` holds: a connection, a PTY and a shell on one
channel, established once the upstream's prompt has come back through it. A held session that
closes without being released counts as died, with its reason. Every failure is counted, and
its error text is tallied.
"""
import argparse
import asyncio
import collections
import gc
import json
import sys
import time

import asyncssh

from fake_upstream import CIPHERS, HOST_KEY_ALGS, KEX, PROMPT

LOGIN_TIMEOUT = 60  # seconds for one login, from connect to prompt or exit status
PROBE_TIMEOUT = 10  # seconds for one timed new login (the target is 1 s)
PROBE_GIVE_UP = 5  # timed logins failing in a row that end the probe


class Terminal(asyncssh.SSHClientSession):
    """The client end of one idle terminal session."""

    def __init__(self, on_lost):
        self.channel = None
        self.prompted = asyncio.get_running_loop().create_future()
        self.echo = None  # a future while a ping waits for its echo
        self.released = False
        self.on_lost = on_lost

    def connection_made(self, channel):
        self.channel = channel

    def data_received(self, data, datatype):
        if not self.prompted.done():
            if PROMPT in data:
                self.prompted.set_result(None)
        elif self.echo and not self.echo.done():
            self.echo.set_result(None)

    def connection_lost(self, exc):
        if not self.prompted.done():
            self.prompted.set_exception(exc or ConnectionError("session closed before the prompt"))
        elif not self.released:
            self.on_lost(exc)


def describe(error):
    return f"{type(error).__name__}: {error}"[:200]


class LoadGenerator:
    def __init__(self, ports, user, key):
        self.ports = ports
        self.options = asyncssh.SSHClientConnectionOptions(
            username=user, client_keys=[asyncssh.read_private_key(key)], known_hosts=None, agent_path=None,
            config=None, kex_algs=KEX, encryption_algs=CIPHERS, server_host_key_algs=HOST_KEY_ALGS, compression_algs=None,
            preferred_auth="publickey", password_auth=False, kbdint_auth=False, host_based_auth=False,
            gss_auth=False, gss_kex=False, keepalive_interval=0, connect_timeout=LOGIN_TIMEOUT)
        self.held = []  # (connection, Terminal)
        self.died = 0
        self.died_errors = collections.Counter()

    def lost(self, exc):
        self.died += 1
        self.died_errors[describe(exc) if exc else "closed by the other end"] += 1

    async def open_terminal(self, timeout=LOGIN_TIMEOUT):
        """Logs in through the proxy and opens a PTY shell; returns (connection, terminal) once
        the prompt came."""
        connection = None
        try:
            async with asyncio.timeout(timeout):
                connection = await asyncssh.connect("127.0.0.1", self.ports["proxy"], options=self.options)
                _, terminal = await connection.create_session(lambda: Terminal(self.lost), term_type="xterm",
                                                              term_size=(80, 24))
                await terminal.prompted
                return connection, terminal
        except BaseException:
            if connection:
                connection.abort()
            raise

    async def grow(self, to, concurrency, per_second):
        start, opened, errors = time.perf_counter(), 0, collections.Counter()
        gate = asyncio.Semaphore(concurrency)

        async def one():
            nonlocal opened
            try:
                self.held.append(await self.open_terminal())
                opened += 1
            except Exception as error:
                errors[describe(error)] += 1
            finally:
                gate.release()

        tasks = []
        for index in range(max(0, to - len(self.held))):
            await gate.acquire()
            # Paced: the index-th login starts no earlier than index / per_second.
            delay = start + index / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        gc.collect()
        return {"held": len(self.held), "opened": opened, "failed": sum(errors.values()), "errors": errors,
                "seconds": time.perf_counter() - start}

    async def probe(self, count, timeout=PROBE_TIMEOUT):
        times, errors, failed_in_a_row = [], collections.Counter(), 0
        for _ in range(count):
            if failed_in_a_row == PROBE_GIVE_UP:
                break  # the proxy takes no logins now; more probes would only wait out the timeout
            start = time.perf_counter()
            try:
                connection, terminal = await self.open_terminal(timeout)
            except Exception as error:
                errors[describe(error)] += 1
                failed_in_a_row += 1
                continue
            failed_in_a_row = 0
            times.append(time.perf_counter() - start)
            terminal.released = True
            connection.close()
            await connection.wait_closed()
        return {"seconds": times, "failed": sum(errors.values()), "errors": errors,
                "not_tried": count - len(times) - sum(errors.values())}

    async def ping(self, timeout):
        waiting = []
        for connection, terminal in self.held:
            terminal.echo = asyncio.get_running_loop().create_future()
            try:
                terminal.channel.write(".")
                waiting.append(terminal.echo)
            except Exception:
                terminal.echo.cancel()
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        answered = sum(1 for f in waiting if f.done() and not f.cancelled() and f.exception() is None)
        for f in waiting:
            f.cancel()
        return {"answered": answered, "silent": len(self.held) - answered}

    async def rate(self, target, seconds, workers):
        times, errors = [], collections.Counter()
        stop = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < stop:
                start = time.perf_counter()
                connection = None
                try:
                    async with asyncio.timeout(LOGIN_TIMEOUT):
                        connection = await asyncssh.connect("127.0.0.1", self.ports[target], options=self.options)
                        channel, _ = await connection.create_session(asyncssh.SSHClientSession, "true")
                        await channel.wait_closed()
                        status = channel.get_exit_status()
                        connection.close()
                        await connection.wait_closed()
                    if status != 0:
                        raise RuntimeError(f"exit status {status}")
                    times.append(time.perf_counter() - start)
                except Exception as error:
                    errors[describe(error)] += 1
                    if connection:
                        connection.abort()

        await asyncio.gather(*(worker() for _ in range(workers)))
        return {"ok": len(times), "failed": sum(errors.values()), "errors": errors, "seconds": times}

    async def release(self):
        for connection, terminal in self.held:
            terminal.released = True
            connection.close()
        await asyncio.gather(*(connection.wait_closed() for connection, _ in self.held), return_exceptions=True)
        released, self.held = len(self.held), []
        return {"released": released}

    def status(self):
        return {"held": len(self.held), "died": self.died, "errors": self.died_errors}

    async def handle(self, command):
        kind = command.pop("cmd")
        if kind == "status":
            return self.status()
        handler = {"grow": self.grow, "probe": self.probe, "ping": self.ping, "rate": self.rate,
                   "release": self.release}[kind]
        return await handler(**command)


async def serve(generator):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        answer = await generator.handle(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    await generator.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy-port", type=int, required=True)
    parser.add_argument("--direct-port", type=int, required=True)
    parser.add_argument("--user", required=True, help="login name at the proxy (and at the upstream, direct)")
    parser.add_argument("--key", required=True, help="private key to log in with")
    args = parser.parse_args()
    asyncssh.set_log_level("WARNING")
    gc.set_threshold(100_000, 50, 1000)  # see fake_upstream.py
    generator = LoadGenerator({"proxy": args.proxy_port, "direct": args.direct_port}, args.user, args.key)
    asyncio.run(serve(generator))


if __name__ == "__main__":
    sys.exit(main())
