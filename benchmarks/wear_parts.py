"""What the wear network reads of each part of a corner's damage.

    .venv/bin/python benchmarks/wear_parts.py --crops datasets/crops-heldout-s1001 \
        --model models/wear/wear.onnx [--model OTHER.onnx ...]

The rubric's corner damage is 0.6 whitening + 0.3 rounding + 0.5 dings
(``pipelines.render.condition.corner_damages``). For every corner the photo shows in a scan-crop
set, the network's corner output is fitted by least squares against the three parts; a part read at
its full weight gets 1.00, a part the renderer does not draw (or the network does not see) near 0.
Then, for corners with whitening alone, the mean output against the true damage by whitening band:
light whitening read no higher than clean corners is not there to see.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from models.wear import WearNet, scaled
from pipelines.render.condition import CORNER_WEIGHTS as WEIGHTS
from pipelines.render.condition import ConditionParams
from pipelines.scan_crops import read_crops

BANDS = ((0.0, 0.05), (0.05, 0.15), (0.15, 0.25), (0.25, 0.4), (0.4, 1.01))


def corner_readings(model: Path, crops: Path, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(parts (N, 3): whitening, rounding, dings; the network's output (N,)) of every corner shown."""
    net = WearNet(model, device="cpu")
    parts: list[list[float]] = []
    outputs: list[float] = []
    pending: list[tuple[np.ndarray, dict[str, Any]]] = []

    def flush() -> None:
        corners, _ = net.damage(np.stack([card for card, _ in pending]))
        for out, (_, row) in zip(corners, pending, strict=True):
            p = ConditionParams(**row["condition"])
            for k, shown in enumerate(row["keypoint_visible"]):
                if shown:
                    parts.append([p.corner_whitening[k], p.corner_rounding[k], p.corner_dings[k]])
                    outputs.append(float(out[k]))
        pending.clear()

    for image, row in read_crops(crops):
        pending.append((scaled(image), row))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if not outputs:
        raise SystemExit(f"no corner in view in {crops}")
    return np.asarray(parts), np.asarray(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=Path, required=True)
    parser.add_argument("--model", type=Path, action="append", required=True)
    args = parser.parse_args()
    print(f"corners shown in {args.crops}; each part's fitted weight as a share of the rubric's\n")
    print("| model | corners | whitening | rounding | dings | intercept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    bands: dict[str, list[str]] = {}
    for model in args.model:
        x, y = corner_readings(model, args.crops)
        coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)
        shares = [coef[i] / w for i, w in enumerate(WEIGHTS.values())]
        print(f"| {model} | {len(y)} | " + " | ".join(f"{s:.2f}" for s in shares) + f" | {coef[3]:.3f} |")
        alone = (x[:, 1] < 0.05) & (x[:, 2] < 0.05)
        rows = []
        for lo, hi in BANDS:
            band = alone & (x[:, 0] >= lo) & (x[:, 0] < hi)
            if band.any():
                truth = WEIGHTS["whitening"] * x[band, 0].mean()
                rows.append(
                    f"| {model} | {lo:.2f}-{min(hi, 1.0):.2f} | {band.sum()} | {truth:.3f} | {y[band].mean():.3f} |"
                )
        bands[str(model)] = rows
    print("\nCorners with whitening alone (rounding and dings under 0.05): mean damage, true and read\n")
    print("| model | whitening | corners | true damage | network |")
    print("| --- | --- | ---: | ---: | ---: |")
    for rows in bands.values():
        print("\n".join(rows))


if __name__ == "__main__":
    main()
