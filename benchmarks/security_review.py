"""Security review speed: the bundle secrets scan and the header review.

    .venv/bin/python -m benchmarks.security_review

1. Scans build folders of 12.5, 25 and 50 MB (minified single-line files and
   ordinary multi-line code, with published example keys planted at random
   places), reports MB/s and whether every planted key was found, and runs
   detect-secrets (when installed: ``.venv/bin/pip install detect-secrets``)
   on a 2 MB sample of the same files for comparison.
2. Reviews 200 URLs of a local server (its own process: an event-loop server,
   then Python's thread-per-connection one) whose responses are immediate
   (the review's fixed cost) or take up to 0.5, 1 and 2 s, three times each,
   and compares the wall time with the slowest response.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.security import secrets  # noqa: E402
from opskit.security.review import review_urls  # noqa: E402

KEYS = ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "AKIAJKLMNOPQRSTEXAMP"]
CODE = 'function n(e){return e&&e.__esModule?e:{default:e}}var r=n(require("react"));'


def make_build(
    folder: Path, megabytes: float, long_lines: bool, rng: random.Random
) -> int:
    """Write bundle files totalling ``megabytes``; return how many keys were planted."""
    folder.mkdir(parents=True)
    planted, size, index = 0, 0, 0
    while size < megabytes * 1e6:
        parts = []
        for _ in range(2000):
            parts.append(CODE)
            if rng.random() < 0.01:
                parts.append(f'const k{planted}="{rng.choice(KEYS)}";')
                planted += 1
        text = ("" if long_lines else "\n").join(parts)
        (folder / f"chunk{index}.js").write_text(text)
        size += len(text)
        index += 1
    return planted


def scan_speed(
    megabytes: float, long_lines: bool, work: Path
) -> tuple[float, int, int]:
    folder = work / f"build-{megabytes}-{long_lines}"
    planted = make_build(folder, megabytes, long_lines, random.Random(7))
    size = sum(p.stat().st_size for p in folder.iterdir())
    started = time.monotonic()
    found = [f for f in secrets.scan(folder) if f.id == "aws-access-key-id"]
    seconds = time.monotonic() - started
    return size / 1e6 / seconds, planted, len(found)


def detect_secrets_speed(work: Path) -> str:
    tool = shutil.which("detect-secrets") or str(
        Path(sys.executable).with_name("detect-secrets")
    )
    if not Path(tool).exists():
        return "not installed"
    folder = work / "sample"
    planted = make_build(folder, 2, long_lines=False, rng=random.Random(7))
    size = sum(p.stat().st_size for p in folder.iterdir())
    started = time.monotonic()
    done = subprocess.run(
        [tool, "scan", "--all-files", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    found = done.stdout.count('"type": "AWS Access Key"')
    return f"{size / 1e6 / seconds:.2f} MB/s, {found} of {planted} planted keys"


SERVERS = {
    # One event loop: the server's own work stays small beside the review's.
    "event-loop": r"""
import asyncio, random, sys
slowest = float(sys.argv[1])
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok"

async def handle(reader, writer):
    try:
        while line := await reader.readline():
            path = line.split()[1].decode()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            await asyncio.sleep(random.Random(path).uniform(0, slowest))
            writer.write(REPLY)
            await writer.drain()
    except (ConnectionError, IndexError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
""",
    # Python's thread-per-connection server: its own work on the same two
    # cores delays the start of the last responses.
    "threaded": r"""
import random, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
slowest = float(sys.argv[1])

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(random.Random(self.path).uniform(0, slowest))
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2"
        self.wfile.write(head.encode() + b"\r\n\r\nok")

    def log_message(self, *args):
        pass

ThreadingHTTPServer.request_queue_size = 1024
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
""",
}


def header_review(
    count: int = 200, slowest: float = 0.5, server_kind: str = "event-loop"
) -> tuple[float, float]:
    """Review ``count`` URLs of a server in its own process whose responses
    take up to ``slowest`` seconds; return the review's wall time and the
    time one request alone takes to the slowest of those URLs."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVERS[server_kind], str(slowest)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the benchmark's HTTP server did not start")
        base = f"http://127.0.0.1:{port}"
        urls = [f"{base}/p{n}" for n in range(count)]
        started = time.monotonic()
        review_urls(urls, timeout=30)
        wall = time.monotonic() - started
        single = slowest_single_response(urls, slowest)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return wall, single


def slowest_single_response(urls: list[str], slowest: float) -> float:
    """Time a lone GET to the URL the server answers last."""
    last = max(
        urls, key=lambda url: random.Random(urlsplit(url).path).uniform(0, slowest)
    )
    started = time.monotonic()
    requests.get(last, timeout=30).raise_for_status()
    return time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="opskit-bench-") as tmp:
        work = Path(tmp)
        for megabytes in (12.5, 25, 50):
            speed, planted, found = scan_speed(megabytes, long_lines=False, work=work)
            print(f"scan {megabytes:>5} MB, many lines: {speed:6.1f} MB/s, ", end="")
            print(f"{found} of {planted} keys")
        speed, planted, found = scan_speed(50, long_lines=True, work=work)
        print(f"scan    50 MB, one line/file: {speed:6.1f} MB/s, ", end="")
        print(f"{found} of {planted} keys")
        print(f"detect-secrets on 2 MB: {detect_secrets_speed(work)}")
    for kind in SERVERS:
        for slowest in (0.0, 0.5, 1.0, 2.0):
            walls, bound = [], 0.0
            for _ in range(3):
                wall, bound = header_review(200, slowest, kind)
                walls.append(wall)
            print(f"header review of 200 URLs, {kind} server, ", end="")
            runs = ", ".join(f"{w:.2f}" for w in walls)
            if not slowest:
                print(f"immediate responses: {runs} s")
                continue
            low, high = min(walls) / bound, max(walls) / bound
            print(f"responses up to {slowest:.1f} s: {runs} s; slowest alone ", end="")
            print(f"{bound:.2f} s; ratio {low:.2f}-{high:.2f}")


if __name__ == "__main__":
    main()
