"""What the text reader's further looks at a strip without a line cost and what they read.

    .venv/bin/python benchmarks/ocr_looks.py --scenes datasets/heldout-s1001 --limit 60

Scans the first ``--limit`` photos of a labelled scene set with the in-process scan engine (shipped
models), each photo once per setting of ``CardOCR.looks`` (1: the detector at its size; 2: then in
grey with the contrast stretched; 3: then top strips at twice the size; 4: then also bottom strips
without a collector line under a name found), the order of the settings turned round from one photo to
the next so that none gets the machine's quieter moments, after one scan of every photo to warm up (a
photo's first scan draws its cards' faces for the face check, ~200 ms: it would fall on whichever setting
came first). Prints per setting the median OCR stage and
whole-scan time per photo, the mean, how many found cards had a catalog name read, how many had their
own name read and how many their own collector number (the labelled card at the found card's box);
then the paired median difference of each setting against the first. ``--settings 3 4`` compares two.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from models.matching import parse_collector, parse_name
from models.scan import LocalRunners, ScanEngine, decode_photo
from pipelines.catalog_sources import normalize_name
from pipelines.evaluate_scan import card_of, pair_with_labels, read_jsonl
from serve_app.services.scanner import shipped_engine

Setting = TypeVar("Setting", bound=Hashable)


def compare(
    scenes: Path,
    limit: int,
    settings: Sequence[Setting],
    apply: Callable[[LocalRunners, Setting], None],
    label: str,
) -> None:
    """Scan each photo once per setting (``apply`` sets it on the runners), alternating the order, and
    print the table described above, the settings' column headed ``label``."""
    runners = LocalRunners(device="cpu")
    engine = shipped_engine(ScanEngine, runners=runners)
    entries = read_jsonl(scenes / "manifest.jsonl")[:limit]
    photos = [decode_photo((scenes / e["image"]).read_bytes()) for e in entries]
    for setting in settings:  # warm up, every setting (a recognizer width's first run picks its kernels)
        apply(runners, setting)
        asyncio.run(engine.scan(photos[0]))
    for photo in photos[1:]:  # and every photo: its first scan draws its cards' faces for the face check
        asyncio.run(engine.scan(photo))
    times: dict[Setting, list[tuple[float, float]]] = {setting: [] for setting in settings}
    named = dict.fromkeys(settings, 0)
    own_name = dict.fromkeys(settings, 0)
    numbered = dict.fromkeys(settings, 0)
    cards = {card.id: card for catalog in engine.matcher.catalogs for card in catalog.cards}
    for k, (entry, photo) in enumerate(zip(entries, photos, strict=True)):
        for setting in settings if k % 2 == 0 else settings[::-1]:
            apply(runners, setting)
            output = asyncio.run(engine.scan(photo))
            times[setting].append((output.timings_ms.get("ocr", 0.0), output.timings_ms["total"]))
            named[setting] += sum(card.ocr["name_score"] > 0 and bool(card.ocr["name"]) for card in output.cards)
            found = [{"box": c.box, "detection_score": c.detection_score} for c in output.cards]
            for i, labelled in pair_with_labels(found, entry["cards"])[0]:
                card = cards.get(card_of(labelled))
                if card is None:
                    continue
                text = output.cards[i].ocr
                own_name[setting] += parse_name(text["name"]) == normalize_name(card.name)
                read = parse_collector(text["collector"])
                numbered[setting] += card.collector_key in (read.get("number"), read.get("identifier"))
    print(f"{len(photos)} photos of {scenes}")
    print(
        f"{label:>8} {'ocr median ms':>14} {'scan median ms':>15} {'scan mean ms':>13} {'names read':>11}"
        f" {'own name':>9} {'own number':>11}"
    )
    for setting in settings:
        t = np.array(times[setting])
        ocr, scan = np.median(t[:, 0]), np.median(t[:, 1])
        print(
            f"{setting!s:>8} {ocr:>14.0f} {scan:>15.0f} {t[:, 1].mean():>13.0f} {named[setting]:>11}"
            f" {own_name[setting]:>9} {numbered[setting]:>11}"
        )
    base = np.array(times[settings[0]])
    for setting in settings[1:]:
        t = np.array(times[setting])
        print(
            f"{label} {setting} - {label} {settings[0]}, paired: ocr median {np.median(t[:, 0] - base[:, 0]):+.0f} ms,"
            f" scan median {np.median(t[:, 1] - base[:, 1]):+.0f} ms, mean {np.mean(t[:, 1] - base[:, 1]):+.0f} ms"
        )


def set_looks(runners: LocalRunners, looks: int) -> None:
    runners.ocr.looks = looks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--settings", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    args = parser.parse_args()
    compare(args.scenes, args.limit, tuple(args.settings), set_looks, "looks")


if __name__ == "__main__":
    main()
