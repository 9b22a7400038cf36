"""The FastAPI ingress as a Ray Serve deployment.

The ASGI app is built on the replica, after the constructor (``__serve_build_asgi_app__``),
so settings are read and heavy resources opened where they are used, never at import. The
``ScanPipeline`` handle comes to the constructor from ``serve_app.app``.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from serve_app.api.factory import create_app
from serve_app.services.scanner import HandleScanner
from serve_app.settings import Settings


@serve.deployment(name="CardVaultIngress", graceful_shutdown_timeout_s=5, health_check_period_s=10)
@serve.ingress()
class CardVaultIngress:
    def __init__(self, settings_overrides: dict[str, Any] | None = None, scan_pipeline: Any = None) -> None:
        # environment (CARDVAULT_*) first, then explicit overrides from the app builder
        self.settings = Settings(**(settings_overrides or {}))
        self.scan_pipeline = scan_pipeline  # a ScanPipeline handle, or None: scans run in process

    def __serve_build_asgi_app__(self) -> Any:
        # the Serve proxy assigns X-Request-ID and returns it; log with the same id
        scanner = HandleScanner(self.scan_pipeline) if self.scan_pipeline is not None else None
        return create_app(self.settings, request_id_source=_serve_request_id, emit_request_id=False, scanner=scanner)


def _serve_request_id() -> str | None:
    from ray.serve.context import _get_serve_request_context

    request_id: str | None = _get_serve_request_context().request_id
    return request_id
