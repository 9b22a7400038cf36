"""Card identifier: an embedding of the rectified card, trained with ArcFace, for retrieval.

A reference index holds the embedding of every printing's clean face; a photo's rectified crop
is identified by its nearest reference. A new set is added by embedding its faces: no
retraining. Training renders faces of the training sets, wears and distorts them like photos
(perspective jitter, crop, light, blur, noise, sleeves' glare), and teaches a small CNN
(torchvision MobileNetV3-small, from scratch) to map every version of a printing together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from pipelines.render.card_face import FaceSpec, render_face
from pipelines.render.condition import apply_wear, sample_condition

INPUT_W, INPUT_H = 128, 176  # the card's 63:88 proportions
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def to_input(card: Image.Image) -> np.ndarray:
    """A rectified card image to the model's input tensor layout (3, H, W), normalised."""
    arr = np.asarray(card.convert("RGB").resize((INPUT_W, INPUT_H), Image.Resampling.BILINEAR), np.float32) / 255
    return ((arr - MEAN) / STD).transpose(2, 0, 1)


def clean_face(spec: FaceSpec) -> Image.Image:
    face = render_face(spec).image
    flat = Image.new("RGB", face.size, (0, 0, 0))
    flat.paste(face, (0, 0), face)
    return flat


def photo_like(spec: FaceSpec, rng: np.random.Generator) -> Image.Image:
    """The face as the detector and rectifier would hand it over from a photo."""
    condition = sample_condition(rng)
    face = apply_wear(
        render_face(spec, centering=(condition.centering_lr, condition.centering_tb)).image, condition, rng
    )
    flat = Image.new("RGB", face.size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    flat.paste(face, (0, 0), face)
    w, h = flat.size
    jitter = rng.normal(0, 0.02, (4, 2)) * [w, h]  # imperfect corners from the detector
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) + jitter
    from pipelines.render.geometry import homography, pil_perspective_coeffs

    flat = flat.transform(
        (w, h),
        Image.Transform.PERSPECTIVE,
        pil_perspective_coeffs(homography(np.array([[0, 0], [w, 0], [w, h], [0, h]], float), quad)),
        Image.Resampling.BILINEAR,
    )
    flat = ImageEnhance.Brightness(flat).enhance(rng.uniform(0.6, 1.3))
    flat = ImageEnhance.Color(flat).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < 0.3:  # glare band
        arr = np.asarray(flat, np.float32)
        x = np.arange(w)[None, :] + np.arange(h)[:, None] * rng.uniform(-0.5, 0.5)
        band = np.exp(-(((x - rng.uniform(0, w)) / rng.uniform(20, 80)) ** 2))[..., None]
        flat = Image.fromarray((arr + band * rng.uniform(60, 160)).clip(0, 255).astype(np.uint8))
    return flat.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2.0)))


@dataclass(frozen=True)
class IdentifierConfig:
    out: Path
    printings: int = 3000  # training classes
    views_per_printing: int = 6  # rendered, worn, distorted views per class and epoch pass
    epochs: int = 5
    batch: int = 64
    dim: int = 128
    lr: float = 2e-3
    seed: int = 0
    device: str = "cpu"
    threads: int = 2


def _model(dim: int) -> Any:
    import torch
    from torchvision.models import mobilenet_v3_small

    backbone = mobilenet_v3_small(weights=None, num_classes=dim)

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, x: Any) -> Any:
            return torch.nn.functional.normalize(self.backbone(x), dim=1)

    return Embedder()


class ArcFace:
    """Additive angular margin loss (Deng et al. 2019): cos(theta + m), scaled by s."""

    def __init__(self, classes: int, dim: int, *, s: float = 30.0, m: float = 0.3) -> None:
        import torch

        self.weight = torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(classes, dim)))
        self.s, self.m = s, m

    def __call__(self, embeddings: Any, labels: Any) -> Any:
        import torch

        cosine = embeddings @ torch.nn.functional.normalize(self.weight, dim=1).T
        theta = torch.acos(cosine.clamp(-1 + 1e-6, 1 - 1e-6))
        target = torch.cos(theta + self.m)
        onehot = torch.nn.functional.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(onehot, target, cosine) * self.s
        return torch.nn.functional.cross_entropy(logits, labels)


def render_views(specs: Sequence[FaceSpec], views: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for index, spec in enumerate(specs):
        rng = np.random.default_rng([seed, index])
        for _ in range(views):
            images.append(to_input(photo_like(spec, rng)))
            labels.append(index)
    return np.stack(images), np.asarray(labels)


def train_identifier(config: IdentifierConfig, pool: Sequence[FaceSpec]) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    specs = [pool[i] for i in rng.choice(len(pool), size=min(config.printings, len(pool)), replace=False)]
    model = _model(config.dim).to(config.device)
    arcface = ArcFace(len(specs), config.dim)
    optimizer = torch.optim.AdamW([*model.parameters(), arcface.weight], lr=config.lr, weight_decay=1e-4)
    start = time.perf_counter()
    history = []
    for epoch in range(config.epochs):
        images, labels = render_views(specs, config.views_per_printing, seed=config.seed * 1000 + epoch)
        order = rng.permutation(len(labels))
        model.train()
        total = 0.0
        for b in range(0, len(order), config.batch):
            idx = order[b : b + config.batch]
            x = torch.from_numpy(images[idx]).to(config.device)
            y = torch.from_numpy(labels[idx]).to(config.device)
            loss = arcface(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        history.append(round(total / len(order), 4))
    config.out.mkdir(parents=True, exist_ok=True)
    weights = config.out / "identifier.pt"
    torch.save(model.state_dict(), weights)
    onnx = export_onnx(model, config.out / "identifier.onnx")
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "loss": history,
        "seconds": time.perf_counter() - start,
        "classes": len(specs),
        "config": {k: str(v) for k, v in asdict(config).items()},
        "train_printings": [s.printing_id for s in specs],
    }


def export_onnx(model: Any, path: Path) -> Path:
    import torch

    model.eval()
    dummy = (torch.zeros(2, 3, INPUT_H, INPUT_W),)
    torch.onnx.export(
        model,
        dummy,
        str(path),
        input_names=["image"],
        output_names=["embedding"],
        dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return path


class EmbeddingIndex:
    """Cosine nearest neighbours over reference embeddings (exact; an ANN index can replace it)."""

    def __init__(self, onnx: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        self.ids: list[str] = []
        self.vectors = np.zeros((0, 0), np.float32)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(None, {"image": batch.astype(np.float32)})[0]
        return out

    def add(self, ids: Sequence[str], images: Sequence[Image.Image], batch: int = 64) -> None:
        vectors = [
            self.embed(np.stack([to_input(im) for im in images[i : i + batch]])) for i in range(0, len(images), batch)
        ]
        stacked = np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32)
        self.vectors = stacked if self.vectors.size == 0 else np.concatenate([self.vectors, stacked])
        self.ids.extend(ids)

    def search(self, images: Sequence[Image.Image], k: int = 5) -> list[list[tuple[str, float]]]:
        queries = self.embed(np.stack([to_input(im) for im in images]))
        scores = queries @ self.vectors.T
        top = np.argsort(-scores, axis=1)[:, :k]
        return [[(self.ids[j], float(scores[i, j])) for j in row] for i, row in enumerate(top)]


def evaluate_retrieval(
    onnx: Path, gallery: Sequence[FaceSpec], queries: Sequence[FaceSpec], seed: int
) -> dict[str, float]:
    """Top-1/top-5: photo-like views of ``queries`` against clean faces of all of ``gallery``."""
    index = EmbeddingIndex(onnx)
    index.add([s.printing_id for s in gallery], [clean_face(s) for s in gallery])
    rng = np.random.default_rng(seed)
    results = index.search([photo_like(s, rng) for s in queries], k=5)
    top1 = np.mean([r[0][0] == s.printing_id for r, s in zip(results, queries, strict=True)])
    top5 = np.mean([s.printing_id in [i for i, _ in r] for r, s in zip(results, queries, strict=True)])
    return {"top1": float(top1), "top5": float(top5), "gallery": float(len(gallery)), "queries": float(len(queries))}


def write_card(result: dict[str, Any], metrics: dict[str, float], destination: Path, command: str) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "identifier.md"
    card.write_text(f"""# Card identifier (embedding for retrieval)

- Architecture: torchvision MobileNetV3-small from scratch, {result["config"]["dim"]}-d L2-normalised embedding,
  ArcFace (s=30, m=0.3) over {result["classes"]} training printings; input {INPUT_W}x{INPUT_H} RGB (rectified card).
- Data: rendered faces of training-set printings, worn and distorted like photos (`pipelines/train/identifier.py`).
- Training command: `{command}`; {result["seconds"] / 60:.1f} minutes on CPU; loss per epoch {result["loss"]}.
- Retrieval: {json.dumps(metrics)}
""")
    return card
