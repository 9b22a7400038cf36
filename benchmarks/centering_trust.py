"""How far the centering subgrade should follow the measured shares (``models.grading.CENTERING_TRUST``).

    .venv/bin/python benchmarks/centering_trust.py --scenes datasets/calib-train-s77

Scans a (training-split) scene set in process with the shipped models, then regrades every
matched card with each trust, from the scan's own measured shares and network subgrades, and
prints the share of cards whose centering subgrade and overall grade land within one grade of the
rubric's. Fit it on training-split scenes, never on the held-out set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np

from models.grading import CENTERING_TRUST, centering_subgrade
from models.scan import LocalRunners, ScanEngine, scan_bytes
from pipelines.evaluate_scan import pair_with_labels
from pipelines.render.condition import overall_grade
from serve_app.services.scanner import load_matcher
from serve_app.settings import get_settings

TRUSTS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def regrade(grade: dict[str, Any], trust: float) -> tuple[float, float]:
    """(centering subgrade, overall) of a scanned card's grade with another trust, as
    ``models.grading.combine`` makes them."""
    ratio = grade.get("centering_ratio") or ""
    centering = centering_subgrade(
        grade.get("centering_lr"),
        grade.get("centering_tb"),
        lr_hidden="LR hidden" in ratio,
        tb_hidden="TB hidden" in ratio,
        trust=trust,
    )
    g = overall_grade(centering, grade["corners"], grade["edges"], grade["surface"])
    return g.centering, g.overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    engine = ScanEngine(LocalRunners(device="cpu"), load_matcher(get_settings().resolved_catalog_dir()))
    entries = [json.loads(line) for line in (args.scenes / "manifest.jsonl").read_text().splitlines()][: args.limit]
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for entry in entries:
        payload = asyncio.run(scan_bytes(engine, (args.scenes / entry["image"]).read_bytes()))
        found = payload.result["cards"]
        matched, _, _ = pair_with_labels(found, entry["cards"])
        pairs += [(found[i]["grade"], label) for i, label in matched]
    print(f"{len(pairs)} matched cards of {len(entries)} photos; shipped trust {CENTERING_TRUST}")
    print("| trust | centering subgrade within 1 | overall within 1 | overall MAE |")
    print("| ---: | ---: | ---: | ---: |")
    for trust in TRUSTS:
        regraded = [regrade(grade, trust) for grade, _ in pairs]
        truth = [label["grades"] for _, label in pairs]
        centering = np.array([abs(c - t["centering"]) for (c, _), t in zip(regraded, truth, strict=True)])
        overall = np.array([abs(o - t["overall"]) for (_, o), t in zip(regraded, truth, strict=True)])
        print(f"| {trust} | {(centering <= 1).mean():.3f} | {(overall <= 1).mean():.3f} | {overall.mean():.2f} |")


if __name__ == "__main__":
    main()
