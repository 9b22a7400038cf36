"""Fit the wear calibration: how the worst corner and edge the photo shows become the card's.

The scan engine runs over labelled training-split scenes; every detected card that overlaps a
labelled card gives a reading: the wear network's damage of each corner and edge, which of them
the photo shows, the scan's centering and surface subgrades, and the rubric's true overall grade.
A grid search chooses the corner and edge scales (on the cards seen whole), then, one hidden count
at a time, the damage added when that many corners or edges are hidden, each where the overall grade
comes within one of the truth most often, among equals with the smallest mean error
(``models.grading.WearCalibration``).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.grading import CORNER_DAMAGE, EDGE_DAMAGE, NETWORK, WearCalibration, edge_readings, patches_seen
from models.scan import ScanEngine
from pipelines.evaluate_scan import read_jsonl, scan_labelled, write_jsonl
from pipelines.render.condition import damage_subgrade, overall_grade

SCALES = tuple(float(v) for v in np.round(np.arange(0.9, 1.41, 0.05), 2))
OFFSETS = tuple(float(v) for v in np.round(np.arange(0.0, 0.201, 0.025), 3))
MIN_READINGS = 20


@dataclass(frozen=True)
class GradeReading:
    truth: float  # the rubric's overall grade of the labelled card
    centering: float  # the scan's centering and surface subgrades
    surface: float
    network: tuple[float, float]  # the grader network's corners and edges (all of them hidden)
    corner_damage: tuple[float, ...]  # the wear network's, TL TR BR BL
    edge_damage: tuple[float, ...]  # top right bottom left: the worst stretch shown (models.grading.edge_readings)
    corners_seen: tuple[bool, ...]
    edges_seen: tuple[bool, ...]


async def collect_grade_readings(
    engine: ScanEngine, scenes: Path, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> list[GradeReading]:
    """Scan every photo of a scene set and keep the grade readings of the detected cards that match a label."""
    readings = []
    async for card, label in scan_labelled(engine, scenes, limit, progress):
        if card.grade_row is None or np.isnan(card.grade_row[CORNER_DAMAGE]).any():
            continue  # no wear network
        corners, stretches = patches_seen(card.visible)
        edge_damage, edges = edge_readings(card.grade_row[EDGE_DAMAGE], stretches)
        row = [round(float(v), 4) for v in card.grade_row]
        readings.append(
            GradeReading(
                float(label["grades"]["overall"]),
                float(card.grade["centering"]),
                float(card.grade["surface"]),
                (row[NETWORK][0], row[NETWORK][1]),
                tuple(row[CORNER_DAMAGE]),
                tuple(round(float(v), 4) for v in edge_damage),
                tuple(bool(v) for v in corners),
                tuple(bool(v) for v in edges),
            )
        )
    return readings


def save_grade_readings(readings: Sequence[GradeReading], path: Path) -> None:
    write_jsonl(readings, path)


def load_grade_readings(path: Path) -> list[GradeReading]:
    return [
        GradeReading(
            r["truth"],
            r["centering"],
            r["surface"],
            tuple(r["network"]),
            tuple(r["corner_damage"]),
            tuple(r["edge_damage"]),
            tuple(r["corners_seen"]),
            tuple(r["edges_seen"]),
        )
        for r in read_jsonl(path)
    ]


def overall(calibration: WearCalibration, r: GradeReading) -> float:
    """The overall grade the scan gives a reading's card under ``calibration``."""
    subgrades = []
    for damage, seen, network, edges in (
        (r.corner_damage, r.corners_seen, r.network[0], False),
        (r.edge_damage, r.edges_seen, r.network[1], True),
    ):
        worst = calibration.worst(np.asarray(damage), np.asarray(seen, bool), edges=edges)
        subgrades.append(round(network * 2) / 2 if worst is None else damage_subgrade(worst))
    return overall_grade(r.centering, subgrades[0], subgrades[1], r.surface).overall


def measure(calibration: WearCalibration, readings: Sequence[GradeReading]) -> dict[str, float]:
    signed = np.array([overall(calibration, r) - r.truth for r in readings])
    errors = np.abs(signed)
    return {
        "readings": float(len(readings)),
        "within_1": float((errors <= 1).mean()),
        "mae": float(errors.mean()),
        "over_graded_by_more_than_1": float((signed > 1).mean()),
    }


def fit_calibration(readings: Sequence[GradeReading]) -> WearCalibration:
    """The scales (on the cards seen whole), then each hidden count's offset, by grid search for the
    most overall grades within one."""
    if len(readings) < MIN_READINGS:
        raise ValueError(f"{len(readings)} readings are too few to fit the wear calibration (at least {MIN_READINGS})")

    def score(c: WearCalibration, chosen: Sequence[GradeReading] = readings) -> tuple[float, float]:
        """Most overall grades within one; among equals, the smallest mean error."""
        m = measure(c, chosen)
        return m["within_1"], -m["mae"]

    # the scales say how the network reads what it sees: fitted on the cards it sees whole (the
    # hidden offsets would otherwise leak into them)
    whole = [r for r in readings if all(r.corners_seen) and all(r.edges_seen)]
    basis = whole if len(whole) >= MIN_READINGS else readings
    best = max(
        (WearCalibration(corner, edge) for corner in SCALES for edge in SCALES),
        key=lambda c: (*score(c, basis), -abs(c.corner_scale - 1) - abs(c.edge_scale - 1)),  # then: nearest as read
    )
    corner_hidden, edge_hidden = list(best.corner_hidden), list(best.edge_hidden)
    for hidden in (1, 2, 3):
        for offsets in (corner_hidden, edge_hidden):
            choices = []
            for value in OFFSETS:
                offsets[hidden] = value
                trial = WearCalibration(best.corner_scale, best.edge_scale, tuple(corner_hidden), tuple(edge_hidden))
                choices.append((*score(trial), -value))
            offsets[hidden] = -max(choices)[2]  # the best score, the smallest offset among equals
    return WearCalibration(best.corner_scale, best.edge_scale, tuple(corner_hidden), tuple(edge_hidden))


@dataclass
class CalibrationResult:
    calibration: WearCalibration
    fitted_on: int
    measured_on: int
    before: dict[str, float]
    seconds: float


def fit_and_measure(training: Sequence[GradeReading], heldout: Sequence[GradeReading]) -> CalibrationResult:
    """Fit on the training readings; measure as read and calibrated on the held-out ones."""
    start = time.perf_counter()
    fitted = fit_calibration(training)
    metrics = measure(fitted, heldout)
    calibration = WearCalibration(
        fitted.corner_scale, fitted.edge_scale, fitted.corner_hidden, fitted.edge_hidden, metrics
    )
    return CalibrationResult(
        calibration, len(training), len(heldout), measure(WearCalibration(), heldout), time.perf_counter() - start
    )


def write_card(
    result: CalibrationResult, destination: Path, *, command: str, sources: list[str], heldout: list[str]
) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    result.calibration.save(destination / "calibration.json")
    c = result.calibration
    rows = "\n".join(
        f"| {k} | {result.before[k]:.4f} | {v:.4f} |"
        for k, v in c.metrics.items()
        if k in result.before and k != "readings"
    )
    card = destination / "calibration.md"
    card.write_text(f"""# Wear calibration (the worst corner and edge of a card from those the photo shows)

`models/grading.py` (`WearCalibration`), fitted by `pipelines/train/wear_calibration.py`: the wear
network's worst corner (edge) damage the photo shows, times a scale, plus a damage added per corner
(edge) hidden under another card or out of the photo, goes through the rubric (10 - 8 x damage).

- **Readings**: cards detected by the shipped detector in {", ".join(f"`{s}`" for s in sources)}
  (training split), graded by the shipped grader and wear networks, paired with their labels:
  {result.fitted_on} readings. Measured on {result.measured_on} readings of {", ".join(f"`{s}`" for s in heldout)}.
- **Training command**: `{command}` ({result.seconds:.0f} s to fit on {platform.machine()} CPU).

| | corners | edges |
| --- | ---: | ---: |
| scale | {c.corner_scale:.2f} | {c.edge_scale:.2f} |
| added with 1 hidden | {c.corner_hidden[1]:.3f} | {c.edge_hidden[1]:.3f} |
| added with 2 hidden | {c.corner_hidden[2]:.3f} | {c.edge_hidden[2]:.3f} |
| added with 3 hidden | {c.corner_hidden[3]:.3f} | {c.edge_hidden[3]:.3f} |

## Overall grade of the held-out readings

| metric | as read | calibrated |
| --- | ---: | ---: |
{rows}
""")
    return card
