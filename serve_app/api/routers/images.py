"""Image uploads (direct or through a signed URL), signed downloads and thumbnails."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile, status

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.core.errors import ImageNotFound, PayloadTooLarge, PermissionDenied
from serve_app.core.storage import LocalStorage, ObjectMissing
from serve_app.db.tables import Image
from serve_app.schemas.images import ImagePublic, UploadRequest, UploadTicket
from serve_app.services import images as image_service

router = APIRouter(prefix=f"{API_PREFIX}/images", tags=["images"], dependencies=[Depends(limit_by_ip)])
KEY_PATH = Path(pattern=r"^[0-9a-f]{32}$")


async def _read_limited(chunks: object, limit: int) -> bytes:
    """Read a body in chunks and stop as soon as it passes ``limit``."""
    buffer = bytearray()
    async for chunk in chunks:  # type: ignore[attr-defined]
        buffer.extend(chunk)
        if len(buffer) > limit:
            raise PayloadTooLarge(f"images are limited to {limit} bytes")
    return bytes(buffer)


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """A multipart file's bytes, refused (413) as soon as it passes ``limit``."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"images are limited to {limit} bytes")
    return data


@router.post("", status_code=status.HTTP_201_CREATED)
async def upload_image(
    file: Annotated[UploadFile, File()], principal: CurrentUser, state: StateDep, session: SessionDep
) -> ImagePublic:
    data = await read_upload(file, state.settings.max_upload_bytes)
    image = await image_service.upload(
        session, storage=state.storage, settings=state.settings, user_id=principal.id, data=data
    )
    await session.commit()
    return image_service.to_public(image, storage=state.storage, settings=state.settings)


@router.post("/uploads", status_code=status.HTTP_201_CREATED)
async def start_upload(
    body: UploadRequest, principal: CurrentUser, state: StateDep, session: SessionDep
) -> UploadTicket:
    """A signed URL to PUT the image to; then call ``POST /images/{key}/complete``."""
    ticket = await image_service.start_upload(
        session,
        storage=state.storage,
        settings=state.settings,
        user_id=principal.id,
        content_type=body.content_type,
        byte_size=body.byte_size,
    )
    await session.commit()
    return ticket


@router.post("/{key}/complete")
async def complete_upload(
    key: Annotated[str, KEY_PATH], principal: CurrentUser, state: StateDep, session: SessionDep
) -> ImagePublic:
    image = await image_service.complete_upload(
        session, storage=state.storage, settings=state.settings, user_id=principal.id, key=key
    )
    await session.commit()
    return image_service.to_public(image, storage=state.storage, settings=state.settings)


@router.get("/{key}")
async def get_image(
    key: Annotated[str, KEY_PATH], principal: CurrentUser, state: StateDep, session: SessionDep
) -> ImagePublic:
    image = await image_service.get_image(session, user_id=principal.id, key=key)
    return image_service.to_public(image, storage=state.storage, settings=state.settings)


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_image(
    key: Annotated[str, KEY_PATH], principal: CurrentUser, state: StateDep, session: SessionDep
) -> None:
    await image_service.delete_image(session, storage=state.storage, user_id=principal.id, key=key)
    await session.commit()


def _local(state: StateDep, method: str, path: str, expires: int, signature: str) -> LocalStorage:
    storage = state.storage
    if not isinstance(storage, LocalStorage):
        raise ImageNotFound()
    if not storage.signer.verify(method, path, expires, signature):
        raise PermissionDenied("the link is invalid or has expired")
    return storage


@router.get("/blob/{path:path}", include_in_schema=False)
async def download_blob(
    path: str,
    state: StateDep,
    session: SessionDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    storage = _local(state, "GET", path, expires, signature)
    try:
        data = await storage.get(path)
    except (ObjectMissing, ValueError):
        raise ImageNotFound() from None
    media_type = {"webp": "image/webp", "jpg": "image/jpeg"}.get(path.rsplit(".", 1)[-1], "application/octet-stream")
    if path.endswith("/original"):
        image = await session.get(Image, path.split("/")[1])
        media_type = (image.content_type if image else None) or media_type
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


@router.put("/blob/{path:path}", include_in_schema=False, status_code=status.HTTP_204_NO_CONTENT)
async def upload_blob(
    path: str,
    request: Request,
    state: StateDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> None:
    storage = _local(state, "PUT", path, expires, signature)
    data = await _read_limited(request.stream(), state.settings.max_upload_bytes)
    await storage.put(path, data, request.headers.get("content-type", "application/octet-stream"))
