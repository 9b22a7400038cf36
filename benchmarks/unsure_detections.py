"""Which of the detector's unsure detections are cards, and what each rule for keeping them keeps.

    .venv/bin/python benchmarks/unsure_detections.py --scenes datasets/calib-train-s77 \\
        --scenes datasets/calib-train-s79

Runs the in-process scan engine (shipped models) over labelled scene sets and records, for every
detection the detector is unsure of (``min_score`` <= score < ``sure_score``), the fused reading
(name, number and embedding evidence, confidence) and whether it is a labelled card (box IoU >=
0.5 with a card at least 30% visible). It then prints how many real cards and how many non-cards
each value of ``CARD_SURE`` (models/scan.py) would keep on top of the evidence rule, and what
lowering the scan's ``sure_score`` would add (detections above it are kept whatever they read):
choose them on training-split scenes, never on the held-out ones. A detection the fusion is unsure
of is read twice (before and after the face check); its last reading counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from models.detector import Detection, _iou
from models.matching import Match
from models.scan import (
    CARD_SURE,
    NAME_VOUCHES,
    OVERSIZED,
    ScanEngine,
    name_vouches_at,
    scan_bytes,
    vouched_by_evidence,
)
from pipelines.evaluate_scan import MIN_VISIBLE
from serve_app.services.scanner import shipped_engine

NAME_LEVELS = (0.85, 0.875, 0.9, 0.95, 1.0)  # how close a name read must come to vouch alone


class RecordingEngine(ScanEngine):
    """The scan engine, keeping every detection and recording the unsure ones' readings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # by detection (the last reading), with its size against the photo's sure cards
        self.readings: dict[int, tuple[Detection, Match, float | None]] = {}

    def is_card(self, detection: Detection, match: Match, *, size: float | None = None) -> bool:
        if detection.score < self.sure_score:
            self.readings[id(detection)] = (detection, match, size)
        return super().is_card(detection, match, size=size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, action="append", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    engine = shipped_engine(RecordingEngine)
    rows: list[dict[str, Any]] = []
    for folder in args.scenes:
        entries = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()][: args.limit]
        for entry in entries:
            engine.readings = {}
            asyncio.run(scan_bytes(engine, (folder / entry["image"]).read_bytes()))
            boxes = [c["box"] for c in entry["cards"] if c["visible"] >= MIN_VISIBLE]
            every = [c["box"] for c in entry["cards"]]
            for detection, match, size in engine.readings.values():
                overlap = _iou(np.asarray(detection.box, float), np.asarray(boxes, float)) if boxes else [0.0]
                anything = _iou(np.asarray(detection.box, float), np.asarray(every, float)) if every else [0.0]
                best = match.candidates[0] if match.candidates else None
                evidence = best.evidence if best else {}
                rows.append(
                    {
                        "card": float(np.max(overlap)) >= 0.5,
                        # on no card at all, even one mostly hidden: a wrapper, a box, the background
                        "object": float(np.max(anything)) < 0.1,
                        "evidence": vouched_by_evidence(match, name_at=name_vouches_at(size)),
                        "vouched_at": {
                            at: vouched_by_evidence(match, name_at=name_vouches_at(size, at)) for at in NAME_LEVELS
                        },
                        # what a name alone vouches for, whatever its size (OVERSIZED)
                        "by_name": vouched_by_evidence(match, name_at=NAME_VOUCHES)
                        and not vouched_by_evidence(match, name_at=math.inf),
                        "size": size,
                        "confidence": best.confidence if best else 0.0,
                        "score": detection.score,
                        "read": best.card.name if best and evidence.get("name", 0.0) >= 0.8 else "",
                    }
                )
    cards = sum(r["card"] for r in rows)
    print(f"{len(rows)} unsure detections: {cards} labelled cards, {len(rows) - cards} not cards")
    by_evidence = [r for r in rows if r["evidence"]]
    print(
        f"evidence rule alone keeps {sum(r['card'] for r in by_evidence)} cards and "
        f"{sum(not r['card'] for r in by_evidence)} non-cards"
    )
    objects = [r for r in rows if r["object"] and (r["evidence"] or r["confidence"] >= CARD_SURE)]
    print(f"kept on no card at all (wrappers, boxes, background): {len(objects)} {[r['read'] for r in objects]}")
    # how large the detections a name alone vouches for are, against their photo's sure cards
    for label, group in (("cards", True), ("non-cards", False)):
        sizes = [r["size"] for r in rows if r["by_name"] and r["card"] == group and r["size"] is not None]
        span = f"{min(sizes):.2f}-{max(sizes):.2f}" if sizes else "-"
        print(
            f"a name alone vouches for {len(sizes)} {label} beside sure cards: {span} times their size; "
            f"over OVERSIZED ({OVERSIZED}): {sum(s > OVERSIZED for s in sizes)}"
        )
    # a name read vouching alone for a detection (NAME_VOUCHES): how close it must come to a catalog name
    print(f"{'name vouches at':>15} {'cards kept':>11} {'non-cards':>10} {'on no card':>11}  (with CARD_SURE)")
    for vouch in NAME_LEVELS:
        kept = [r for r in rows if r["vouched_at"][vouch] or r["confidence"] >= CARD_SURE]
        mark = "  <- shipped" if vouch == NAME_VOUCHES else ""
        print(
            f"{vouch:>15} {sum(r['card'] for r in kept):>11} {sum(not r['card'] for r in kept):>10}"
            f" {sum(r['object'] for r in kept):>11}{mark}"
        )
    print(f"{'CARD_SURE':>9} {'+cards':>7} {'+non-cards':>11}")
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        extra = [r for r in rows if not r["evidence"] and r["confidence"] >= threshold]
        mark = "  <- shipped" if threshold == CARD_SURE else ""
        print(f"{threshold:>9} {sum(r['card'] for r in extra):>7} {sum(not r['card'] for r in extra):>11}{mark}")
    # sure_score lowered: detections at or above it are kept with nothing read on them
    print(f"{'sure_score':>10} {'+cards':>7} {'+non-cards':>11}  (kept on top of the shipped rules)")
    for sure in (0.7, 0.65, 0.6, 0.5):
        extra = [r for r in rows if r["score"] >= sure and not r["evidence"] and r["confidence"] < CARD_SURE]
        print(f"{sure:>10} {sum(r['card'] for r in extra):>7} {sum(not r['card'] for r in extra):>11}")


if __name__ == "__main__":
    main()
