"""What the recognizer's least width (``models.ocr.REC_MIN_WIDTH``) costs and what it reads.

    .venv/bin/python benchmarks/ocr_width.py --scenes datasets/heldout-s1001 --limit 60 [--widths 320 192]

The text recognizer (PP-OCR, a Conv network, its time linear in the width of its input) reads lines
48 px high, each batch padded to its widest line and to at least this width; PaddleOCR pads to 320.
Scans the first ``--limit`` photos of a labelled scene set in process once per width, the order turned
round from one photo to the next, and prints per width the OCR stage and whole-scan times and how many
found cards had their own name and their own collector number read (``ocr_looks.py``'s table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ocr_looks import compare

from models.scan import LocalRunners


def set_width(runners: LocalRunners, width: int) -> None:
    runners.ocr.text_recognizer.rec_image_shape = [3, 48, width]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--widths", type=int, nargs="+", default=[320, 192])
    args = parser.parse_args()
    compare(args.scenes, args.limit, tuple(args.widths), set_width, "width")


if __name__ == "__main__":
    main()
