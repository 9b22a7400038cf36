"""One Ray Serve deployment per model, each on ONNX Runtime with dynamic batching.

Requests from many scans are gathered by ``@serve.batch`` into one inference call: the
detector batches photos, the identifier and grader batch card crops (each request brings the
crops of one photo), the OCR batches text lines. Every replica warms up in its constructor
(first ONNX runs allocate and pick kernels), so the first user does not pay for it. The
execution provider follows ``device``: TensorRT / CUDA when a GPU is there, CPU otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Any

import numpy as np
from PIL import Image
from ray import serve

from models.corners import CANVAS_H, CANVAS_W, CornerRefiner
from models.detector import CardDetector, Detection
from models.grading import CardGrader
from models.identify import INPUT_H, INPUT_W, CardIdentifier, Identification, providers_for
from models.ocr import TextLine
from models.scan import ModelPaths
from models.wear import SCALE_H, SCALE_W

BATCH_WAIT_S = 0.004


def side_threads(device: str) -> int:
    """ONNX Runtime threads for the identifier and the grader on a CPU: they run beside the OCR, the
    longest stage of a scan, so each takes half the cores and leaves the OCR the rest (0 = ONNX
    Runtime's default, on a GPU)."""
    import os

    if providers_for(device)[0] != "CPUExecutionProvider":
        return 0
    return max(1, (os.cpu_count() or 2) // 2)


def _split(arrays: Sequence[Sized], outputs: Any) -> list[Any]:
    """Cut one batched output back into each request's share."""
    parts, start = [], 0
    for array in arrays:
        parts.append(outputs[start : start + len(array)])
        start += len(array)
    return parts


@serve.deployment(name="CardDetector", graceful_shutdown_timeout_s=5, max_ongoing_requests=32)
class DetectorDeployment:
    def __init__(self, paths: ModelPaths = ModelPaths(), device: str = "auto", max_batch: int = 8) -> None:
        self.detector = CardDetector(paths.detector, imgsz=paths.detector_imgsz, providers=providers_for(device))
        self.detect.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.detector([Image.new("RGB", (640, 480))])  # warm-up

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=BATCH_WAIT_S)
    async def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        result: list[list[Detection]] = self.detector([Image.fromarray(i) for i in images])
        return result


@serve.deployment(name="CardCorners", graceful_shutdown_timeout_s=5, max_ongoing_requests=64)
class CornerDeployment:
    """The second-stage corner network: canvases cut around each detected card (by the scan
    composition, which holds the photo) in, corners in canvas pixels out."""

    def __init__(self, paths: ModelPaths = ModelPaths(), device: str = "auto", max_batch: int = 16) -> None:
        self.refiner = CornerRefiner(paths.corners, providers=providers_for(device))
        self.corners.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.refiner.predict(np.zeros((2, 3, CANVAS_H, CANVAS_W), np.float32))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=BATCH_WAIT_S)
    async def corners(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        result: list[np.ndarray] = _split(batches, self.refiner.predict(np.concatenate(batches)))
        return result


@serve.deployment(name="CardIdentifier", graceful_shutdown_timeout_s=5, max_ongoing_requests=64)
class IdentifierDeployment:
    def __init__(self, paths: ModelPaths = ModelPaths(), device: str = "auto", max_batch: int = 16) -> None:
        self.identifier = CardIdentifier(paths.identifier, paths.index, device=device, threads=side_threads(device))
        self.identify.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.embed.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.identifier.identify(np.zeros((2, 3, INPUT_H, INPUT_W), np.float32))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=BATCH_WAIT_S)
    async def identify(self, batches: list[np.ndarray]) -> list[list[Identification]]:
        result: list[list[Identification]] = _split(batches, self.identifier.identify(np.concatenate(batches)))
        return result

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=BATCH_WAIT_S)
    async def embed(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """The embeddings alone (no search): a partly hidden card's neighbours' faces, painted as it is."""
        result: list[np.ndarray] = _split(batches, self.identifier.run(np.concatenate(batches))[0])
        return result


@serve.deployment(name="CardGrader", graceful_shutdown_timeout_s=5, max_ongoing_requests=64)
class GraderDeployment:
    def __init__(self, paths: ModelPaths = ModelPaths(), device: str = "auto", max_batch: int = 16) -> None:
        self.grader = CardGrader(paths.grader, wear=paths.wear, device=device, threads=side_threads(device))
        self.grade.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.grader.grade(np.zeros((2, SCALE_H, SCALE_W, 3), np.uint8))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=BATCH_WAIT_S)
    async def grade(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        result: list[np.ndarray] = _split(batches, self.grader.grade(np.concatenate(batches)))
        return result


@serve.deployment(name="CardOCR", graceful_shutdown_timeout_s=5, max_ongoing_requests=64)
class OCRDeployment:
    """PP-OCR recognition (rapidocr) of the name and collector lines of rectified cards."""

    def __init__(self, device: str = "auto", max_batch: int = 16) -> None:
        from models.ocr import CardOCR

        self.ocr = CardOCR(device=device)
        self.read_strips.set_max_batch_size(max_batch)  # type: ignore[attr-defined]
        self.ocr.read_strips([np.full((120, 630, 3), 255, np.uint8)])

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=BATCH_WAIT_S)
    async def read_strips(self, requests: list[list[np.ndarray]]) -> list[list[list[TextLine]]]:
        lines = self.ocr.read_strips([crop for crops in requests for crop in crops])
        result: list[list[list[TextLine]]] = _split(requests, lines)
        return result
