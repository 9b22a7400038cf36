"""Fitting the identification fusion on readings whose truth is known."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from models.matching import FEATURES, CatalogMatcher, Fusion, ReferenceFaces
from pipelines.catalog_sources import Catalog, normalize_name
from pipelines.train.fusion import (
    Problem,
    Reading,
    fit_fusion,
    good_threshold,
    load_readings,
    outcomes,
    save_readings,
)


def _garble(text: str, rng: random.Random, rate: float) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") if c.isalpha() and rng.random() < rate else c for c in text)


def _readings(matcher: CatalogMatcher, count: int, seed: int) -> list[Reading]:
    """What a scanner reads off cards: sometimes a clean name and collector line, sometimes a
    garbled one or nothing, and an embedding whose first neighbour is right only now and then."""
    rng = random.Random(seed)
    pokemon = [c for c in matcher.cards if c.game == "pokemon" and c.printed_total]
    out = []
    for _ in range(count):
        card = rng.choice(pokemon)
        others = rng.sample(pokemon, 9)
        right_art = rng.random() < 0.3
        neighbours = [(o.card_id, 0.5 - 0.01 * k) for k, o in enumerate(others)]
        if right_art:
            neighbours = [(card.card_id, 0.75), *neighbours[:-1]]
        name = rng.choice([card.name, card.name, _garble(card.name, rng, 0.3), ""])
        collector = rng.choice([f"{card.number}/{card.printed_total}", f"{card.number}", "", "Illus. Someone"])
        out.append(Reading(card.card_id, neighbours, name, collector))
    return out


@pytest.fixture(scope="module")
def matcher(catalogs: list[Catalog]) -> CatalogMatcher:
    return CatalogMatcher(catalogs)


def test_fitted_fusion_is_better_calibrated_than_the_hand_set_weights(matcher: CatalogMatcher, tmp_path: Path) -> None:
    readings = _readings(matcher, 600, seed=3)
    save_readings(readings, tmp_path / "readings.jsonl")
    assert load_readings(tmp_path / "readings.jsonl") == readings
    result = fit_fusion(matcher, readings, seed=0)
    fitted, default = result.fusion.metrics, result.default
    assert result.fitted_on + result.measured_on == 600
    assert fitted["log_loss"] < default["log_loss"]
    assert fitted["expected_calibration_error"] < 0.15
    assert fitted["GOOD_share"] > 0.2 and fitted["GOOD_precision"] >= 0.98
    # a saved fusion loads back and drives the matcher
    result.fusion.save(tmp_path / "fusion.json")
    loaded = Fusion.load(tmp_path / "fusion.json")
    assert loaded.weights == pytest.approx(result.fusion.weights) and loaded.good_at == result.fusion.good_at
    tuned = CatalogMatcher([], loaded)
    tuned.__dict__.update({k: v for k, v in matcher.__dict__.items() if k != "fusion"})
    card = next(c for c in matcher.cards if c.game == "pokemon" and c.printed_total)
    match = tuned.match([], name_text=card.name, collector_text=f"{card.number}/{card.printed_total}")
    assert match.candidates[0].card.card_id == card.card_id and match.tier in ("GOOD", "FAIR")


def test_too_few_readings_are_refused(matcher: CatalogMatcher) -> None:
    with pytest.raises(ValueError, match="too few"):
        fit_fusion(matcher, _readings(matcher, 5, seed=1))


def test_one_weak_candidate_is_not_certain(matcher: CatalogMatcher) -> None:
    """With "none of these" in the softmax, a lone candidate with little evidence stays unsure."""
    card = matcher.cards[0]
    match = matcher.match([(card.card_id, 0.31), ("nope-1", 0.3), ("nope-2", 0.3)])
    assert len(match.candidates) == 1
    assert match.candidates[0].confidence < 0.6 and match.tier == "POOR"
    assert Fusion().confidences(np.zeros((0, len(FEATURES)), np.float32)).shape == (0,)


def test_cli_scans_labelled_scenes_and_fits(catalogs: list[Catalog], tmp_path: Path) -> None:
    """``cardvault train fusion`` end to end: the shipped models scan a tiny labelled scene set,
    the readings are kept with their truth, and the fusion is fitted and measured on them."""
    import os

    from typer.testing import CliRunner

    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset
    from serve_app.cli import app
    from tests.conftest import DATA

    build_scene_dataset(SceneDatasetConfig(out=tmp_path / "scenes", images=5, seed=5), catalogs)
    readings = tmp_path / "readings.jsonl"
    os.environ["CARDVAULT_CATALOG_DIR"] = str(DATA)
    try:
        done = CliRunner().invoke(
            app, ["train", "fusion", "--scenes", str(tmp_path / "scenes"), "--readings", str(readings)]
        )
    finally:
        os.environ.pop("CARDVAULT_CATALOG_DIR")
    assert done.exit_code == 0, done.output
    kept = load_readings(readings)
    known = {c.id for catalog in catalogs for c in catalog.cards}
    assert len(kept) >= 5 and {r.truth for r in kept} <= known
    assert any(r.name for r in kept) and all(len(r.neighbours) == 10 for r in kept)
    assert "GOOD at confidence >=" in done.output and "log_loss" in done.output


def test_fit_learns_that_the_art_chooses_among_a_names_printings(catalogs: list[Catalog], tmp_path: Path) -> None:
    """Fanned cards: the name is read, the collector line is not, and the art is too covered for
    the catalog's nearest neighbours, yet closest to its own face among the printings of its name."""
    plain = CatalogMatcher(catalogs)
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(len(plain.cards), 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faces = ReferenceFaces([c.card_id for c in plain.cards], vectors)
    shared = [c for c in plain.cards if c.game == "pokemon" and len(plain.by_name[normalize_name(c.name)]) >= 3]
    readings = []
    for _ in range(300):
        card = shared[int(rng.integers(len(shared)))]
        seen = vectors[plain.by_id[card.card_id]] + rng.normal(0, 0.25, 32).astype(np.float32)
        seen /= np.linalg.norm(seen)
        neighbours = [(plain.cards[int(i)].card_id, 0.4) for i in rng.choice(len(plain.cards), 10, replace=False)]
        readings.append(Reading(card.card_id, neighbours, card.name, "", [float(v) for v in seen]))
    save_readings(readings, tmp_path / "readings.jsonl")
    assert load_readings(tmp_path / "readings.jsonl")[0].embedding == pytest.approx(readings[0].embedding)
    with_art = fit_fusion(CatalogMatcher(catalogs, references=faces), readings, seed=0)
    without = fit_fusion(plain, readings, seed=0)
    assert with_art.fusion.weights["art_among_name"] > 1.0
    assert with_art.fusion.metrics["top1"] > without.fusion.metrics["top1"] + 0.2


def test_good_is_never_less_sure_than_fair() -> None:
    """Agreeing top candidates that are always right, from confidence 0.5 up: the GOOD threshold
    stops at FAIR's rather than at the least sure of them."""
    fusion = Fusion(weights=dict.fromkeys(FEATURES, 0.0) | {"total": 1.0}, null_bias=0.0)
    problems = []
    for z in np.linspace(0.7, 2.9, 23):  # confidence e^z / (e^z + 2): 0.50 .. 0.90
        row = np.zeros(len(FEATURES), np.float32)
        row[FEATURES.index("name")], row[FEATURES.index("number")], row[FEATURES.index("total")] = 0.9, 1.0, z
        problems.append(Problem(np.stack([row, np.zeros_like(row)]), 0))
    confidence, correct, agree, _ = outcomes(fusion, problems)
    assert agree.all() and correct.all() and confidence.min() < 0.55 < fusion.fair_at < confidence.max()
    threshold = good_threshold(fusion, problems)
    assert fusion.fair_at <= threshold == confidence[confidence >= fusion.fair_at].min()
