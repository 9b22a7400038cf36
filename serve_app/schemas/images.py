"""Image payloads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ImagePublic(BaseModel):
    key: str
    status: str
    content_type: str | None
    width: int | None
    height: int | None
    byte_size: int | None
    created_at: datetime
    url: str | None = Field(description="signed download URL of the original")
    thumbnails: dict[int, str] = Field(description="signed URLs by longest side in pixels")
    expires_in: int


class UploadRequest(BaseModel):
    content_type: str = Field(pattern=r"^image/(jpeg|png|webp|heic|heif)$")
    byte_size: int = Field(gt=0)


class UploadTicket(BaseModel):
    key: str
    upload_url: str
    method: str = "PUT"
    headers: dict[str, str]
    expires_in: int
