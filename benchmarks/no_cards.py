"""Photos with no card face in them: what the scan keeps as a card, and why.

    .venv/bin/python benchmarks/no_cards.py --photos 80 --styles heldout [--close-up]

Composes photos of negatives only (``pipelines.render.scenes.compose`` with no card: card backs,
booster wrappers, boxes, coins, dice on a surface; seeds 0, 1, 2, ...; with ``--close-up`` one
booster pack, box or card back filling the photo, as a pack photographed alone; with
``--printed-packs`` booster packs only, printed as real ones are: ``pipelines.render.packs``), scans each with the
in-process scan engine (shipped models) and prints every card it kept (each one is wrong) with the
rule that kept it, then the cards reported lying face down. ``--no-back-check`` turns the card-back
check off (``models.scan.BACK_LIKENESS``), ``--no-unread-check`` the check for what shows no card's name
or number (``models.scan.READABLE_SIDE``), to see what each saves.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
from collections import Counter

import numpy as np

import models.scan
from models.detector import Detection
from models.matching import Match
from models.scan import CARD_SURE, ScanEngine, decode_photo, name_vouches_at, vouched_by_evidence
from pipelines.render.backgrounds import HELD_OUT_STYLES, TRAIN_STYLES
from pipelines.render.packs import pack_titles
from pipelines.render.scenes import CLOSEUP, compose
from serve_app.services.scanner import shipped_engine


def kept_by(engine: ScanEngine, score: float, match: Match, size: float | None) -> str:
    """Which of ``ScanEngine.is_card``'s rules kept a detection."""
    if score >= engine.sure_score:
        return "sure detection"
    if vouched_by_evidence(match, name_at=name_vouches_at(size)):
        evidence = match.candidates[0].evidence
        if evidence["number"] > 0:
            return "number read"
        return "name read" if evidence["name"] >= name_vouches_at(size) else "art recognised"
    if match.candidates and match.candidates[0].confidence >= CARD_SURE:
        return "fusion sure"
    return "?"


class Recording(ScanEngine):
    """The scan engine, noting the rule that kept each detection (by its box)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rules: dict[tuple[float, ...], str] = {}

    def is_card(self, detection: Detection, match: Match, *, size: float | None = None) -> bool:
        kept = super().is_card(detection, match, size=size)
        if kept:
            self.rules[tuple(round(float(v), 1) for v in detection.box)] = kept_by(self, detection.score, match, size)
        return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=80)
    parser.add_argument("--styles", choices=("train", "heldout"), default="heldout")
    parser.add_argument("--no-back-check", action="store_true")
    parser.add_argument("--no-unread-check", action="store_true", help="keep what shows no card's name or number")
    parser.add_argument("--close-up", action="store_true", help="one negative filling the photo")
    parser.add_argument(
        "--printed-packs",
        action="store_true",
        help="booster packs only, printed as real ones are (logo, a catalog set's name, art; pipelines.render.packs)",
    )
    args = parser.parse_args()
    if args.no_back_check:
        models.scan.BACK_LIKENESS = math.inf
    if args.no_unread_check:
        models.scan.READABLE_SIDE = math.inf
    engine = shipped_engine(Recording)
    styles = HELD_OUT_STYLES if args.styles == "heldout" else TRAIN_STYLES
    titles, kinds = (pack_titles(engine.matcher.catalogs), ("wrapper",)) if args.printed_packs else (None, None)
    rules: Counter[str] = Counter()
    face_down: Counter[str] = Counter()
    unread = 0
    print(f"{'seed':>4} {'score':>6} {'kept by':<15} {'tier':<5} {'named':<28} {'name read':<20}")
    for seed in range(args.photos):
        scene = compose(
            [],
            np.random.default_rng(seed),
            layout=CLOSEUP if args.close_up else None,
            styles=styles,
            negatives=1 if args.close_up else 2,
            pack_titles=titles,
            negative_kinds=kinds,
        )
        buffer = io.BytesIO()
        scene.image.convert("RGB").save(buffer, "JPEG", quality=90)
        engine.rules = {}
        output = asyncio.run(engine.scan(decode_photo(buffer.getvalue())))
        for card in output.cards:
            rule = engine.rules.get(tuple(card.box), "?")
            rules[rule] += 1
            named = card.candidates[0]["name"] if card.candidates else "-"
            read = card.ocr["name"]
            print(f"{seed:>4} {card.detection_score:>6.3f} {rule:<15} {card.tier:<5} {named:<28} {read:<20}")
        face_down.update(back.game for back in output.face_down)
        unread += len(output.unread)
    print(f"\n{args.photos} photos with no card face: {sum(rules.values())} cards kept {dict(rules)}")
    print(f"reported face down: {sum(face_down.values())} {dict(face_down)}")
    print(f"reported as showing no card's name or number (unread): {unread}")


if __name__ == "__main__":
    main()
