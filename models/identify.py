"""Identify a rectified card: its embedding's nearest reference faces, and its finish.

The identifier's ONNX export returns an L2-normalised embedding and the finish probabilities.
Reference embeddings of every card in the catalog live in ``index.npz`` (card ids + vectors),
built by ``cardvault index`` or the identifier's training command; a new set is added by
embedding its faces, never by retraining. Search is an HNSW graph (usearch, inner product on
unit vectors) once the index is large; an exact matrix product below ``EXACT_LIMIT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

INPUT_W, INPUT_H = 128, 176
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
FINISH_CLASSES = ("normal", "holofoil", "reverse_holofoil", "rainbow_foil", "cold_foil", "gold_foil")
EXACT_LIMIT = 50_000


def identifier_pixels(card: Image.Image) -> np.ndarray:
    """A rectified card at the identifier's input size, (H, W, 3) uint8."""
    return np.asarray(card.convert("RGB").resize((INPUT_W, INPUT_H), Image.Resampling.BILINEAR))


def normalise(pixels: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 pixels to the identifier's (..., 3, H, W) normalised input."""
    arr = pixels.astype(np.float32) / 255
    result: np.ndarray = np.moveaxis((arr - MEAN) / STD, -1, -3)
    return result


def identifier_input(card: Image.Image) -> np.ndarray:
    """A rectified card to the identifier's (3, H, W) normalised input."""
    return normalise(identifier_pixels(card))


def exact_search(ids: list[str], vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` references of highest cosine (unit vectors: inner product) per query, best first."""
    scores = queries @ vectors.T
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    out = []
    for i, row in enumerate(top):
        row = row[np.argsort(-scores[i, row])]
        out.append([(ids[j], float(scores[i, j])) for j in row])
    return out


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (embeddings compared by inner product)."""
    result: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return result


@dataclass(frozen=True)
class Identification:
    neighbours: list[tuple[str, float]]  # (card id, cosine similarity), best first
    finish: str
    finish_confidence: float
    # the unit embedding itself (float16): the fusion compares it with the reference faces of the
    # cards the text names, which need not be among the nearest neighbours of the whole catalog
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)


def session_options(threads: int = 0) -> ort.SessionOptions:
    """ONNX Runtime options for every model of the scan: ``threads`` intra-op threads (0: one per core),
    and thread pools that sleep when out of work instead of spinning. A scan's stages run side by side
    (OCR beside the identifier and the grader, each deployment its own process): a pool spinning for
    its next task takes the core from the stage beside it. On 2 cores, 1-card p50 through HTTP 466 ->
    318 ms, OCR 219 -> 106 ms, 9 cards 1,401 -> 1,209 ms (``benchmarks/scan.py``, session 19)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def providers_for(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device == "tensorrt" else []
    wanted += ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in dict.fromkeys(wanted) if p in available]


class CardIdentifier:
    def __init__(
        self,
        onnx: Path,
        index: Path | None = None,
        *,
        device: str = "auto",
        threads: int = 0,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self.exact_limit = exact_limit
        self.session = ort.InferenceSession(str(onnx), session_options(threads), providers=providers_for(device))
        self.ids: list[str] = []
        self.vectors = np.zeros((0, 0), np.float32)
        self._ann: Any = None
        if index is not None and index.exists():
            self.load(index)

    def load(self, path: Path) -> None:
        data = np.load(path)
        self.set_index([str(i) for i in data["ids"]], data["vectors"].astype(np.float32))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, ids=np.asarray(self.ids), vectors=self.vectors.astype(np.float16))

    def add_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add references (a new set) to the ones there."""
        if not self.ids:
            self.set_index(list(ids), vectors)
            return
        start = len(self.ids)
        self.ids.extend(ids)
        self.vectors = np.concatenate([self.vectors, unit_rows(vectors)])
        if self._ann is not None:
            self._ann.add(np.arange(start, len(self.ids)), self.vectors[start:])
        elif len(self.ids) > self.exact_limit:
            self._build_ann()

    def set_index(self, ids: list[str], vectors: np.ndarray) -> None:
        self.ids = list(ids)
        self.vectors = unit_rows(vectors)
        self._ann = None
        if len(ids) > self.exact_limit:
            self._build_ann()

    def _build_ann(self) -> None:
        from usearch.index import Index

        ann = Index(ndim=self.vectors.shape[1], metric="ip", dtype="f16", connectivity=32, expansion_search=128)
        ann.add(np.arange(len(self.ids)), self.vectors)
        self._ann = ann

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embedding, finish = self.session.run(None, {"image": batch.astype(np.float32)})
        return embedding, finish

    def search(self, embeddings: np.ndarray, k: int = 10) -> list[list[tuple[str, float]]]:
        if not self.ids:
            return [[] for _ in embeddings]
        k = min(k, len(self.ids))
        if self._ann is not None:
            matches = self._ann.search(embeddings.astype(np.float32), k)
            keys = np.atleast_2d(matches.keys)
            return [
                [(self.ids[int(j)], float(embeddings[i] @ self.vectors[int(j)])) for j in row]
                for i, row in enumerate(keys)
            ]
        return exact_search(self.ids, self.vectors, embeddings, k)

    def identify(self, batch: np.ndarray, k: int = 10) -> list[Identification]:
        """``batch``: (N, 3, H, W) from :func:`identifier_input`."""
        if not len(batch):
            return []
        embeddings, finishes = self.run(batch)
        return [
            Identification(neighbours, FINISH_CLASSES[int(f.argmax())], float(f.max()), e.astype(np.float16))
            for neighbours, f, e in zip(self.search(embeddings, k), finishes, embeddings, strict=True)
        ]
