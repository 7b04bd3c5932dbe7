"""Run the API on a free loopback port in a background thread: browser tests, concurrency tests, benches."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, *, host: str = "127.0.0.1", start_timeout_s: float = 30.0,
            **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn until the block ends; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=free_port(host), log_level="warning", **config))
    thread = threading.Thread(target=server.run, name="dockpatrol-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the API server did not start within {start_timeout_s:.0f} s")
        time.sleep(0.02)  # bounded poll on uvicorn's started flag
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
