"""gunicorn with the real app on a free loopback port, for as long as a benchmark needs it.

The app runs with FPIC_ENV=development and a fixed FPIC_SECRET_KEY: production mode marks the
session cookie Secure, which a client over plain http on loopback must not send back; nothing
else differs between the two modes (web/__init__.py, web/security.py). The key is shared by
both workers, so a session works whichever worker answers, as with ``fpic serve``.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import ROOT

WORKERS = 2
THREADS = 4  #: as ``fpic serve`` runs it (gthread workers, keep-alive)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(database_url: str) -> Iterator[int]:
    """Serve ``bench.wsgi:app`` on 127.0.0.1 and yield the port; the server stops after."""
    port = free_port()
    env = {
        **os.environ,
        "FPIC_DATABASE_URL": database_url,
        "FPIC_SECRET_KEY": secrets.token_hex(32),
        "FPIC_ENV": "development",
    }
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--threads", str(THREADS),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "bench.wsgi:app",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        _wait_until_up(port, server)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(port: int, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/bench/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer in time")
