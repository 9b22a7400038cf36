"""What the text reader's further looks at a strip without a line cost and what they read.

    .venv/bin/python benchmarks/ocr_looks.py --scenes datasets/heldout-s1001 --limit 60

Scans the first ``--limit`` photos of a labelled scene set with the in-process scan engine (shipped
models), each photo once per setting of ``CardOCR.looks`` (1: the detector at its size; 2: then in
grey with the contrast stretched; 3: then top strips at twice the size; 4: then also bottom strips
without a collector line under a name found), the order of the settings turned round from one photo to
the next so that none gets the machine's quieter moments. Prints per setting the median OCR stage and
whole-scan time per photo, the mean, how many found cards had a catalog name read and how many had
their own collector number read (the labelled card at the found card's box); then the paired median
difference of each setting against the first. ``--settings 3 4`` compares two.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import numpy as np

from models.matching import parse_collector
from models.scan import LocalRunners, ScanEngine, decode_photo
from pipelines.evaluate_scan import card_of, pair_with_labels, read_jsonl
from serve_app.services.scanner import shipped_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--settings", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    args = parser.parse_args()
    runners = LocalRunners(device="cpu")
    engine = shipped_engine(ScanEngine, runners=runners)
    entries = read_jsonl(args.scenes / "manifest.jsonl")[: args.limit]
    photos = [decode_photo((args.scenes / e["image"]).read_bytes()) for e in entries]
    asyncio.run(engine.scan(photos[0]))  # warm up
    settings = tuple(args.settings)
    times: dict[int, list[tuple[float, float]]] = {looks: [] for looks in settings}
    named: dict[int, int] = dict.fromkeys(settings, 0)
    numbered: dict[int, int] = dict.fromkeys(settings, 0)
    keys = {card.id: card.collector_key for catalog in engine.matcher.catalogs for card in catalog.cards}
    for k, (entry, photo) in enumerate(zip(entries, photos, strict=True)):
        for looks in settings if k % 2 == 0 else settings[::-1]:
            runners.ocr.looks = looks
            output = asyncio.run(engine.scan(photo))
            times[looks].append((output.timings_ms.get("ocr", 0.0), output.timings_ms["total"]))
            named[looks] += sum(card.ocr["name_score"] > 0 and bool(card.ocr["name"]) for card in output.cards)
            found = [{"box": c.box, "detection_score": c.detection_score} for c in output.cards]
            for i, label in pair_with_labels(found, entry["cards"])[0]:
                read = parse_collector(output.cards[i].ocr["collector"])
                numbered[looks] += keys.get(card_of(label)) in (read.get("number"), read.get("identifier"))
    print(f"{len(photos)} photos of {args.scenes}")
    print(
        f"{'looks':>5} {'ocr median ms':>14} {'scan median ms':>15} {'scan mean ms':>13} {'names read':>11}"
        f" {'numbers read':>13}"
    )
    for looks in settings:
        t = np.array(times[looks])
        ocr, scan = np.median(t[:, 0]), np.median(t[:, 1])
        print(f"{looks:>5} {ocr:>14.0f} {scan:>15.0f} {t[:, 1].mean():>13.0f} {named[looks]:>11} {numbered[looks]:>13}")
    base = np.array(times[settings[0]])
    for looks in settings[1:]:
        t = np.array(times[looks])
        print(
            f"looks {looks} - looks {settings[0]}, paired: ocr median {np.median(t[:, 0] - base[:, 0]):+.0f} ms, "
            f"scan median {np.median(t[:, 1] - base[:, 1]):+.0f} ms, mean {np.mean(t[:, 1] - base[:, 1]):+.0f} ms"
        )


if __name__ == "__main__":
    main()
