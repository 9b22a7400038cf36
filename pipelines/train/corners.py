"""Train the second-stage corner network (``models.corners``) on scenes with exact corner labels.

Every labelled card of the scene sets is a training example, seen many times: its canvas is cut
around a coarse quadrilateral, either the shipped detector's own prediction for that card (so
the network learns the errors it will have to correct) or the true corners moved by a random
turn, scale, shift and per-corner noise (small and large, for the first and the second pass),
sometimes in another corner order (a detector can call any corner first; the network keeps
the order it is given). The target is the true corners in that canvas. The network is a small
U-Net (to 1/16) ending in four heatmaps at a quarter of the canvas resolution, read by soft-argmax, and
trained with an L1 loss in canvas pixels over the card's diagonal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.corners import CANVAS_H, CANVAS_W, CARD_DIAGONAL, apply, convex, shrink_for, to_input, warp
from models.detector import CardDetector, _iou
from pipelines.export import freeze_norms, load_weights, save_and_export
from pipelines.scene_dataset import MIN_VISIBLE
from pipelines.train import config_strings

STRIDE = 4
ORDER_TURNS = (0.6, 0.1, 0.2, 0.1)  # how often the coarse quad starts at the card's own TL, TR, BR, BL


@dataclass(frozen=True)
class CornerConfig:
    data: tuple[Path, ...]  # scene datasets (manifest.jsonl + images)
    out: Path
    detector: Path | None = None  # coarse quads from this detector for ``detector_share`` of the examples
    detector_imgsz: int = 416
    detector_share: float = 0.5
    # share of the random coarse quads that are far off (turned ~10 degrees, scaled ~12%, shifted ~8% of
    # the diagonal), as the detector's are on cards lying at about 45 degrees
    wide_share: float = 0.0
    init: Path | None = None  # continue from corners.pt or a shipped corners.onnx (BatchNorm then stays fixed)
    steps: int = 3000
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2


@dataclass
class Example:
    image: int
    corners: np.ndarray  # (4, 2) true corners, the card's reading order
    predicted: list[np.ndarray] = field(default_factory=list)  # the detector's corners for this card


def _model() -> Any:
    import torch
    from torch import nn

    def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(*conv(cin, cout, stride), *conv(cout, cout))

    class CornerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(*conv(3, 16, 2))  # 1/2
            self.e1, self.e2, self.e3 = block(16, 24, 2), block(24, 48, 2), block(48, 64, 2)  # 1/4, 1/8, 1/16
            self.context = block(64, 64, 1)
            self.d2 = nn.Sequential(*conv(64 + 48, 48))
            self.d1 = nn.Sequential(*conv(48 + 24, 32))
            self.head = nn.Conv2d(32, 4, 1)
            h, w = CANVAS_H // STRIDE, CANVAS_W // STRIDE
            # heatmap cell j covers canvas pixels STRIDE*j .. STRIDE*j + STRIDE - 1
            self.register_buffer("xs", torch.arange(w, dtype=torch.float32) * STRIDE + (STRIDE - 1) / 2)
            self.register_buffer("ys", torch.arange(h, dtype=torch.float32) * STRIDE + (STRIDE - 1) / 2)

        def forward(self, x: Any) -> Any:
            up = nn.functional.interpolate
            a = self.e1(self.stem((x - 0.45) / 0.25))
            b = self.e2(a)
            c = self.context(self.e3(b))
            u = self.d2(torch.cat([up(c, scale_factor=2.0, mode="nearest"), b], 1))
            u = self.d1(torch.cat([up(u, scale_factor=2.0, mode="nearest"), a], 1))
            heat = self.head(u)  # (N, 4, h, w)
            n, k, h, w = heat.shape
            p = torch.softmax(heat.reshape(n, k, h * w), -1).reshape(n, k, h, w)
            xs = (p.sum(2) * self.get_buffer("xs")).sum(-1)
            ys = (p.sum(3) * self.get_buffer("ys")).sum(-1)
            return torch.stack([xs, ys], -1)  # (N, 4, 2) canvas pixels

    return CornerNet()


def load_examples(
    datasets: Sequence[Path], detector: CardDetector | None, limit: int | None = None
) -> tuple[list[np.ndarray], list[Example]]:
    """Every photo of the scene sets (the first ``limit`` of each; decoded, downsampled as the scan
    does) and every labelled card in them, with the detector's prediction for the card when it
    found it (IoU >= 0.5), in the downsampled photo's pixels."""
    photos: list[np.ndarray] = []
    examples: list[Example] = []
    for dataset in datasets:
        for line in (dataset / "manifest.jsonl").read_text().splitlines()[:limit]:
            entry = json.loads(line)
            image = Image.open(dataset / entry["image"]).convert("RGB")
            cards = [c for c in entry["cards"] if c["visible"] >= MIN_VISIBLE]
            if not cards:
                continue
            found = [Example(len(photos), np.array(c["corners"], float)) for c in cards]
            if detector is not None:
                boxes = np.array([c["box"] for c in cards], float)
                for d in detector([image])[0]:
                    overlaps = _iou(np.array(d.box), boxes)
                    best = int(np.argmax(overlaps))
                    if overlaps[best] >= 0.5:
                        found[best].predicted.append(np.asarray(d.corners, float))
            # the photo as the scan warps it: downsampled where its cards are large (``shrink_for``),
            # so training canvases are filtered the way serving ones are
            photo, scale = shrink_for(np.asarray(image), [e.corners for e in found])
            for example in found:
                example.corners = example.corners * scale
                example.predicted = [p * scale for p in example.predicted]
            photos.append(photo)
            examples += found
    return photos, examples


def best_turn(truth: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The true corners in the order that best matches ``quad``'s (the order the network keeps)."""
    turns = [np.roll(truth, k, axis=0) for k in range(4)]
    return min(turns, key=lambda t: float(np.linalg.norm(t - quad, axis=1).sum()))


def coarse_quad(
    example: Example, rng: np.random.Generator, detector_share: float, wide_share: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(coarse quad, true corners in its order) for one view of an example."""
    diagonal = float(np.linalg.norm(example.corners[2] - example.corners[0]))
    if example.predicted and rng.random() < detector_share:
        quad = example.predicted[int(rng.integers(len(example.predicted)))]
        quad = quad + rng.normal(0, 0.005 * diagonal, (4, 2))
        return quad, best_turn(example.corners, quad)
    target = np.roll(example.corners, int(rng.choice(4, p=ORDER_TURNS)), axis=0)
    wide = rng.random() < wide_share
    sigma = diagonal * (0.08 if wide else float(rng.choice([0.01, 0.03, 0.06], p=[0.35, 0.45, 0.2])))
    angle = np.radians(rng.normal(0, 10.0 if wide else 2.5))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = target.mean(0)
    moved = (target - centre) @ rotation.T * float(np.exp(rng.normal(0, 0.12 if wide else 0.04))) + centre
    quad = moved + rng.normal(0, sigma, 2) + rng.normal(0, 0.6 * sigma, (4, 2))
    return quad, target


def sample(
    photos: list[np.ndarray],
    example: Example,
    rng: np.random.Generator,
    detector_share: float,
    wide_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One (canvas uint8, target corners in canvas pixels), or None when the draw was unusable."""
    quad, target = coarse_quad(example, rng, detector_share, wide_share)
    if not convex(quad):
        return None
    canvas, matrix = warp(photos[example.image], quad)
    inside = apply(np.linalg.inv(matrix), target)
    if (inside < -4).any() or (inside[:, 0] > CANVAS_W + 4).any() or (inside[:, 1] > CANVAS_H + 4).any():
        return None
    return canvas, inside


def augment(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light, contrast and noise changes the scenes do not already vary enough."""
    pixels = canvas.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.normal(0, 12)
    pixels = (pixels - pixels.mean()) * rng.uniform(0.8, 1.2) + pixels.mean()
    if rng.random() < 0.3:
        pixels += rng.normal(0, rng.uniform(2, 8), pixels.shape)
    result: np.ndarray = np.clip(pixels, 0, 255).astype(np.uint8)
    return result


def batch_of(
    photos: list[np.ndarray],
    examples: list[Example],
    rng: np.random.Generator,
    size: int,
    share: float,
    wide_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    canvases: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    while len(canvases) < size:
        drawn = sample(photos, examples[int(rng.integers(len(examples)))], rng, share, wide_share)
        if drawn is not None:
            canvases.append(augment(drawn[0], rng))
            targets.append(drawn[1])
    return to_input(np.stack(canvases)), np.stack(targets).astype(np.float32)


def train_corners(config: CornerConfig, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    detector = CardDetector(config.detector, imgsz=config.detector_imgsz) if config.detector else None
    start = time.perf_counter()
    photos, examples = load_examples(config.data, detector)
    loaded = time.perf_counter() - start
    model = _model()
    if config.init is not None:
        load_weights(model, config.init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps, pct_start=0.1)
    losses: list[float] = []
    running = 0.0
    model.train()
    if config.init is not None:
        freeze_norms(model)
    for step in range(1, config.steps + 1):
        x, y = batch_of(photos, examples, rng, config.batch, config.detector_share, config.wide_share)
        predicted = model(torch.from_numpy(x))
        loss = (predicted - torch.from_numpy(y)).norm(dim=-1).mean() / CARD_DIAGONAL
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running += float(loss.detach())
        if step % 100 == 0 or step == config.steps:
            losses.append(round(100 * running / (100 if step % 100 == 0 else step % 100), 3))
            running = 0.0
            if progress:
                elapsed = time.perf_counter() - start
                progress(f"step {step}/{config.steps}: corner error {losses[-1]:.2f}% of the diagonal, {elapsed:.0f} s")
    model.eval()
    weights, onnx = save_and_export(
        model, config.out, "corners", (2, 3, CANVAS_H, CANVAS_W), input_name="canvas", output_names=["corners"]
    )
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "photos": len(photos),
        "cards": len(examples),
        "cards_found_by_detector": sum(bool(e.predicted) for e in examples),
        "loss_pct_per_100_steps": losses,
        "load_seconds": loaded,
        "seconds": time.perf_counter() - start,
        "config": config_strings(config),
    }


def torch_corners(weights: Path, batch: np.ndarray) -> np.ndarray:
    """The trained torch model's output on ``batch`` (to check the ONNX export against)."""
    import torch

    model = _model()
    model.load_state_dict(torch.load(weights))
    model.eval()
    with torch.no_grad():
        result: np.ndarray = model(torch.from_numpy(batch)).numpy()
    return result


def canvas_error(quad: np.ndarray, truth: np.ndarray) -> float:
    """Mean corner distance as a share of the card's diagonal."""
    return float(np.linalg.norm(quad - truth, axis=1).mean() / np.linalg.norm(truth[2] - truth[0]))


def write_card(result: dict[str, Any], heldout: dict[str, Any], destination: Path, command: str) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "corners.md"
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in heldout.items())
    card.write_text(f"""# Corner network (second stage after the detector)

- What it does: for each card the detector found, the photo is warped into a {CANVAS_W}x{CANVAS_H}
  canvas around the detected quadrilateral (`models/corners.py`); a small U-Net (four heatmaps
  at 1/{STRIDE} resolution, soft-argmax) finds the four corners again; two passes.
- Data: {result["photos"]} synthetic scene photos ({result["cards"]} labelled cards,
  {result["cards_found_by_detector"]} of them found by the shipped detector, whose corners are the
  coarse input for half of the examples; the rest are the true corners moved at random).
- Training command: `{command}`
- Trained on: this 2-core development machine (CPU), {result["seconds"] / 60:.1f} minutes, loss
  (mean corner error in % of the card's diagonal, per 100 steps): {result["loss_pct_per_100_steps"][-5:]} (last five).
- File: `corners.onnx` (dynamic batch, fp32).

## Held-out scenes (other sets and surfaces), detector then this network

`cardvault evaluate --scenes datasets/heldout-s1001 --refine net`

| metric | value |
| --- | --- |
{rows}
""")
    return card
