"""Condition grader: corners, edges and surface subgrades from the rectified card.

Centering is not learned: ``models.centering`` measures it from the printed frame. The network
regresses the three other subgrades (1-10) on rectified cards rendered with known wear, labelled
by the rubric in ``pipelines.render.condition``; the overall grade and TCG condition then follow
the same rubric from the four subgrades.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.grading import INPUT_H, INPUT_W
from models.grading import grader_input as to_input  # training and serving prepare crops alike
from pipelines.export import torch_to_onnx
from pipelines.render.card_face import FaceSpec, render_face
from pipelines.render.condition import apply_wear, grade, sample_condition

SUBGRADES = ("corners", "edges", "surface")


def worn_example(spec: FaceSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    condition = sample_condition(rng)
    face = apply_wear(
        render_face(spec, centering=(condition.centering_lr, condition.centering_tb)).image, condition, rng
    )
    flat = Image.new("RGB", face.size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    flat.paste(face, (0, 0), face)
    g = grade(condition)
    return to_input(flat), np.array([g.corners, g.edges, g.surface], np.float32)


@dataclass(frozen=True)
class GraderConfig:
    out: Path
    examples: int = 4000
    epochs: int = 8
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    threads: int = 2


def _model() -> Any:
    import torch
    from torchvision.models import mobilenet_v3_small

    net = mobilenet_v3_small(weights=None, num_classes=len(SUBGRADES))

    class Grader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return 1 + 9 * torch.sigmoid(self.net(x))  # subgrades live in [1, 10]

    return Grader()


def train_grader(config: GraderConfig, pool: Sequence[FaceSpec]) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    examples = [worn_example(pool[int(rng.integers(len(pool)))], rng) for _ in range(config.examples)]
    split = max(1, len(examples) // 10)
    val, train = examples[:split], examples[split:]
    x_train = torch.from_numpy(np.stack([e[0] for e in train]))
    y_train = torch.from_numpy(np.stack([e[1] for e in train]))
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    start = time.perf_counter()
    losses = []
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(train))
        total = 0.0
        for b in range(0, len(order), config.batch):
            idx = order[b : b + config.batch]
            loss = torch.nn.functional.smooth_l1_loss(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        losses.append(round(total / len(order), 4))
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(np.stack([e[0] for e in val]))).numpy()
    truth = np.stack([e[1] for e in val])
    errors = np.abs(predicted - truth)
    metrics = {f"{name}_mae": float(errors[:, i].mean()) for i, name in enumerate(SUBGRADES)}
    metrics.update({f"{name}_within_1": float((errors[:, i] <= 1).mean()) for i, name in enumerate(SUBGRADES)})
    config.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), config.out / "grader.pt")
    onnx = config.out / "grader.onnx"
    torch_to_onnx(model, (2, 3, INPUT_H, INPUT_W), onnx, input_name="image", output_names=["subgrades"])
    return {
        "weights": str(config.out / "grader.pt"),
        "onnx": str(onnx),
        "loss": losses,
        "metrics": metrics,
        "seconds": time.perf_counter() - start,
        "config": {k: str(v) for k, v in asdict(config).items()},
    }


def write_card(result: dict[str, Any], destination: Path, command: str) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "grader.md"
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result["metrics"].items())
    card.write_text(f"""# Condition grader (corners, edges, surface)

- Architecture: torchvision MobileNetV3-small from scratch, three sigmoid outputs scaled to 1-10;
  input {INPUT_W}x{INPUT_H} RGB (rectified card). Centering is measured geometrically (`models/centering.py`).
- Data: rendered faces of training-set printings with wear sampled by `pipelines.render.condition`,
  labelled by its rubric; a tenth held out for validation.
- Training command: `{command}`; {result["seconds"] / 60:.1f} minutes on CPU; loss per epoch {result["loss"]}.
- Validation: {metrics}
""")
    return card
