"""Real servers for tests, started from this machine's programs on loopback and
stopped by their process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout} s")


@dataclass
class MotoServer:
    """moto's S3-protocol server in its own process on a free loopback port."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "-p", str(self.port)], stdout=out, stderr=out
            )
        wait_for(self._answers, f"moto server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as reply:
            return bool(reply.status == 200)
