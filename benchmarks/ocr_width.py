"""What the room the text recognizer gets around each line costs and what it reads.

    .venv/bin/python benchmarks/ocr_width.py --scenes datasets/heldout-s1001 --limit 60 [--settings 6.67:0 1:0.5]

The recognizer (PP-OCR, a Conv network, its time linear in the width of its input) reads lines 48 px
high in batches of like width, each line padded to its batch's widest line, to ``least`` heights at
least, and ``pad`` heights more (``models.ocr.CardOCR.recognize``). PaddleOCR pads to 320 px, 6.67
heights: ``6.67:0``; the scan's default is ``1:0.5`` (``models.ocr.REC_PAD``). Scans the first
``--limit`` photos of a labelled scene set in process once per setting ``least:pad``, the order turned
round from one photo to the next, and prints per setting the OCR stage and whole-scan times and how many
found cards had their own name and their own collector number read (``ocr_looks.py``'s table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ocr_looks import compare

from models.scan import LocalRunners


def set_room(runners: LocalRunners, setting: str) -> None:
    least, pad = (float(part) for part in setting.split(":"))
    runners.ocr.least, runners.ocr.pad = least, pad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--settings", nargs="+", default=["6.67:0", "1:0.5"], help="least:pad, in heights")
    args = parser.parse_args()
    compare(args.scenes, args.limit, tuple(args.settings), set_room, "least:pad")


if __name__ == "__main__":
    main()
