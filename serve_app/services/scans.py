"""Scan jobs: stored before they run, leased by one replica, resumed after a restart.

``POST /scans`` stores the photo and a ``queued`` row and hands the id to this replica's
:class:`ScanWorker`. A worker takes a job by a conditional update (queued, or running with an
expired lease) so two replicas never run one job; a periodic sweep picks up jobs left by a
replica that stopped. Progress and completion go out on the user's event channel (WebSocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.scan import ScanPayload
from serve_app.core.errors import Conflict, ImageNotFound, ScanNotFound, UnprocessableContent
from serve_app.core.events import EventBus
from serve_app.core.storage import ObjectMissing, ObjectStorage
from serve_app.db.tables import Image, InventoryItem, Scan, utcnow
from serve_app.schemas.inventory import InventoryCreate
from serve_app.schemas.scans import ScanAccept, ScanCard, ScanPublic
from serve_app.services import images as image_service
from serve_app.services import inventory as inventory_service
from serve_app.settings import Settings

log = logging.getLogger(__name__)


class Scanner(Protocol):
    async def scan(self, data: bytes) -> ScanPayload: ...


def crop_key(scan_id: uuid.UUID, index: int) -> str:
    return f"scans/{scan_id}/card-{index:02d}.jpg"


def overlay_key(scan_id: uuid.UUID) -> str:
    return f"scans/{scan_id}/overlay.jpg"


async def create_scan(session: AsyncSession, *, user_id: uuid.UUID, image_key: str) -> Scan:
    image = await image_service.get_image(session, user_id=user_id, key=image_key)
    if image.status != "ready":
        raise ImageNotFound("the image upload is not complete yet")
    scan = Scan(user_id=user_id, image_key=image.key)
    session.add(scan)
    await session.flush()
    return scan


async def get_scan(session: AsyncSession, *, user_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    scan = await session.get(Scan, scan_id)
    if scan is None or scan.user_id != user_id:
        raise ScanNotFound()
    return scan


def to_public(scan: Scan, *, storage: ObjectStorage, settings: Settings) -> ScanPublic:
    result = scan.result or {}
    ttl = settings.signed_url_ttl_s
    cards = [
        ScanCard(index=i, **card, crop_url=storage.presign_get(crop_key(scan.id, i), ttl))
        for i, card in enumerate(result.get("cards", []))
    ]
    return ScanPublic(
        id=scan.id,
        status=scan.status,
        image_key=scan.image_key,
        attempts=scan.attempts,
        error=scan.error,
        width=result.get("width"),
        height=result.get("height"),
        cards=cards,
        face_down=result.get("face_down", []),
        unread=result.get("unread", []),
        hidden=result.get("hidden", []),
        overlay_url=storage.presign_get(overlay_key(scan.id), ttl) if scan.status == "done" else None,
        timings_ms=result.get("timings_ms", {}),
        accepted_at=scan.accepted_at,
        created_at=scan.created_at,
        updated_at=scan.updated_at,
    )


async def accept_scan(
    session: AsyncSession, *, user_id: uuid.UUID, scan_id: uuid.UUID, body: ScanAccept
) -> tuple[list[InventoryItem], list[int]]:
    """Add the scan's cards to the inventory, with the user's corrections, linked to the photo."""
    scan = await get_scan(session, user_id=user_id, scan_id=scan_id)
    if scan.status != "done":
        raise Conflict(f"the scan is {scan.status}; only a finished scan can be accepted")
    if scan.accepted_at is not None:
        raise Conflict("this scan was already accepted")
    cards: list[dict[str, Any]] = (scan.result or {}).get("cards", [])
    corrections = {c.index: c for c in body.cards}
    if unknown := sorted(i for i in corrections if i >= len(cards)):
        raise UnprocessableContent(f"the scan found {len(cards)} cards; no card at index {unknown}")
    items, skipped = [], []
    for index, card in enumerate(cards):
        fix = corrections.get(index)
        if fix is not None and fix.skip:
            skipped.append(index)
            continue
        printing_id = fix.printing_id if fix is not None and fix.printing_id else None
        if printing_id is None:
            if (card["tier"] == "POOR" and not body.include_poor) or not card.get("printing_id"):
                skipped.append(index)  # not sure enough to add without a person's word
                continue
            printing_id = card["printing_id"]
        condition = fix.condition if fix is not None and fix.condition else card["grade"]["condition"]
        item = await inventory_service.create_item(
            session,
            user_id=user_id,
            data=InventoryCreate(
                printing_id=printing_id,
                condition=condition,
                quantity=fix.quantity if fix is not None else 1,
                tags=fix.tags if fix is not None else [],
                source_image_key=scan.image_key,
                notes=f"scan {scan.id} card {index}",
            ),
        )
        items.append(item)
    scan.accepted_at = utcnow()
    session.add(scan)
    await session.flush()
    return items, skipped


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    """A job nobody is running: queued, or running under a lease that ran out (a lost replica)."""
    return or_(col(Scan.status) == "queued", (col(Scan.status) == "running") & (col(Scan.lease_until) < now))


class ScanWorker:
    """Runs this replica's share of the scan jobs (at most ``settings.scan_concurrency`` at once)."""

    def __init__(
        self,
        *,
        sessions: Callable[[], AsyncSession],
        storage: ObjectStorage,
        events: EventBus,
        settings: Settings,
        scanner: Callable[[], Awaitable[Scanner]],
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.events = events
        self.settings = settings
        self._scanner = scanner
        self._slots = asyncio.Semaphore(settings.scan_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def submit(self, scan_id: uuid.UUID) -> None:
        if scan_id in self._running:
            return
        task = asyncio.create_task(self._run(scan_id))
        self._running[scan_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, scan_id: uuid.UUID, timeout_s: float) -> None:
        """Until this replica's run of the job ends (done, failed or queued again) or ``timeout_s``."""
        task = self._running.get(scan_id)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout_s)

    async def _sweep_forever(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                for scan_id in await self.claimable():
                    self.submit(scan_id)
            await asyncio.sleep(self.settings.scan_sweep_s)

    async def claimable(self) -> list[uuid.UUID]:
        """Jobs nobody is running: queued, or running under a lease that ran out (a lost replica)."""
        async with self.sessions() as session:
            rows = await session.exec(
                select(Scan.id).where(_unclaimed(utcnow())).order_by(col(Scan.created_at)).limit(50)
            )
            return list(rows.all())

    async def _claim(self, session: AsyncSession, scan_id: uuid.UUID) -> bool:
        now = utcnow()
        claimed = await session.exec(
            update(Scan)
            .where(col(Scan.id) == scan_id, _unclaimed(now))
            .values(
                status="running",
                lease_until=now + timedelta(seconds=self.settings.scan_lease_s),
                attempts=col(Scan.attempts) + 1,
                updated_at=now,
            )
        )
        await session.commit()
        return bool(claimed.rowcount)

    async def _finish(self, scan_id: uuid.UUID, **values: Any) -> None:
        async with self.sessions() as session:
            await session.exec(update(Scan).where(col(Scan.id) == scan_id).values(updated_at=utcnow(), **values))
            await session.commit()

    async def _thumbnails(self, image_key: str, data: bytes) -> None:
        """The photo's thumbnails where they are missing; a failure is logged, the scan goes on."""
        try:
            await image_service.ensure_thumbnails(self.storage, image_key, data)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("thumbnails of image %s", image_key)

    async def _run(self, scan_id: uuid.UUID) -> None:
        try:
            async with self._slots:
                started = time.perf_counter()
                async with self.sessions() as session:  # no transaction stays open while the models run
                    if not await self._claim(session, scan_id):
                        return
                    scan = await session.get(Scan, scan_id)
                    if scan is None:
                        return
                    user_id, image_key, attempts = scan.user_id, scan.image_key, scan.attempts
                    image = await session.get(Image, image_key)
                    source = image_service.scan_source_key(image_key, image.content_type if image else None)
                    await session.commit()
                channel = f"user:{user_id}"
                await self.events.publish(channel, {"type": "scan.progress", "id": str(scan_id), "stage": "started"})
                try:
                    claimed = time.perf_counter()
                    try:
                        data = await self.storage.get(source)
                    except ObjectMissing:  # a HEIC stored before scan copies were made: the original
                        data = await self.storage.get(image_service.original_key(image_key))
                    scanner = await self._scanner()
                    fetched = time.perf_counter()
                    # a photo posted to be scanned gets its thumbnails here, while the models run
                    payload, _ = await asyncio.gather(scanner.scan(data), self._thumbnails(image_key, data))
                    scanned = time.perf_counter()
                    for index, crop in enumerate(payload.crops):
                        await self.storage.put(crop_key(scan_id, index), crop, "image/jpeg")
                    await self.storage.put(overlay_key(scan_id), payload.overlay, "image/jpeg")
                    # where the job's time went around the pipeline's own stages (``job_scan_call``: the
                    # call's round trip, the pipeline's ``total`` and the hand-over to and from its replica)
                    payload.result.setdefault("timings_ms", {}).update(
                        (f"job_{name}", round((end - begin) * 1000, 1))
                        for name, begin, end in (
                            ("claim", started, claimed),
                            ("fetch", claimed, fetched),
                            ("scan_call", fetched, scanned),
                            ("store", scanned, time.perf_counter()),
                        )
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the job fails or waits for another try; the server stays up
                    log.exception("scan %s failed (attempt %s)", scan_id, attempts)
                    final = attempts >= self.settings.scan_max_attempts
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    await self._finish(scan_id, status="failed" if final else "queued", error=error, lease_until=None)
                    if final:
                        await self.events.publish(channel, {"type": "scan.failed", "id": str(scan_id), "error": error})
                    return
                await self._finish(scan_id, status="done", result=payload.result, error=None, lease_until=None)
                tiers = [c["tier"] for c in payload.result["cards"]]
                await self.events.publish(
                    channel,
                    {
                        "type": "scan.completed",
                        "id": str(scan_id),
                        "cards": len(tiers),
                        "tiers": {t: tiers.count(t) for t in ("GOOD", "FAIR", "POOR")},
                        "face_down": len(payload.result.get("face_down", [])),
                        "unread": len(payload.result.get("unread", [])),
                        "hidden": len(payload.result.get("hidden", [])),
                    },
                )
        finally:
            self._running.pop(scan_id, None)
