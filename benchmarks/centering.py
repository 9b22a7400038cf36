"""Centering error on a held-out scene set: each fully visible card rectified from its true corners
and from the scan's (detector, then the corner network), its centering measured from the corners'
edges (``margin`` 0) and from the card's own edges in a crop with some photo around it.

    .venv/bin/python benchmarks/centering.py --scenes datasets/heldout-s1001 [--limit 200] [--margin 24]

Prints, per corner source and method, the mean error in percentage points (the mean of the
left/right and top/bottom errors of each card, as ``cardvault evaluate`` reports it), the median,
the share of cards within 2 and 5 points, the cards whose centering could not be measured, and the
time per card; then the edge method's error by game and finish.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from models.centering import measure_centering
from models.corners import CornerRefiner
from models.detector import CardDetector, _iou
from models.rectify import rectify_card, visibility
from models.scan import MODELS_DIR, portrait_corners
from pipelines.scene_dataset import MIN_VISIBLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--margin", type=int, default=24)
    parser.add_argument("--detector", type=Path, default=MODELS_DIR / "detector" / "detector.onnx")
    args = parser.parse_args()

    detector = CardDetector(args.detector, imgsz=416, providers=["CPUExecutionProvider"])
    refiner = CornerRefiner(MODELS_DIR / "corners" / "corners.onnx", providers=["CPUExecutionProvider"])
    entries = [json.loads(line) for line in (args.scenes / "manifest.jsonl").read_text().splitlines()][: args.limit]
    errors: dict[tuple[str, str], list[float]] = defaultdict(list)
    unmeasured: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    groups: dict[str, list[float]] = defaultdict(list)
    for entry in entries:
        image = Image.open(args.scenes / entry["image"])
        rgb = np.asarray(image.convert("RGB"))
        truth = [c for c in entry["cards"] if c["visible"] >= MIN_VISIBLE]
        true_quads = [np.asarray(c["corners"], float) for c in truth]
        predictions = detector([image])[0]
        scan_quads: dict[int, np.ndarray] = {}
        if predictions:
            refined = refiner.refine(rgb, [p.corners for p in predictions], [p.box for p in predictions])
            boxes = np.array([c["box"] for c in truth], float).reshape(-1, 4)
            taken: set[int] = set()
            for p, quad in sorted(zip(predictions, refined, strict=True), key=lambda x: -x[0].score):
                if not len(boxes):
                    break
                overlaps = _iou(np.array(p.box), boxes)
                overlaps[list(taken)] = -1
                best = int(np.argmax(overlaps))
                if overlaps[best] >= 0.5:
                    taken.add(best)
                    q = portrait_corners(quad)
                    # which way up is the identifier's call in the scan; here the truth's
                    turned = np.roll(q, 2, axis=0)
                    far = np.linalg.norm(q - true_quads[best], axis=1).mean()
                    scan_quads[best] = turned if np.linalg.norm(turned - true_quads[best], axis=1).mean() < far else q
        for k, card in enumerate(truth):
            if not all(card["keypoint_visible"]):
                continue
            want = card["condition"]["centering_lr"], card["condition"]["centering_tb"]
            sources = {"true corners": true_quads[k]} | ({"scan corners": scan_quads[k]} if k in scan_quads else {})
            for source, quad in sources.items():
                others = [q for j, q in enumerate(true_quads) if j != k]
                seen = visibility(quad, others, image.size)
                for method, margin in (("corner edges", 0), ("card edges", args.margin)):
                    t = time.perf_counter()
                    measured = measure_centering(rectify_card(rgb, quad, margin=margin), visible=seen, margin=margin)
                    seconds[method] += time.perf_counter() - t
                    if not (measured.lr_measured and measured.tb_measured):
                        unmeasured[(source, method)] += 1
                        continue
                    error = (abs(measured.left_share - want[0]) + abs(measured.top_share - want[1])) * 50
                    errors[(source, method)].append(error)
                    if source == "scan corners" and margin:
                        game = "fab" if card["printing_id"][:1].isupper() else "pokemon"
                        groups[f"{game}, {card['finish']}"].append(error)
    calls = max(sum(len(v) for k, v in errors.items() if k[1] == "corner edges"), 1)
    calls += sum(v for k, v in unmeasured.items() if k[1] == "corner edges")
    print(
        "| corners | centering measured from | cards | mean error (points) | median | within 2 | within 5 "
        "| not measured | ms per card |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (source, method), values in errors.items():
        v = np.array(values)
        print(
            f"| {source} | {method} | {len(v)} | {v.mean():.2f} | {np.median(v):.2f} | {(v <= 2).mean():.3f} | "
            f"{(v <= 5).mean():.3f} | {unmeasured[(source, method)]} | {seconds[method] / calls * 1000:.1f} |"
        )
    print()
    print("| scan corners, card edges: game, finish | cards | mean error | within 2 |")
    print("| --- | ---: | ---: | ---: |")
    for group, values in sorted(groups.items()):
        v = np.array(values)
        print(f"| {group} | {len(v)} | {v.mean():.2f} | {(v <= 2).mean():.3f} |")


if __name__ == "__main__":
    main()
