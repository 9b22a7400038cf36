"""Train the wear network (``models/wear.py``): the damage of each corner and each edge, from 64x64
patches of scan crops at full crop resolution.

Every labelled card of a scan-crop set (``cardvault dataset crops``: cards of training-split scenes
cut out by the shipped detector and corner network) gives four corner patches labelled with that
corner's damage and two patches of each edge labelled with that edge's, on the rubric's scale
(``pipelines.render.condition``). Corners the label says are out of the photo, and the edges of a
card partly out of view or under another card, are left out. The network has two outputs, the
corner damage (learnt on corner patches) and the edge damage (learnt on edge patches). Measured
on the crops of held-out scenes: per card, the corners and edges subgrades from the worst corner
and edge, within one grade of the rubric's, against the constant that does best.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.wear import CORNERS, EDGE_STRETCHES, EDGES, PATCH, patches, per_card, scaled, to_input
from pipelines.export import save_and_export
from pipelines.render.condition import ConditionParams, corner_damages, damage_subgrade, edge_damages

FULL_VIEW = 0.98  # a card this much in view (and under no other card) has all four edges labelled


@dataclass
class WearExamples:
    patches: np.ndarray  # (N, PATCH, PATCH, 3) uint8
    labels: np.ndarray  # (N, 2): corner damage, edge damage (NaN where the patch does not say)
    corners: np.ndarray  # (cards, 4) true corner damage
    edges: np.ndarray  # (cards, 4) true edge damage
    corner_seen: np.ndarray  # (cards, 4) bool: the corner is in the photo
    edges_seen: np.ndarray  # (cards,) bool: the whole card is in view, under nothing
    every: np.ndarray | None = None  # (cards, PATCHES_PER_CARD, PATCH, PATCH, 3): all of each card's patches


def load_examples(folders: Sequence[Path], *, keep_every: bool = False) -> WearExamples:
    """The labelled patches of scan-crop sets; with ``keep_every`` also every patch of every card,
    as the scan cuts them (to measure per card)."""
    from pipelines.scan_crops import read_crops

    xs: list[np.ndarray] = []
    ys: list[tuple[float, float]] = []
    corners: list[list[float]] = []
    edges: list[list[float]] = []
    seen: list[list[bool]] = []
    whole: list[bool] = []
    every: list[np.ndarray] = []
    for folder in folders:
        for image, row in read_crops(folder):
            condition = ConditionParams(**row["condition"])
            c, e = corner_damages(condition), edge_damages(condition)
            visible = [bool(v) for v in row["keypoint_visible"]]
            in_view = row["visible"] >= FULL_VIEW and row.get("covered", 0.0) < 0.02
            cut = patches(scaled(image))
            if keep_every:
                every.append(cut)
            for k in range(len(CORNERS)):
                if visible[k]:
                    xs.append(cut[k])
                    ys.append((c[k], np.nan))
            if in_view:
                for k in range(len(EDGES)):
                    for s in range(EDGE_STRETCHES):
                        xs.append(cut[len(CORNERS) + k * EDGE_STRETCHES + s])
                        ys.append((np.nan, e[k]))
            corners.append(c)
            edges.append(e)
            seen.append(visible)
            whole.append(in_view)
    if not xs:
        raise ValueError(f"no labelled patches in {', '.join(map(str, folders))}")
    return WearExamples(
        np.stack(xs),
        np.asarray(ys, np.float32),
        np.asarray(corners, np.float32),
        np.asarray(edges, np.float32),
        np.asarray(seen, bool),
        np.asarray(whole, bool),
        np.stack(every) if keep_every else None,
    )


def _model() -> Any:
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class Wear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                *block(3, 24),  # 32 x 32: a stride-2 stem keeps training on two cores to minutes
                nn.Conv2d(24, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(inplace=True),
                *block(32, 48),
                *block(48, 64),
                *block(64, 96),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.head = nn.Linear(96, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.head(self.features(x)))

    return Wear()


@dataclass(frozen=True)
class WearConfig:
    out: Path
    crops: tuple[Path, ...]
    heldout: Path
    epochs: int = 12
    batch: int = 128
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2


def predict(model: Any, x: np.ndarray, batch: int = 512) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate(
            [model(torch.from_numpy(to_input(x[b : b + batch]))).numpy() for b in range(0, len(x), batch)]
        )


def card_metrics(examples: WearExamples, corner_pred: np.ndarray, edge_pred: np.ndarray) -> dict[str, float]:
    """Per card, the corners subgrade from the worst corner it shows and the edges subgrade from its
    worst edge (whole cards only), within one grade of the rubric's; and the best constant's."""
    out: dict[str, float] = {}
    for name, truth, pred, mask in (
        ("corners", examples.corners, corner_pred, examples.corner_seen),
        ("edges", examples.edges, edge_pred, np.repeat(examples.edges_seen[:, None], 4, axis=1)),
    ):
        rows = mask.any(axis=1)
        true = np.array([damage_subgrade(float(t.max())) for t in truth[rows]])
        # as models.grading.combine makes them: the worst part shown through the rubric's formula
        worst = [float(np.where(m, p, 0).max()) for p, m in zip(pred[rows], mask[rows], strict=True)]
        estimate = np.array([damage_subgrade(w) for w in worst])
        out[f"{name}_cards"] = float(rows.sum())
        out[f"{name}_within_1"] = float((np.abs(estimate - true) <= 1).mean())
        out[f"{name}_mae"] = float(np.abs(estimate - true).mean())
        constants = np.arange(5.0, 10.01, 0.5)
        out[f"{name}_within_1_best_constant"] = float(max((np.abs(true - k) <= 1).mean() for k in constants))
        visible_truth = np.where(mask[rows], truth[rows], np.nan)
        flat = ~np.isnan(visible_truth)
        out[f"{name}_patch_r"] = float(np.corrcoef(pred[rows][flat], visible_truth[flat])[0, 1])
    return out


def train_wear(config: WearConfig) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    train = load_examples(config.crops)
    heldout = load_examples([config.heldout], keep_every=True)
    x = torch.from_numpy(train.patches)
    y = torch.from_numpy(train.labels)
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * -(-len(x) // config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(steps, 1), pct_start=0.15)
    start = time.perf_counter()
    losses = []
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for b in range(0, len(order), config.batch):
            idx = order[b : b + config.batch]
            batch = x[idx].permute(0, 3, 1, 2).float() / 255
            # light and contrast as photos vary; a corner patch is the same corner mirrored about
            # its diagonal, an edge patch the same edge mirrored along it
            gain = 0.8 + 0.4 * torch.rand(len(idx), 1, 1, 1, generator=generator)
            shift = 0.1 * (torch.rand(len(idx), 1, 1, 1, generator=generator) - 0.5)
            batch = (batch * gain + shift).clamp(0, 1)
            target = y[idx]
            corner = ~torch.isnan(target[:, 0])
            swap = torch.rand(len(idx), generator=generator) < 0.5
            batch = torch.where((swap & corner)[:, None, None, None], batch.transpose(2, 3), batch)
            batch = torch.where((swap & ~corner)[:, None, None, None], batch.flip(3), batch)
            out = model(batch)
            known = ~torch.isnan(target)
            loss = torch.nn.functional.smooth_l1_loss(out[known], target[known], beta=0.1)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        losses.append(round(total / len(order), 5))
    seconds = time.perf_counter() - start
    assert heldout.every is not None
    corner_pred, edge_pred = per_card(predict(model, heldout.every.reshape(-1, PATCH, PATCH, 3)))
    metrics = card_metrics(heldout, corner_pred, edge_pred)
    metrics["training_patches"] = float(len(x))
    weights, onnx = save_and_export(
        model, config.out, "wear", (2, 3, PATCH, PATCH), input_name="patches", output_names=["damage"]
    )
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "loss": losses,
        "metrics": metrics,
        "seconds": seconds,
        "config": {k: str(v) for k, v in asdict(config).items()},
    }


def write_card(result: dict[str, Any], destination: Path, command: str) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "wear.md"
    config, m = result["config"], result["metrics"]
    rows = "\n".join(
        f"| {name} | {int(m[f'{name}_cards'])} | {m[f'{name}_within_1']:.3f} "
        f"| {m[f'{name}_within_1_best_constant']:.3f} | {m[f'{name}_mae']:.2f} | {m[f'{name}_patch_r']:.3f} |"
        for name in ("corners", "edges")
    )
    card.write_text(f"""# Wear network (each corner's and edge's damage)

- Architecture: a small CNN (five 3x3 convolution blocks, stride-2 stem, global pooling, two sigmoid
  outputs: corner damage, edge damage on the rubric's 0-1 scale); input 64x64 RGB patches of the
  rectified card at the scan-crop scale (315x440): each corner turned top left, two stretches of
  each edge turned to run along the top (`models/wear.py`).
- Data: {int(m["training_patches"])} labelled patches of the scan-crop sets {config["crops"]} (`cardvault dataset
  crops`: cards of training-split scenes cut out by the shipped detector and corner network),
  corners out of the photo and the edges of cards partly hidden left out.
- Training command: `{command}`; {result["seconds"] / 60:.1f} minutes on this CPU; loss per epoch {result["loss"]}.
- Measured on the held-out crops `{config["heldout"]}`, per card, as the scan uses it (the worst
  corner shown and the worst edge of a card in full view, through the rubric's 10 - 8 x damage, half
  steps down):

| subgrade | cards | within 1 of the rubric | the best constant | MAE | patch r |
| --- | ---: | ---: | ---: | ---: | ---: |
{rows}
""")
    return card
