"""`dockpatrol serve` as a user runs it: a real process on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_and_problem_json(isolated_data_dir: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(isolated_data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)  # polling a starting server; the loop ends on the first answer
        assert body is not None, proc.stdout.read().decode() if proc.poll() is not None else "no answer in 60 s"
        assert body["status"] == "ok" and body["database"] == "sqlite"
        r = httpx.get(f"http://127.0.0.1:{port}/api/docks/../../etc/passwd", timeout=5)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_a_broken_database_url_in_one_line(isolated_data_dir: Path) -> None:
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(isolated_data_dir), "DOCKPATROL_DATABASE_URL": "oracle://x"}
    out = subprocess.run([sys.executable, "-m", "api.cli", "serve"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ")
