"""A real HTTP server on loopback whose responses each test sets, plus raw
socket servers that misbehave (garbage, silence, endless headers)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    """What the server answers on one path."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = "<html><body>shop</body></html>"
    cors_reflect: bool = False
    cors_credentials: bool = False


@dataclass
class Site:
    """The running test server: its base URL and the routes it serves."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    drip: float = 0.0  # when set, the body is sent a byte at a time this far apart

    def url(self, path: str) -> str:
        return self.base + path


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shop"  # no version, unless a route sends one
        sys_version = ""

        def do_GET(self) -> None:
            route = site.routes.get(self.path, Route(status=404))
            body = route.body.encode()
            self.send_response(route.status)
            for name, value in route.headers:
                self.send_header(name, value)
            origin = self.headers.get("Origin")
            if route.cors_reflect and origin:
                self.send_header("Access-Control-Allow-Origin", origin)
            if route.cors_credentials:
                self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not site.drip:
                self.wfile.write(body)
                return
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(site.drip)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    """An HTTP server in a thread on 127.0.0.1, stopped after the test."""
    holder = Site(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    holder.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def raw_server() -> Iterator[object]:
    """Start a socket server that answers every connection with ``reply``
    (bytes, or None to stay silent); returns its URL."""
    servers: list[tuple[socket.socket, threading.Event, threading.Thread]] = []

    def start(reply: bytes | None) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            held = []
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                held.append(conn)
                if reply is not None:
                    conn.recv(65536)
                    conn.sendall(reply)
                    conn.close()
            for conn in held:
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((listener, stop, thread))
        return f"http://127.0.0.1:{listener.getsockname()[1]}/"

    yield start
    for listener, stop, thread in servers:
        stop.set()
        thread.join(timeout=5)
        listener.close()
