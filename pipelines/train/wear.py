"""Train the wear network (``models/wear.py``): the damage of each corner and each edge, from 64x64
patches of scan crops at full crop resolution.

Every labelled card of a scan-crop set (``cardvault dataset crops``: cards of training-split scenes
cut out by the shipped detector and corner network) gives four corner patches labelled with that
corner's damage, and each of its edges the six stretches that cover it, labelled together with that
edge's damage, on the rubric's scale (``pipelines.render.condition``). The damage of an edge is its
worst stretch's (a chip is where it is, not along the whole edge), so an edge is learnt as the scan
reads it: the loss is on the largest of its stretches' outputs (multiple-instance learning), not on
each stretch, which would teach the stretches without the chip that they show it. Corners the label
says are out of the photo, and the edges of a card partly out of view or under another card, are
left out. The network has two outputs, the corner damage (learnt on corner patches) and the edge
damage (learnt on edge stretches). Measured on the crops of held-out scenes: per card, the corners
and edges subgrades from the worst corner and edge, within one grade of the rubric's, against the
constant that does best.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.wear import CORNERS, EDGE_STRETCHES, EDGES, PATCH, patches, per_card, scaled, to_input
from pipelines.export import save_and_export
from pipelines.render.condition import ConditionParams, corner_damages, damage_subgrade, edge_damages
from pipelines.train import config_strings

FULL_VIEW = 0.98  # a card this much in view (and under no other card) has all four edges labelled


@dataclass
class WearExamples:
    corner_patches: np.ndarray  # (C, PATCH, PATCH, 3) uint8: corners in the photo
    corner_labels: np.ndarray  # (C,) each one's damage
    edge_patches: np.ndarray  # (E, EDGE_STRETCHES, PATCH, PATCH, 3) uint8: the stretches of edges in full view
    edge_labels: np.ndarray  # (E,) each edge's damage
    corners: np.ndarray  # (cards, 4) true corner damage
    edges: np.ndarray  # (cards, 4) true edge damage
    corner_seen: np.ndarray  # (cards, 4) bool: the corner is in the photo
    edges_seen: np.ndarray  # (cards,) bool: the whole card is in view, under nothing
    every: np.ndarray | None = None  # (cards, PATCHES_PER_CARD, PATCH, PATCH, 3): all of each card's patches


def load_examples(folders: Sequence[Path], *, keep_every: bool = False) -> WearExamples:
    """The labelled corners and edges of scan-crop sets; with ``keep_every`` also every patch of
    every card, as the scan cuts them (to measure per card)."""
    from pipelines.scan_crops import read_crops

    corner_x: list[np.ndarray] = []
    corner_y: list[float] = []
    edge_x: list[np.ndarray] = []
    edge_y: list[float] = []
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
                    corner_x.append(cut[k])
                    corner_y.append(c[k])
            if in_view:
                stretches = cut[len(CORNERS) :].reshape(len(EDGES), EDGE_STRETCHES, *cut.shape[1:])
                for k in range(len(EDGES)):
                    edge_x.append(stretches[k])
                    edge_y.append(e[k])
            corners.append(c)
            edges.append(e)
            seen.append(visible)
            whole.append(in_view)
    if not corner_x:
        raise ValueError(f"no labelled patches in {', '.join(map(str, folders))}")
    shape = (0, EDGE_STRETCHES, PATCH, PATCH, 3)
    return WearExamples(
        np.stack(corner_x),
        np.asarray(corner_y, np.float32),
        np.stack(edge_x) if edge_x else np.zeros(shape, np.uint8),
        np.asarray(edge_y, np.float32),
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
    batch: int = 128  # corner patches per step
    edge_batch: int = 64  # edges per step (each EDGE_STRETCHES patches)
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2
    init: Path | None = None  # continue from wear.pt or a shipped wear.onnx


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


def _augment(batch: Any, generator: Any, *, corners: bool) -> Any:
    """Light and contrast as photos vary; a corner patch is the same corner mirrored about its
    diagonal, an edge patch the same edge mirrored along it."""
    import torch

    n = len(batch)
    gain = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    shift = 0.1 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    batch = (batch * gain + shift).clamp(0, 1)
    swap = (torch.rand(n, generator=generator) < 0.5)[:, None, None, None]
    return torch.where(swap, batch.transpose(2, 3) if corners else batch.flip(3), batch)


def train_wear(config: WearConfig, on_epoch: Callable[[int, float, float], None] | None = None) -> dict[str, Any]:
    """Train, measure on the held-out crops and export; ``on_epoch(epoch, mean loss, seconds so
    far)`` after each epoch (a run here takes about an hour)."""
    import torch

    from pipelines.export import freeze_norms, load_weights

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    train = load_examples(config.crops)
    heldout = load_examples([config.heldout], keep_every=True)
    corner_x, corner_y = torch.from_numpy(train.corner_patches), torch.from_numpy(train.corner_labels)
    edge_x, edge_y = torch.from_numpy(train.edge_patches), torch.from_numpy(train.edge_labels)
    model = _model()
    if config.init is not None:
        load_weights(model, config.init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    # each step takes a batch of corners and a batch of edges; an epoch goes once through the
    # larger of the two (the other wraps round)
    per_epoch = max(-(-len(corner_x) // config.batch), -(-len(edge_x) // config.edge_batch), 1)
    steps = config.epochs * per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps, pct_start=0.15)
    start = time.perf_counter()
    losses = []
    for epoch in range(config.epochs):
        model.train()
        if config.init is not None:
            freeze_norms(model)  # the stored statistics stay (folded ones in an ONNX start)
        corner_order = torch.randperm(len(corner_x), generator=generator)
        edge_order = torch.randperm(max(len(edge_x), 1), generator=generator)
        total = 0.0
        for step in range(per_epoch):
            ci = corner_order[torch.arange(step * config.batch, (step + 1) * config.batch) % len(corner_x)]
            corner_batch = _augment(corner_x[ci].permute(0, 3, 1, 2).float() / 255, generator, corners=True)
            parts = [corner_batch]
            ei = torch.zeros(0, dtype=torch.long)
            if len(edge_x):
                ei = edge_order[torch.arange(step * config.edge_batch, (step + 1) * config.edge_batch) % len(edge_x)]
                stretches = edge_x[ei].reshape(-1, PATCH, PATCH, 3).permute(0, 3, 1, 2).float() / 255
                parts.append(_augment(stretches, generator, corners=False))
            out = model(torch.cat(parts))
            smooth = torch.nn.functional.smooth_l1_loss
            loss = smooth(out[: len(ci), 0], corner_y[ci], beta=0.1)
            if len(ei):
                # an edge's damage is its worst stretch's: the loss is on the largest output
                worst = out[len(ci) :, 1].reshape(len(ei), EDGE_STRETCHES).amax(dim=1)
                loss = loss + smooth(worst, edge_y[ei], beta=0.1)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
        losses.append(round(total / per_epoch, 5))
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1], time.perf_counter() - start)
    seconds = time.perf_counter() - start
    assert heldout.every is not None
    corner_pred, edge_pred = per_card(predict(model, heldout.every.reshape(-1, PATCH, PATCH, 3)))
    metrics = card_metrics(heldout, corner_pred, edge_pred)
    metrics["training_corners"] = float(len(corner_x))
    metrics["training_edges"] = float(len(edge_x))
    weights, onnx = save_and_export(
        model, config.out, "wear", (2, 3, PATCH, PATCH), input_name="patches", output_names=["damage"]
    )
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "loss": losses,
        "metrics": metrics,
        "seconds": seconds,
        "config": config_strings(config),
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
  rectified card at the scan-crop scale (315x440): each corner turned top left, six stretches
  covering each edge turned to run along the top (`models/wear.py`); an edge's damage is its worst
  stretch's, and it is trained that way (the loss on the largest of an edge's six outputs).
- Data: {int(m["training_corners"])} labelled corners and {int(m["training_edges"])} labelled edges of the scan-crop
  sets {config["crops"]} (`cardvault dataset crops`: cards of training-split scenes cut out by the
  shipped detector and corner network), corners out of the photo and the edges of cards partly
  hidden left out. {"Continued from " + config["init"] + "." if config["init"] != "None" else "From scratch."}
- Training command: `{command}`; {result["seconds"] / 60:.1f} minutes on this CPU; loss per epoch {result["loss"]}.
- Measured on the held-out crops `{config["heldout"]}`, per card, as the scan uses it (the worst
  corner shown and the worst edge of a card in full view, through the rubric's 10 - 8 x damage, half
  steps down):

| subgrade | cards | within 1 of the rubric | the best constant | MAE | patch r |
| --- | ---: | ---: | ---: | ---: | ---: |
{rows}
""")
    return card
