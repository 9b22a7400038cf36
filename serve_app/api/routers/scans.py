"""Scans: a photo of one or many cards in, identified and graded cards out, then into the inventory.

``POST /scans`` answers 202 at once with the scan's id; the job is stored before it runs and
survives a restart. Poll ``GET /scans/{id}`` or listen on ``/api/v1/ws`` for ``scan.progress``
and ``scan.completed``. A client that would rather wait sends ``Prefer: wait=N`` (RFC 7240): the
answer is then 200 with the finished scan when it is done within N seconds (at most 30), and
the usual 202 otherwise. ``POST /scans/{id}/accept`` adds the cards, with corrections.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Response, UploadFile, status

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.api.routers.images import read_upload
from serve_app.core.errors import BadRequest, ServiceUnavailable
from serve_app.schemas.scans import ScanAccept, ScanAccepted, ScanAcceptResult, ScanPublic
from serve_app.services import images as image_service
from serve_app.services import inventory as inventory_service
from serve_app.services import scans as scan_service

router = APIRouter(prefix=f"{API_PREFIX}/scans", tags=["scans"], dependencies=[Depends(limit_by_ip)])

MAX_WAIT_S = 30
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def preferred_wait(prefer: str | None) -> int:
    """Seconds from ``Prefer: wait=N`` (0 when absent), capped at ``MAX_WAIT_S``."""
    found = PREFER_WAIT.search(prefer or "")
    return min(int(found[1]), MAX_WAIT_S) if found else 0


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={status.HTTP_200_OK: {"model": ScanPublic, "description": "finished within `Prefer: wait=N`"}},
)
async def create_scan(
    principal: CurrentUser,
    state: StateDep,
    session: SessionDep,
    response: Response,
    file: Annotated[UploadFile | None, File(description="the photo (JPEG, PNG, WebP or HEIC)")] = None,
    image_key: Annotated[str | None, Form(pattern=r"^[0-9a-f]{32}$", description="or an uploaded image")] = None,
    prefer: Annotated[
        str | None, Header(description="`wait=N`: answer with the finished scan if it is done within N s (<= 30)")
    ] = None,
) -> ScanAccepted | ScanPublic:
    """Queue a scan of a photo: upload it here as ``file``, or name an uploaded image by ``image_key``.
    ``Server-Timing`` says where the request's time went: reading the upload, validating and storing
    it (``upload``), storing the job (``queue``) and waiting for its result (``wait``)."""
    worker = state.scan_worker
    if worker is None:
        raise ServiceUnavailable("scanning is not enabled on this server")
    if (file is None) == (image_key is None):
        raise BadRequest("send either a file or an image_key")
    timings = ServerTiming()
    if file is not None:
        data = await read_upload(file, state.settings.max_upload_bytes)
        timings.lap("read")
        image = await image_service.upload(  # its thumbnails made by the scan job, beside the models
            session, storage=state.storage, settings=state.settings, user_id=principal.id, data=data, thumbnails=False
        )
        image_key = image.key
        timings.lap("upload")
    assert image_key is not None
    scan = await scan_service.create_scan(session, user_id=principal.id, image_key=image_key)
    await session.commit()  # stored before it runs: a restart resumes it
    worker.submit(scan.id)
    timings.lap("queue")
    url = f"{API_PREFIX}/scans/{scan.id}"
    response.headers["Location"] = url
    if wait := preferred_wait(prefer):
        await worker.wait(scan.id, wait)
        await session.refresh(scan)
        timings.lap("wait")
        response.headers["Preference-Applied"] = f"wait={wait}"
    response.headers["Server-Timing"] = timings.header()
    if wait and scan.status in ("done", "failed"):
        response.status_code = status.HTTP_200_OK
        return scan_service.to_public(scan, storage=state.storage, settings=state.settings)
    return ScanAccepted(id=scan.id, status=scan.status, url=url)


class ServerTiming:
    """The ``Server-Timing`` header (W3C): named laps of a request, in ms."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, (now - self.last) * 1000))
        self.last = now

    def header(self) -> str:
        return ", ".join(f"{name};dur={ms:.1f}" for name, ms in self.laps)


@router.get("/{scan_id}")
async def get_scan(scan_id: uuid.UUID, principal: CurrentUser, state: StateDep, session: SessionDep) -> ScanPublic:
    scan = await scan_service.get_scan(session, user_id=principal.id, scan_id=scan_id)
    return scan_service.to_public(scan, storage=state.storage, settings=state.settings)


@router.post("/{scan_id}/accept", status_code=status.HTTP_201_CREATED)
async def accept_scan(
    scan_id: uuid.UUID, principal: CurrentUser, state: StateDep, session: SessionDep, body: ScanAccept | None = None
) -> ScanAcceptResult:
    """Add the scan's cards to the inventory (linked to the photo), with per-card corrections."""
    items, skipped = await scan_service.accept_scan(
        session, user_id=principal.id, scan_id=scan_id, body=body or ScanAccept()
    )
    public = [await inventory_service.public_item(session, item) for item in items]
    await session.commit()
    for item in items:
        await state.events.publish(f"user:{principal.id}", {"type": "inventory.created", "id": str(item.id)})
    return ScanAcceptResult(items=public, skipped=skipped)
