"""Why the scan missed the labelled cards it missed: the detector's own score for each of them.

    .venv/bin/cardvault evaluate --scenes datasets/heldout-s1001 --refine net --pipeline \
        --rows runs/rows-s1001.jsonl
    .venv/bin/python benchmarks/scan_misses.py --scenes datasets/heldout-s1001 --rows runs/rows-s1001.jsonl

Every photo goes through the shipped detector again at a low threshold (0.05); each card the scan
missed (a row with ``found`` false) gets the best score of the detections whose four corners
outline it: polygon IoU >= ``OUTLINE_IOU`` with its labelled corners. Not by boxes: in a fan a
neighbour's box overlaps a card's at IoU >= 0.5 often enough to credit the card with the
neighbour's detection (seed 1003: 15 of 32 misses, which by their corners were 10). The bands
say where it was lost: under the scan's ``min_score`` (the detector), between
it and ``sure_score`` (a detection the card's own evidence did not vouch for, ``ScanEngine.is_card``),
or above (detected and kept, then paired with another card or dropped as a twin: an identification
error in a fan shows as a miss). Printed as a table by band and by how much of the card was in view.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from models.detector import CardDetector
from models.scan import MIN_SCORE, SURE_SCORE, ModelPaths
from pipelines.evaluate_scan import MIN_VISIBLE, read_jsonl

OUTLINE_IOU = 0.6  # a detection whose corners outline the card this well is its detection
IN_VIEW = ((MIN_VISIBLE, 0.5), (0.5, 0.9), (0.9, 1.01))
BANDS = (
    "no detection",
    f"< {MIN_SCORE} (detector)",
    f"{MIN_SCORE}-{SURE_SCORE} (not vouched for)",
    f">= {SURE_SCORE} (kept, then lost)",
)


def band(score: float) -> str:
    return BANDS[0 if score <= 0 else 1 if score < MIN_SCORE else 2 if score < SURE_SCORE else 3]


def outline_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quadrilaterals (4 x 2 corners, any order round)."""
    hulls = [cv2.convexHull(np.asarray(q, np.float32)) for q in (a, b)]
    inter = float(cv2.intersectConvexConvex(hulls[0], hulls[1])[0])
    union = float(cv2.contourArea(hulls[0]) + cv2.contourArea(hulls[1])) - inter
    return inter / union if union > 0 else 0.0


def missed_scores(scenes: Path, rows: list[dict[str, Any]], detector: CardDetector) -> list[tuple[float, float, str]]:
    """(detector score, share in view, layout) of every missed labelled card."""
    manifest = {row["image"]: row for row in read_jsonl(scenes / "manifest.jsonl")}
    missed: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["found"] is False:  # a labelled card missed (None: a photo's count of false cards)
            missed.setdefault(row["image"], []).append(row)
    out = []
    for image, misses in sorted(missed.items()):
        photo = manifest[image]
        found = detector([Image.open(scenes / image).convert("RGB")], conf=0.05)[0]
        for row in misses:
            label = photo["cards"][row["label"]]
            truth = np.asarray(label["corners"], float)
            score = max((d.score for d in found if outline_iou(d.corners, truth) >= OUTLINE_IOU), default=0.0)
            out.append((score, float(label["visible"]), str(photo["layout"])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--rows", type=Path, required=True, help="from `cardvault evaluate --pipeline --rows`")
    parser.add_argument("--imgsz", type=int, default=416)
    args = parser.parse_args()
    rows = read_jsonl(args.rows)
    detector = CardDetector(ModelPaths().detector, imgsz=args.imgsz, providers=["CPUExecutionProvider"])
    misses = missed_scores(args.scenes, rows, detector)
    print(f"{len(rows)} labelled cards scored, {len(misses)} missed by the scan")
    views = [f"{a:.0%}-{min(b, 1):.0%}" for a, b in IN_VIEW]
    counts = Counter((band(s), next(views[k] for k, (a, b) in enumerate(IN_VIEW) if a <= v < b)) for s, v, _ in misses)
    print(f"| detector score | {' | '.join(views)} in view | all |")
    print("| --- |" + " ---: |" * (len(views) + 1))
    for name in BANDS:
        cells = [counts.get((name, v), 0) for v in views]
        print(f"| {name} | {' | '.join(map(str, cells))} | {sum(cells)} |")
    layouts = Counter(layout for _, _, layout in misses)
    print("by layout: " + ", ".join(f"{k} {v}" for k, v in layouts.most_common()))


if __name__ == "__main__":
    main()
