"""Uploaded images: validated, stored with thumbnails, served through signed URLs."""

from __future__ import annotations

import asyncio
import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.errors import ImageNotFound, PayloadTooLarge
from serve_app.core.images import SCAN_COPY_TYPES, THUMBNAIL_SIZES, inspect_and_thumbnail, thumbnails
from serve_app.core.storage import ObjectMissing, ObjectStorage
from serve_app.db.tables import Image
from serve_app.schemas.images import ImagePublic, UploadTicket
from serve_app.settings import Settings


def original_key(key: str) -> str:
    return f"images/{key}/original"


def thumbnail_key(key: str, size: int) -> str:
    return f"images/{key}/thumb-{size}.webp"


def scan_copy_key(key: str) -> str:
    """A JPEG copy of a photo whose own format is slow to decode (``serve_app.core.images.SCAN_COPY_FORMATS``)."""
    return f"images/{key}/scan.jpg"


def scan_source_key(key: str, content_type: str | None) -> str:
    """What a scan of the image reads: its JPEG copy where it has one (a HEIC), else the original."""
    return scan_copy_key(key) if content_type in SCAN_COPY_TYPES else original_key(key)


async def _store(
    storage: ObjectStorage,
    settings: Settings,
    image: Image,
    data: bytes,
    *,
    write_original: bool,
    thumbnails: bool = True,
) -> None:
    # off the event loop: a phone's 12 MP photo takes 0.04 s (JPEG) to 0.3 s (HEIC) to decode
    inspected = await asyncio.to_thread(
        inspect_and_thumbnail,
        data,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        thumbnails=thumbnails,
    )
    info = inspected.info
    if write_original:
        await storage.put(original_key(image.key), data, info.content_type)
    await _put_thumbnails(storage, image.key, inspected.thumbnails)
    if inspected.scan_copy is not None:
        await storage.put(scan_copy_key(image.key), inspected.scan_copy, "image/jpeg")
    image.status, image.content_type = "ready", info.content_type
    image.width, image.height, image.byte_size = info.width, info.height, info.byte_size


async def upload(
    session: AsyncSession,
    *,
    storage: ObjectStorage,
    settings: Settings,
    user_id: uuid.UUID,
    data: bytes,
    thumbnails: bool = True,
) -> Image:
    """Validate and store an uploaded image. ``thumbnails=False`` (a photo posted to be scanned): its
    thumbnails are left to ``ensure_thumbnails``, which the scan job runs beside the models, off the
    request's path."""
    image = Image(key=uuid.uuid4().hex, user_id=user_id)
    await _store(storage, settings, image, data, write_original=True, thumbnails=thumbnails)
    session.add(image)
    await session.flush()
    return image


async def ensure_thumbnails(storage: ObjectStorage, key: str, data: bytes) -> bool:
    """Make and store the thumbnails of image ``key`` from ``data`` (the image, or its scan copy) where
    they are missing; whether they were made. The smallest, written last, says they are all there."""
    try:
        await storage.get(thumbnail_key(key, min(THUMBNAIL_SIZES)))
        return False
    except ObjectMissing:
        pass
    await _put_thumbnails(storage, key, await asyncio.to_thread(thumbnails, data))
    return True


async def _put_thumbnails(storage: ObjectStorage, key: str, made: dict[int, bytes]) -> None:
    """Store thumbnails, the smallest last: where it is, all of them are (``ensure_thumbnails``)."""
    for size in sorted(made, reverse=True):
        await storage.put(thumbnail_key(key, size), made[size], "image/webp")


async def start_upload(
    session: AsyncSession,
    *,
    storage: ObjectStorage,
    settings: Settings,
    user_id: uuid.UUID,
    content_type: str,
    byte_size: int,
) -> UploadTicket:
    """A signed URL the client PUTs the bytes to, then confirms with ``complete_upload``."""
    if byte_size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"images are limited to {settings.max_upload_bytes} bytes")
    image = Image(key=uuid.uuid4().hex, user_id=user_id, status="pending")
    session.add(image)
    await session.flush()
    ttl = settings.signed_url_ttl_s
    return UploadTicket(
        key=image.key,
        upload_url=storage.presign_put(original_key(image.key), content_type, ttl),
        headers={"Content-Type": content_type},
        expires_in=ttl,
    )


async def get_image(session: AsyncSession, *, user_id: uuid.UUID, key: str) -> Image:
    image = await session.get(Image, key)
    if image is None or image.user_id != user_id:
        raise ImageNotFound()
    return image


async def complete_upload(
    session: AsyncSession, *, storage: ObjectStorage, settings: Settings, user_id: uuid.UUID, key: str
) -> Image:
    image = await get_image(session, user_id=user_id, key=key)
    if image.status == "ready":
        return image
    try:
        data = await storage.get(original_key(key))
    except ObjectMissing:
        raise ImageNotFound("nothing was uploaded to this key yet") from None
    try:
        await _store(storage, settings, image, data, write_original=False)
    except Exception:
        await storage.delete(original_key(key))  # a rejected upload is not kept
        raise
    session.add(image)
    await session.flush()
    return image


async def delete_image(session: AsyncSession, *, storage: ObjectStorage, user_id: uuid.UUID, key: str) -> None:
    image = await get_image(session, user_id=user_id, key=key)
    for object_key in (original_key(key), scan_copy_key(key), *(thumbnail_key(key, s) for s in THUMBNAIL_SIZES)):
        await storage.delete(object_key)
    await session.delete(image)
    await session.flush()


def to_public(image: Image, *, storage: ObjectStorage, settings: Settings) -> ImagePublic:
    ttl = settings.signed_url_ttl_s
    ready = image.status == "ready"
    return ImagePublic(
        key=image.key,
        status=image.status,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        byte_size=image.byte_size,
        created_at=image.created_at,
        url=storage.presign_get(original_key(image.key), ttl) if ready else None,
        thumbnails={s: storage.presign_get(thumbnail_key(image.key, s), ttl) for s in THUMBNAIL_SIZES} if ready else {},
        expires_in=ttl,
    )
