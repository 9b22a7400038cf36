"""The scan composition: detect -> find the corners again on each card -> rectify each card ->
OCR, embed and grade in parallel -> fuse.

``ScanPipeline`` holds handles to the model deployments and runs ``models.scan.ScanEngine``
with them as its runners, so the flow is the same code the tests and notebooks run in process.
Rectification (a homography per card) and fusion run here, on CPU, next to the catalog matcher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from models.detector import Detection
from models.grading import WearCalibration
from models.identify import Identification
from models.ocr import TextLine
from models.scan import ScanEngine, ScanPayload, scan_bytes


class HandleRunners:
    def __init__(self, detector: Any, identifier: Any, grader: Any, ocr: Any, corners: Any = None) -> None:
        self.detector, self.identifier, self.grader, self.ocr = detector, identifier, grader, ocr
        self.corner_net = corners

    async def detect(self, image: np.ndarray) -> list[Detection]:
        result: list[Detection] = await self.detector.detect.remote(image)
        return result

    async def identify(self, batch: np.ndarray) -> list[Identification]:
        result: list[Identification] = await self.identifier.identify.remote(batch)
        return result

    async def embed(self, batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = await self.identifier.embed.remote(batch)
        return result

    async def grade(self, batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = await self.grader.grade.remote(batch)
        return result

    async def read_strips(self, crops: list[np.ndarray]) -> list[list[TextLine]]:
        result: list[list[TextLine]] = await self.ocr.read_strips.remote(crops)
        return result

    async def corners(self, batch: np.ndarray) -> np.ndarray | None:
        if self.corner_net is None:
            return None
        result: np.ndarray = await self.corner_net.corners.remote(batch)
        return result


@serve.deployment(name="ScanPipeline", graceful_shutdown_timeout_s=5, max_ongoing_requests=16)
class ScanPipeline:
    def __init__(
        self,
        detector: Any,
        identifier: Any,
        grader: Any,
        ocr: Any,
        catalog_dir: str,
        fusion: str | None = None,
        corners: Any = None,
        index: str | None = None,
        wear_calibration: str | None = None,
        faces_dir: str | None = None,
        art_vouches: bool = False,
    ) -> None:
        from models.faces import RenderedFaces
        from serve_app.services.scanner import load_matcher

        matcher = load_matcher(
            Path(catalog_dir),
            Path(fusion) if fusion else None,
            Path(index) if index else None,
            art_vouches=art_vouches,
        )
        calibration = WearCalibration.load(Path(wear_calibration) if wear_calibration else None)
        faces = RenderedFaces(matcher.catalogs, Path(faces_dir) if faces_dir else None)
        self.engine = ScanEngine(
            HandleRunners(detector, identifier, grader, ocr, corners), matcher, calibration=calibration, faces=faces
        )

    async def scan(self, data: bytes) -> ScanPayload:
        return await scan_bytes(self.engine, data)
