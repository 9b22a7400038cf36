"""How often the scan tells right which of two overlapping cards lies on top (``models.rectify.stacking``).

    .venv/bin/python benchmarks/stacking.py --scenes datasets/calib-train-s77 --scenes datasets/heldout-s1001

Each photo's cards are found as the scan finds them (shipped detector, its score threshold, the
corner network, put in portrait order); each found card pairs with the labelled card its box
overlaps most (IoU >= 0.5). For every pair of overlapping found cards that both paired, the truth is
the scene's own order (a card pasted later lies on the earlier ones). Prints, per rule (how many times
one edge's contrast must exceed the other's, and the least contrast the top card's edge must show),
how many pairs it orders right, wrong or leaves unknown, with the contrast measured as now and as until
session 24 (grey levels on the outline itself), and the pairs each scene set got wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from models.rectify import STACK_EDGE, STACK_EVIDENCE, edge_contrasts, on_top
from models.scan import LocalRunners, ScanEngine, decode_photo, portrait_corners
from pipelines.evaluate_scan import _iou, read_jsonl
from serve_app.services.scanner import shipped_engine

Pair = tuple[str, int, int, float | None, float | None, int]  # photo, label i, label j, contrasts, truth


# the contrast as measured until session 24 (grey, on the outline only, 3 px either side), and now
VARIANTS: dict[str, dict[str, Any]] = {"session 8": {"colour": False, "shifts": (0.0,), "offset": 3.0}, "now": {}}


async def pairs_of(engine: ScanEngine, scenes: Path, limit: int | None) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {v: [] for v in VARIANTS}
    for entry in read_jsonl(scenes / "manifest.jsonl")[:limit]:
        image = decode_photo((scenes / entry["image"]).read_bytes())
        rgb = np.asarray(image.convert("RGB"))
        detections = [d for d in await engine.detect(rgb) if d.score >= engine.min_score]
        if len(detections) < 2:
            continue
        corners = await engine.refine_corners(rgb, [d.corners for d in detections], [d.box for d in detections])
        quads = [portrait_corners(c) for c in corners]
        labels: list[int | None] = []
        for d in detections:
            overlaps = [(_iou([float(v) for v in d.box], c["box"]), k) for k, c in enumerate(entry["cards"])]
            best = max(overlaps, default=(0.0, -1))
            labels.append(best[1] if best[0] >= 0.5 else None)
        for variant, kwargs in VARIANTS.items():
            for (i, j), (ci, cj) in edge_contrasts(rgb, quads, **kwargs).items():
                a, b = labels[i], labels[j]
                if a is None or b is None or a == b:
                    continue
                out[variant].append((str(entry["image"]), a, b, ci, cj, 0 if a > b else 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, action="append", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    engine = shipped_engine(ScanEngine, runners=LocalRunners(device="cpu"))
    sets = {scenes: asyncio.run(pairs_of(engine, scenes, args.limit)) for scenes in args.scenes}
    print(f"{'scenes':<28} {'variant':<10} {'ratio':>5} {'edge':>5} {'right':>6} {'wrong':>6} {'unknown':>8}")
    for scenes, variant in itertools.product(sets, VARIANTS):
        pairs = sets[scenes][variant]
        for ratio, edge in itertools.product((1.3, 1.6, 2.0), (0.0, 6.0, 10.0, 15.0)):
            counts = [0, 0, 0]
            for *_, ci, cj, truth in pairs:
                top = on_top(ci, cj, evidence=ratio, edge=edge)
                counts[0 if top == truth else 2 if top is None else 1] += 1
            shipped = "  <- shipped" if (ratio, edge, variant) == (STACK_EVIDENCE, STACK_EDGE, "now") else ""
            right, wrong, unknown = counts
            print(f"{scenes.name:<28} {variant:<10} {ratio:>5} {edge:>5} {right:>6} {wrong:>6} {unknown:>8}{shipped}")
    for scenes, by in sets.items():
        pairs = by["now"]
        print(f"\n{scenes.name}: pairs ordered wrong by the shipped rule (label i, label j, contrasts, truth)")
        for image, a, b, ci, cj, truth in pairs:
            top = on_top(ci, cj)
            if top is not None and top != truth:
                print(f"  {image} {a} {b} {ci} {cj} {'first' if truth == 0 else 'second'} on top")


if __name__ == "__main__":
    main()
