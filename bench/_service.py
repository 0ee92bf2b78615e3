"""`laporbot serve` in a subprocess on a fresh data folder, for the start-up and memory benchmarks.

The service runs exactly as an operator starts it (`python -m laporbot serve`, SQLite under a
temporary `LAPORBOT_DATA_DIR`, no tokens: the web chat only); the benchmark talks to it over
loopback HTTP and reads its resident memory from `/proc/<pid>/status` (Linux).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

READY_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of process `pid` in KiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def get_json(port: int, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET `path` on 127.0.0.1:`port`; (status, decoded JSON or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, None


class ServeProcess:
    """`laporbot serve` on a free port with its own temporary data folder."""

    def __init__(self, *, log_level: str = "WARNING", env: dict[str, str] | None = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="laporbot-bench-")
        self.data_dir = Path(self._folder.name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = (self.data_dir / "serve.log").open("wb")
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("LAPORBOT_")
        }
        environment.update(env or {})
        environment["LAPORBOT_DATA_DIR"] = str(self.data_dir)
        self.started = time.perf_counter()
        command = [sys.executable, "-m", "laporbot", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--log-level", log_level],
            cwd=self.data_dir,  # no laporbot.toml of the checkout is picked up
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll /healthz until it answers 200; seconds since the process was started."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"laporbot serve exited early:\n{self.log_tail()}")
            try:
                status, _ = get_json(self.port, "/healthz", timeout=1.0)
            except OSError:
                status = 0
            if status == 200:
                return time.perf_counter() - self.started
            time.sleep(0.005)
        raise RuntimeError(f"laporbot serve not ready in {timeout} s:\n{self.log_tail()}")

    def health(self) -> dict[str, Any]:
        """The /healthz answer (work waiting in the inbox and outbox)."""
        status, body = get_json(self.port, "/healthz")
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"/healthz answered {status}")
        return body

    def rss_kib(self) -> int:
        """The service's resident memory now, KiB."""
        return rss_kib(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the service's output."""
        self._log.flush()
        text = (self.data_dir / "serve.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, wait for the clean exit, remove the data folder."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            self._log.close()
            self._folder.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
