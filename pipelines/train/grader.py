"""Condition grader: corners, edges and surface subgrades from the rectified card.

Centering is not learned: ``models.centering`` measures it from the printed frame. The network
regresses the three other subgrades (1-10) on rectified cards with known wear, labelled by the
rubric in ``pipelines.render.condition``: cards rendered flat with wear, and cards as the scan
cuts them out of photos (``pipelines.scan_crops``: the detector's and corner network's cut, blur,
noise, JPEG, neighbours over a corner), which is what it grades in service. The overall grade and
TCG condition then follow the same rubric from the four subgrades.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.grading import INPUT_H, INPUT_W, grader_pixels  # training and serving prepare crops alike
from pipelines.export import freeze_norms, load_weights, save_and_export
from pipelines.render.card_face import FaceSpec, render_face
from pipelines.render.condition import apply_wear, grade, overall_grade, sample_condition
from pipelines.train import config_strings

SUBGRADES = ("corners", "edges", "surface")


def worn_example(spec: FaceSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    condition = sample_condition(rng)
    face = apply_wear(
        render_face(spec, centering=(condition.centering_lr, condition.centering_tb)).image, condition, rng
    )
    flat = Image.new("RGB", face.size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    flat.paste(face, (0, 0), face)
    g = grade(condition)
    return grader_pixels(flat), np.array([g.corners, g.edges, g.surface], np.float32)


@dataclass(frozen=True)
class GraderConfig:
    out: Path
    examples: int = 4000
    epochs: int = 8
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    threads: int = 2
    crops: tuple[Path, ...] = ()  # scan-crop sets (``cardvault dataset crops``) to train on as well
    heldout: Path | None = None  # a scan-crop set of held-out scenes to validate on instead of a tenth
    init: Path | None = None  # continue from grader.pt or a shipped grader.onnx


def crop_examples(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A scan-crop set as grader inputs (uint8, to keep memory down) and subgrade labels."""
    from pipelines.scan_crops import read_crops

    inputs, labels = [], []
    for image, row in read_crops(folder):
        inputs.append(grader_pixels(image))
        labels.append([row["grades"][name] for name in (*SUBGRADES, "centering", "overall")])
    return np.stack(inputs), np.asarray(labels, np.float32)


def turned(batch: Any, generator: Any) -> Any:
    """Each card mirrored and/or half a turn round at random: the subgrades (the worst corner, the
    worst edge, the surface) do not change."""
    import torch

    flip_x = torch.rand(len(batch), generator=generator) < 0.5
    flip_y = torch.rand(len(batch), generator=generator) < 0.5
    batch = torch.where(flip_x[:, None, None, None], batch.flip(3), batch)
    return torch.where(flip_y[:, None, None, None], batch.flip(2), batch)


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
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    rendered = [worn_example(pool[int(rng.integers(len(pool)))], rng) for _ in range(config.examples)]
    inputs = [np.stack([e[0] for e in rendered])] if rendered else []
    labels = [np.stack([e[1] for e in rendered])] if rendered else []
    for folder in config.crops:
        x, y = crop_examples(folder)
        inputs.append(x)
        labels.append(y[:, :3])
    if not inputs:
        raise ValueError("nothing to train on: no rendered examples and no crop sets")
    x_all, y_all = torch.from_numpy(np.concatenate(inputs)), torch.from_numpy(np.concatenate(labels))
    rubric = None  # held-out crops: the true centering and overall grade as well
    if config.heldout is not None:
        x_held, y_held = crop_examples(config.heldout)
        x_val, y_val, rubric = torch.from_numpy(x_held), torch.from_numpy(y_held[:, :3]), y_held[:, 3:]
        x_train, y_train = x_all, y_all
    else:
        shuffled = torch.randperm(len(x_all), generator=generator)
        split = max(1, len(x_all) // 10)
        x_val, y_val = x_all[shuffled[:split]], y_all[shuffled[:split]]
        x_train, y_train = x_all[shuffled[split:]], y_all[shuffled[split:]]
    model = _model()
    if config.init is not None:
        load_weights(model, config.init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * -(-len(x_train) // config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(steps, 1), pct_start=0.15)
    start = time.perf_counter()
    losses = []
    for _ in range(config.epochs):
        model.train()
        if config.init is not None:  # the stored statistics stay (folded ones in an ONNX start)
            freeze_norms(model)
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for b in range(0, len(order), config.batch):
            idx = order[b : b + config.batch]
            batch = turned(x_train[idx].float() / 255, generator)
            loss = torch.nn.functional.smooth_l1_loss(model(batch), y_train[idx])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        losses.append(round(total / len(order), 4))
    model.eval()
    with torch.no_grad():
        predicted = np.concatenate([model(x_val[b : b + 64].float() / 255).numpy() for b in range(0, len(x_val), 64)])
    truth = y_val.numpy()
    predicted = np.round(predicted * 2) / 2  # to the nearest half step, as the scan reports them
    errors = np.abs(predicted - truth)
    metrics = {f"{name}_mae": float(errors[:, i].mean()) for i, name in enumerate(SUBGRADES)}
    metrics.update({f"{name}_within_1": float((errors[:, i] <= 1).mean()) for i, name in enumerate(SUBGRADES)})
    metrics["validation_cards"] = float(len(truth))
    if rubric is not None:  # the overall grade from these subgrades and the true centering
        pairs = zip(predicted, rubric[:, 0], strict=True)
        overall = np.array([overall_grade(c, *map(float, p)).overall for p, c in pairs])
        metrics["overall_within_1_true_centering"] = float((np.abs(overall - rubric[:, 1]) <= 1).mean())
    weights, onnx = save_and_export(
        model, config.out, "grader", (2, 3, INPUT_H, INPUT_W), input_name="image", output_names=["subgrades"]
    )
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "loss": losses,
        "metrics": metrics,
        "seconds": time.perf_counter() - start,
        "config": config_strings(config),
    }


def write_card(result: dict[str, Any], destination: Path, command: str) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "grader.md"
    config = result["config"]
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result["metrics"].items())
    start = f"continued from `{config['init']}`" if config.get("init") not in (None, "None") else "from scratch"
    crops = config.get("crops") or "()"
    data = (
        f"{config['examples']} rendered faces of training-set printings with wear sampled by "
        f"`pipelines.render.condition`; scan crops {crops} (`cardvault dataset crops`: cards of training-split "
        "scenes cut out by the shipped detector and corner network), labelled by the rubric"
    )
    validation = (
        f"held-out scan crops `{config['heldout']}`"
        if config.get("heldout") not in (None, "None")
        else "a tenth of the examples held out"
    )
    card.write_text(f"""# Condition grader (corners, edges, surface)

- Architecture: torchvision MobileNetV3-small ({start}), three sigmoid outputs scaled to 1-10;
  input {INPUT_W}x{INPUT_H} RGB (rectified card). Centering is measured geometrically (`models/centering.py`).
- Data: {data}.
- Training command: `{command}`; {result["seconds"] / 60:.1f} minutes on CPU; loss per epoch {result["loss"]}.
- Validation ({validation}): {metrics}
""")
    return card
