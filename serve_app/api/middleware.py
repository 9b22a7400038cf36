"""Request ids, access logs and Prometheus metrics, as one pure-ASGI middleware."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.core.request_context import request_id_var

REQUESTS = Counter("cardvault_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "cardvault_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("cardvault.access")


class RequestContextMiddleware:
    """Tags each request with an id: the caller's ``X-Request-ID`` if well formed, else a new one.

    Behind the Ray Serve proxy, which already assigns and returns ``X-Request-ID``, pass
    ``request_id_source`` (Serve's id for the request) and ``emit_header=False``.
    """

    def __init__(
        self, app: ASGIApp, *, request_id_source: Callable[[], str | None] | None = None, emit_header: bool = True
    ) -> None:
        self.app = app
        self.request_id_source = request_id_source
        self.emit_header = emit_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.fullmatch(incoming) else ""
        if not request_id and self.request_id_source is not None:
            request_id = self.request_id_source() or ""
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.emit_header:
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "WS")
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            if template not in ("/healthz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


class RejectNulMiddleware:
    """Refuse NUL characters in the path or query string (400): databases cannot store them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            if (
                b"\x00" in raw
                or b"%00" in raw
                or b"\x00" in scope.get("query_string", b"")
                or b"%00" in scope.get("query_string", b"")
            ):
                from starlette.requests import Request

                from serve_app.api.problems import problem

                response = problem(
                    Request(scope),
                    status=400,
                    slug="bad-request",
                    title="Bad request",
                    detail="NUL characters are not allowed in URLs",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
