"""Where the scan loses labelled cards of a scene set, by cause, and a table of the lost cards.

    .venv/bin/python benchmarks/scan_losses.py --scenes datasets/heldout-s1001 --limit 60

Runs the in-process scan engine (shipped models) over the photos and pairs its cards with the
labels as `cardvault evaluate --pipeline` does. For every labelled card (visible share >= 0.3)
it did not return, the detector is run again at a low threshold to tell the cause: no detection
at all, a detection below the scan's threshold, or a detection the scan dropped after reading it
(an unsure detection the card did not vouch for, or, for a sure one, a card of a fan paired with
its neighbour or kept once as a duplicate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from pathlib import Path

from PIL import Image

from models.scan import LocalRunners, ScanEngine, scan_bytes
from pipelines.evaluate_scan import MIN_VISIBLE, _iou, pair_with_labels
from serve_app.services.scanner import shipped_engine


def cause(score: float, engine: ScanEngine) -> str:
    if score == 0.0:
        return "no detection"
    if score < engine.min_score:
        return "below the scan's threshold"
    if score < engine.sure_score:
        return "unsure detection dropped after reading"
    return "sure detection paired elsewhere or a duplicate"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    runners = LocalRunners(device="cpu")
    engine = shipped_engine(ScanEngine, runners=runners)
    entries = [json.loads(line) for line in (args.scenes / "manifest.jsonl").read_text().splitlines()][: args.limit]
    causes: Counter[str] = Counter()
    by_finish: Counter[str] = Counter()
    labelled = 0
    rows = []
    for entry in entries:
        path = args.scenes / entry["image"]
        found = asyncio.run(scan_bytes(engine, path.read_bytes())).result["cards"]
        pairs, _, _ = pair_with_labels(found, entry["cards"])
        matched = [id(label) for _, label in pairs]
        detections = runners.detector([Image.open(path).convert("RGB")], conf=0.05)[0]
        for label in entry["cards"]:
            if label["visible"] < MIN_VISIBLE:
                continue
            labelled += 1
            if id(label) in matched:
                continue
            overlapping = [d.score for d in detections if _iou([float(v) for v in d.box], label["box"]) >= 0.5]
            why = cause(max(overlapping, default=0.0), engine)
            causes[why] += 1
            by_finish[label["finish"].removeprefix("first_edition_")] += 1
            rows.append((entry["image"], label["printing_id"], entry["layout"], label["visible"], why))
    print(f"{len(entries)} photos, {labelled} labelled cards, {sum(causes.values())} not returned\n")
    print(f"{'cause':<50} {'cards':>6}")
    for why, n in causes.most_common():
        print(f"{why:<50} {n:>6}")
    print(f"\n{'finish of the lost cards':<50} {'cards':>6}")
    for finish, n in by_finish.most_common():
        print(f"{finish:<50} {n:>6}")
    print(f"\n{'photo':<24} {'printing':<40} {'layout':<7} {'visible':>7}  cause")
    for image, printing, layout, visible, why in rows:
        print(f"{image:<24} {printing:<40} {layout:<7} {visible:>7.2f}  {why}")


if __name__ == "__main__":
    main()
