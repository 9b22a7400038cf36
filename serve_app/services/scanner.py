"""Where scans run: the Serve model deployments (production) or the same models in process.

In the Serve application the ingress is given a handle to the ``ScanPipeline`` deployment,
which fans out to the detector, identifier, grader and OCR deployments with dynamic batching.
An ingress built without one (``create_app`` in tests, notebooks) loads the ONNX models into
its own process on the first scan.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeVar

from models.scan import ScanEngine, ScanPayload, scan_bytes

Engine = TypeVar("Engine", bound=ScanEngine)


def load_matcher(
    catalog_dir: Path, fusion: Path | None = None, index: Path | None = None, *, art_vouches: bool | None = None
) -> Any:
    """The catalog matcher with the fitted fusion weights at ``fusion`` and the reference faces at
    ``index`` (the shipped ones by default); ``art_vouches``: whether recognised art counts towards
    GOOD (default: the settings', ``Settings.art_vouches``)."""
    from models.matching import CatalogMatcher, Fusion, ReferenceFaces
    from models.scan import ModelPaths
    from pipelines.catalog_sources import load_catalogs
    from serve_app.settings import get_settings

    index = index or ModelPaths().index
    references = ReferenceFaces.load(index) if index.exists() else None
    vouches = get_settings().art_vouches if art_vouches is None else art_vouches
    fitted = Fusion.load(fusion or ModelPaths().fusion)
    return CatalogMatcher(load_catalogs(catalog_dir), fitted, references, art_vouches=vouches)


def shipped_engine(kind: type[Engine], catalog_dir: Path | None = None, runners: Any = None) -> Engine:
    """A scan engine (``kind``: ScanEngine or a subclass recording what it does) with the shipped
    models on the CPU in this process (or ``runners``), over the catalogs at ``catalog_dir`` (default:
    the settings') with the fitted fusion: what the benchmarks run."""
    from models.scan import LocalRunners
    from serve_app.settings import get_settings

    matcher = load_matcher(catalog_dir or get_settings().resolved_catalog_dir())
    return kind(runners or LocalRunners(device="cpu"), matcher)


class LocalScanner:
    def __init__(
        self,
        catalog_dir: Path,
        *,
        device: str = "auto",
        models_dir: Path | None = None,
        faces_dir: Path | None = None,
        art_vouches: bool = False,
    ) -> None:
        self.catalog_dir = catalog_dir
        self.art_vouches = art_vouches  # load_matcher
        self.faces_dir = faces_dir  # where the face check keeps the faces it draws (models.faces)
        self.device = device
        self.models_dir = models_dir
        self._engine: ScanEngine | None = None
        self._lock = asyncio.Lock()

    async def engine(self) -> ScanEngine:
        async with self._lock:
            if self._engine is None:
                self._engine = await asyncio.to_thread(self._build)
            return self._engine

    def _build(self) -> ScanEngine:
        from models.faces import RenderedFaces
        from models.grading import WearCalibration
        from models.scan import LocalRunners, ModelPaths

        paths = ModelPaths.under(self.models_dir)
        matcher = load_matcher(self.catalog_dir, paths.fusion, paths.index, art_vouches=self.art_vouches)
        return ScanEngine(
            LocalRunners(paths, device=self.device),
            matcher,
            calibration=WearCalibration.load(paths.wear_calibration),
            faces=RenderedFaces(matcher.catalogs, self.faces_dir),
        )

    async def scan(self, data: bytes) -> ScanPayload:
        return await scan_bytes(await self.engine(), data)


class HandleScanner:
    """A ``ScanPipeline`` deployment handle behind the scanner interface."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def scan(self, data: bytes) -> ScanPayload:
        payload: ScanPayload = await self.handle.scan.remote(data)
        return payload
