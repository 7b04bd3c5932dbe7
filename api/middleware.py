"""ASGI middleware: a request body size limit answered with a clear 413 problem+json, security headers."""

from __future__ import annotations

import json
from typing import Any

from api.problems import PROBLEM_JSON

#: Large enough for a district's GeoJSON (tens of thousands of vertices), far below a memory risk.
MAX_BODY_BYTES = 4 * 1024 * 1024


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes``: by Content-Length up front, or while streaming.

    The body is read (up to the limit) before the app sees it, so an app never acts on half a body.
    """

    def __init__(self, app: Any, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(scope, send, 400, "Bad request", "Content-Length is not a number")
                return
            if int(length) > self.max_bytes:
                await self._too_large(scope, send)
                return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict[str, Any], send: Any) -> None:
        await self._refuse(scope, send, 413, "Request body too large",
                           f"the request body is larger than {self.max_bytes // (1024 * 1024)} MiB; "
                           "send a smaller file or split it")

    async def _refuse(self, scope: dict[str, Any], send: Any, status: int, title: str, detail: str) -> None:
        body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail,
                           "instance": scope.get("path", "")}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Headers every response carries (no sniffing, no referrer leaks, no framing); a CSP on the console."""

    BASE = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"))

    def __init__(self, app: Any, *, console_prefix: str, console_csp: str) -> None:
        self.app, self.prefix, self.csp = app, console_prefix, console_csp.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(self.BASE)
        if scope.get("path", "").startswith(self.prefix):
            extra.append((b"content-security-policy", self.csp))

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
