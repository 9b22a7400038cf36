"""The wear calibration: the worst corner and edge of a card from those the photo shows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.grading import GRADE_COLUMNS, WearCalibration, combine
from pipelines.catalog_sources import Catalog
from pipelines.render.condition import damage_subgrade, overall_grade
from pipelines.train.wear_calibration import (
    GradeReading,
    fit_and_measure,
    fit_calibration,
    load_grade_readings,
    measure,
    save_grade_readings,
)


def test_worst_scales_what_is_shown_and_adds_for_what_is_hidden() -> None:
    c = WearCalibration(1.2, 1.0, (0.0, 0.05, 0.1, 0.15), (0.0, 0.0, 0.0, 0.0))
    damage = np.array([0.1, 0.3, 0.2, 0.9])
    assert c.worst(damage, np.array([True, True, True, True])) == pytest.approx(min(1.0, 0.9 * 1.2))
    # the corner read as worst is hidden: it does not count, and two hidden corners add 0.1
    assert c.worst(damage, np.array([True, True, False, False])) == pytest.approx(0.3 * 1.2 + 0.1)
    assert c.worst(damage, np.array([True, True, False, False]), edges=True) == pytest.approx(0.3)
    assert c.worst(damage, np.zeros(4, bool)) is None
    assert WearCalibration().worst(damage, np.array([True, False, True, True])) == pytest.approx(0.9)


def test_combine_grades_a_card_with_hidden_corners_down_by_the_calibration() -> None:
    card = Image.new("RGB", (630, 880), (200, 40, 40))
    row = np.full(GRADE_COLUMNS, 0.1, np.float32)
    row[:3] = 9.5
    visible = np.ones((88, 63), bool)
    visible[:, :20] = False  # the left third under another card: TL and BL hidden
    calibration = WearCalibration(1.0, 1.0, (0.0, 0.0, 0.25, 0.0), (0.0, 0.0, 0.0, 0.0))
    as_read = combine(row, card, visible=visible)
    calibrated = combine(row, card, visible=visible, calibration=calibration)
    assert as_read.corners == damage_subgrade(0.1)
    assert calibrated.corners == damage_subgrade(0.35) < as_read.corners
    # nothing hidden: the calibration's offsets do not apply
    assert combine(row, card, calibration=calibration).corners == as_read.corners


def _readings(count: int, seed: int, *, scale: float, hidden_extra: float) -> list[GradeReading]:
    """Cards whose worst corner is ``scale`` times what the network reads, and ``hidden_extra``
    worse again when two corners are hidden; edges, centering and surface perfect."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        read = [rng.uniform(0.0, 0.6) for _ in range(4)]
        two_hidden = rng.random() < 0.4
        seen = (True, True, not two_hidden, not two_hidden)
        shown = max(d for d, s in zip(read, seen, strict=True) if s)
        true_worst = min(1.0, shown * scale + (hidden_extra if two_hidden else 0.0))
        truth = overall_grade(10.0, damage_subgrade(true_worst), 10.0, 10.0).overall
        out.append(GradeReading(truth, 10.0, 10.0, (9.0, 10.0), tuple(read), (0.0,) * 4, seen, (True,) * 4))
    return out


def test_fit_recovers_the_scale_and_the_hidden_corners(tmp_path: Path) -> None:
    training = _readings(300, seed=1, scale=1.3, hidden_extra=0.2)
    heldout = _readings(200, seed=2, scale=1.3, hidden_extra=0.2)
    save_grade_readings(training, tmp_path / "r.jsonl")
    assert load_grade_readings(tmp_path / "r.jsonl") == training
    fitted = fit_calibration(training)
    assert fitted.corner_scale == pytest.approx(1.3)
    assert fitted.corner_hidden[2] == pytest.approx(0.2, abs=0.05)
    result = fit_and_measure(training, heldout)
    assert result.before["within_1"] < 0.9 <= result.calibration.metrics["within_1"]
    assert measure(result.calibration, heldout)["within_1"] == result.calibration.metrics["within_1"]
    with pytest.raises(ValueError, match="too few"):
        fit_calibration(training[:5])


def test_cli_scans_scenes_fits_and_ships(
    catalogs: list[Catalog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cardvault train wear-calibration`` end to end: the shipped models scan two tiny labelled
    scene sets, the readings are kept, the calibration is fitted on one and measured on the other,
    and --ship writes it where the scan loads it."""
    from typer.testing import CliRunner

    from models.scan import ModelPaths
    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset
    from serve_app.cli import app
    from serve_app.cli import models as cli_models
    from tests.conftest import DATA

    for name, seed in (("train", 5), ("heldout", 6)):
        build_scene_dataset(SceneDatasetConfig(out=tmp_path / name, images=4, seed=seed), catalogs)
    monkeypatch.setenv("CARDVAULT_CATALOG_DIR", str(DATA))
    shipped = tmp_path / "models"
    monkeypatch.setattr(cli_models, "MODELS_DIR", shipped)
    readings = tmp_path / "readings"
    args = ["train", "wear-calibration", "--scenes", str(tmp_path / "train"), "--heldout", str(tmp_path / "heldout")]
    done = CliRunner().invoke(app, [*args, "--readings", str(readings), "--ship"])
    assert done.exit_code == 0, done.output
    kept = load_grade_readings(readings / "train.jsonl")
    assert len(kept) >= 8 and all(1 <= r.truth <= 10 for r in kept)
    assert "within_1" in done.output
    calibration = WearCalibration.load(ModelPaths.under(shipped).wear_calibration)
    assert calibration.metrics["readings"] == len(load_grade_readings(readings / "heldout.jsonl"))
    assert (shipped / "wear" / "calibration.md").read_text().count("|") > 20
