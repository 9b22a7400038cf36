"""The domain exception hierarchy, in one place.

Services raise these; ``serve_app.api.problems`` renders each once as RFC 9457
``application/problem+json``. Every class carries its HTTP status and a stable ``type`` slug.

    CardVaultError
    ├── BadRequest (400)          ├── NotFound (404)
    │   └── CsvFormatError        │   ├── UserNotFound, CardNotFound, PrintingNotFound
    ├── AuthenticationFailed (401)│   ├── InventoryItemNotFound, SessionNotFound, ImageNotFound
    │   ├── InvalidToken          ├── Conflict (409)
    │   └── RefreshTokenReused    │   └── EmailAlreadyRegistered
    ├── PermissionDenied (403)    ├── PayloadTooLarge (413)
    ├── RateLimited (429)         ├── UnprocessableContent (422)
    └── ServiceUnavailable (503)  │   └── InvalidImage
"""

from __future__ import annotations

from typing import Any


class CardVaultError(Exception):
    status: int = 500
    type_slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(CardVaultError):
    status, type_slug, title = 400, "bad-request", "Bad request"


class CsvFormatError(BadRequest):
    type_slug, title = "csv-format", "The CSV file cannot be read in the requested format"


class AuthenticationFailed(CardVaultError):
    status, type_slug, title = 401, "authentication-failed", "Authentication failed"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class InvalidToken(AuthenticationFailed):
    type_slug, title = "invalid-token", "The token is invalid or expired"


class RefreshTokenReused(AuthenticationFailed):
    type_slug, title = "refresh-token-reused", "Refresh token reuse detected; session revoked"


class PermissionDenied(CardVaultError):
    status, type_slug, title = 403, "permission-denied", "Permission denied"


class NotFound(CardVaultError):
    status, type_slug, title = 404, "not-found", "Not found"


class UserNotFound(NotFound):
    type_slug, title = "user-not-found", "User not found"


class CardNotFound(NotFound):
    type_slug, title = "card-not-found", "Card not found"


class PrintingNotFound(NotFound):
    type_slug, title = "printing-not-found", "Printing not found"


class InventoryItemNotFound(NotFound):
    type_slug, title = "inventory-item-not-found", "Inventory item not found"


class SessionNotFound(NotFound):
    type_slug, title = "session-not-found", "Session not found"


class ScanNotFound(NotFound):
    type_slug, title = "scan-not-found", "Scan not found"


class ImageNotFound(NotFound):
    type_slug, title = "image-not-found", "Image not found"


class OIDCProviderNotFound(NotFound):
    type_slug, title = "oidc-provider-not-found", "Unknown identity provider"


class Conflict(CardVaultError):
    status, type_slug, title = 409, "conflict", "Conflict"


class EmailAlreadyRegistered(Conflict):
    type_slug, title = "email-already-registered", "This email is already registered"


class PayloadTooLarge(CardVaultError):
    status, type_slug, title = 413, "payload-too-large", "Payload too large"


class UnprocessableContent(CardVaultError):
    status, type_slug, title = 422, "unprocessable-content", "Unprocessable content"


class InvalidImage(UnprocessableContent):
    type_slug, title = "invalid-image", "The file is not a supported image"


class RateLimited(CardVaultError):
    status, type_slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        super().__init__(detail, retry_after=max(1, round(retry_after_s + 0.499)))
        self.headers["Retry-After"] = str(self.extra["retry_after"])


class ServiceUnavailable(CardVaultError):
    status, type_slug, title = 503, "service-unavailable", "Service unavailable"
