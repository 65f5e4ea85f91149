"""Health check rounds: many HTTP checks, some of which hang.

    .venv/bin/python -m benchmarks.health_checks

Runs rounds of 500 HTTP checks against a local server in its own process, 50
of whose endpoints never answer, with a per-check timeout of 2 s, and compares
each round's wall time with the timeout (target: at most 1.2 times). A
sequential loop over the same checks is timed on a 20-check subset with the
same share of hanging endpoints and scaled to 500.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.health import HttpCheck, run_checks  # noqa: E402

SERVER = r"""
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/hang"):
            time.sleep(600)
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2"
        self.wfile.write(head.encode() + b"\r\n\r\nok")

    def log_message(self, *args):
        pass

ThreadingHTTPServer.request_queue_size = 1024
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def make_checks(base: str, count: int, hanging: int, timeout: float) -> list[HttpCheck]:
    """``count`` checks, every ``count // hanging``-th one to a hanging URL."""
    step = count // hanging
    return [
        HttpCheck(
            f"c{n}",
            f"{base}/{'hang' if n % step == 0 else 'ok'}/{n}",
            body_contains="ok",
            timeout=timeout,
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--hanging", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the benchmark's HTTP server did not start")
        base = f"http://127.0.0.1:{port}"
        checks = make_checks(base, args.checks, args.hanging, args.timeout)
        for number in range(1, args.rounds + 1):
            started = time.monotonic()
            results = run_checks(checks)
            wall = time.monotonic() - started
            counts = results["status"].value_counts().to_dict()
            healthy = results[results["status"] == "healthy"]["latency"]
            print(
                f"round {number}: {len(checks)} checks, {args.hanging} hanging, "
                f"timeout {args.timeout:g} s: {wall:.2f} s, "
                f"{wall / args.timeout:.2f} times the timeout; {counts}; "
                f"slowest healthy answer {healthy.max():.2f} s"
            )

        subset = make_checks(base, 20, 20 * args.hanging // args.checks, args.timeout)
        started = time.monotonic()
        for check in subset:
            check.run()
        sequential = time.monotonic() - started
        estimate = sequential * args.checks / len(subset)
        print(
            f"sequential loop: {sequential:.2f} s for {len(subset)} checks "
            f"(measured), about {estimate:.0f} s for {args.checks} (scaled), "
            f"{estimate / args.timeout:.0f} times the timeout"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
