"""Fit the identification fusion: how much each kind of evidence counts, and when a card is GOOD.

The scan engine runs over labelled scenes; every detected card that overlaps a labelled card
gives a reading (the embedding's neighbours, the OCR'd name and collector line) and the truth.
The matcher turns a reading into candidates with features (``models.matching.FEATURES``); a
conditional logit, a softmax over the candidates plus "none of these", is fitted by maximum
likelihood (L-BFGS, a little L2) on part of the readings. The other part measures it against
the hand-set weights: top-1, log loss, expected calibration error, and the GOOD tier's share and
precision at the threshold chosen on the fitting part.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.matching import FEATURES, CatalogMatcher, Fusion, agreeing
from models.scan import ScanEngine
from pipelines.evaluate_scan import card_of, read_jsonl, scan_labelled, write_jsonl

MIN_READINGS = 10
GOOD_PRECISION = 0.999  # the GOOD threshold is set where the fitting readings reach this precision


@dataclass(frozen=True)
class Reading:
    truth: str  # catalog card id
    neighbours: list[tuple[str, float]]
    name: str
    collector: str
    embedding: list[float] | None = None  # the card's unit embedding (``art_among_name``)
    faces: dict[str, float] | None = None  # the face check's likenesses (``face``), when it ran


async def collect_readings(
    engine: ScanEngine, scenes: Path, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> list[Reading]:
    """Scan every photo of a scene set and keep the readings of the detected cards that match a label."""
    readings = []
    async for card, label in scan_labelled(engine, scenes, limit, progress):
        neighbours = [(str(k), float(v)) for k, v in card.embedding]
        vector = None if card.vector is None else [round(float(v), 4) for v in card.vector]
        faces = None if card.faces is None else dict(card.faces)  # rounded by models.faces.likenesses
        readings.append(Reading(card_of(label), neighbours, card.ocr["name"], card.ocr["collector"], vector, faces))
    return readings


def save_readings(readings: Sequence[Reading], path: Path) -> None:
    write_jsonl(readings, path)


def load_readings(path: Path) -> list[Reading]:
    return [
        Reading(
            r["truth"],
            [(k, float(v)) for k, v in r["neighbours"]],
            r["name"],
            r["collector"],
            r.get("embedding"),
            r.get("faces"),
        )
        for r in read_jsonl(path)
    ]


@dataclass
class Problem:
    features: np.ndarray  # (candidates, FEATURES)
    target: int  # the true card's row, or -1 when it is not among the candidates ("none of these")


def problems_of(matcher: CatalogMatcher, readings: Sequence[Reading]) -> list[Problem]:
    out = []
    for r in readings:
        embedding = np.asarray(r.embedding, np.float32) if r.embedding is not None else None
        indices, features = matcher.evidence(r.neighbours, r.name, r.collector, embedding, r.faces)
        ids = [matcher.cards[i].card_id for i in indices]
        out.append(Problem(features, ids.index(r.truth) if r.truth in ids else -1))
    return out


def fit(problems: Sequence[Problem], l2: float = 1e-4, steps: int = 200) -> tuple[dict[str, float], float]:
    """Maximum-likelihood weights and null bias of the conditional logit over all problems."""
    import torch

    width = max(1, max(len(p.features) for p in problems))
    x = torch.zeros(len(problems), width + 1, len(FEATURES))
    mask = torch.zeros(len(problems), width + 1, dtype=torch.bool)
    target = torch.zeros(len(problems), dtype=torch.long)
    for n, p in enumerate(problems):
        x[n, : len(p.features)] = torch.from_numpy(p.features)
        mask[n, : len(p.features)] = True
        mask[n, width] = True  # the null alternative sits in the last column
        target[n] = p.target if p.target >= 0 else width
    weights = torch.tensor(Fusion().vector, requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        logits = x @ weights
        logits[:, width] = bias
        logits = logits.masked_fill(~mask, -1e9)
        loss = torch.nn.functional.cross_entropy(logits, target) + l2 * (weights**2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return dict(zip(FEATURES, map(float, weights.detach()), strict=True)), float(bias.detach()[0])


def outcomes(fusion: Fusion, problems: Sequence[Problem]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per problem: the top candidate's confidence, whether it is right, whether its evidence
    agrees (GOOD needs it), and the probability given to the truth (for the log loss)."""
    confidence, correct, agree, truth_p = [], [], [], []
    for p in problems:
        if not len(p.features):
            confidence.append(0.0)
            correct.append(False)
            agree.append(False)
            truth_p.append(1.0 if p.target < 0 else 1e-9)
            continue
        probs = fusion.confidences(p.features)
        best = int(np.argmax(probs))
        confidence.append(float(probs[best]))
        correct.append(best == p.target)
        agree.append(agreeing(p.features[best]))
        truth_p.append(float(probs[p.target]) if p.target >= 0 else max(1e-9, 1 - float(probs.sum())))
    return np.array(confidence), np.array(correct), np.array(agree), np.array(truth_p)


def good_threshold(fusion: Fusion, problems: Sequence[Problem], precision: float = GOOD_PRECISION) -> float:
    """The lowest confidence above which agreeing top candidates are right at ``precision``, never
    under FAIR's threshold (a GOOD card is at least as sure as a FAIR one; session 9's refit with the
    art among the name's printings would otherwise have put GOOD at 0.53, under FAIR's 0.6)."""
    confidence, correct, agree, _ = outcomes(fusion, problems)
    floor = fusion.fair_at
    chosen = agree & (confidence >= floor)
    order = np.argsort(-confidence[chosen])
    hits = np.cumsum(correct[chosen][order])
    precisions = hits / np.arange(1, len(hits) + 1)
    ok = np.nonzero(precisions >= precision)[0]
    if not len(ok):
        return 0.999
    # the largest prefix that keeps the precision: its last confidence is the threshold
    return float(max(floor, confidence[chosen][order][ok[-1]]))


def measure(fusion: Fusion, problems: Sequence[Problem]) -> dict[str, float]:
    confidence, correct, agree, truth_p = outcomes(fusion, problems)
    good = agree & (confidence >= fusion.good_at)
    fair = ~good & (confidence >= fusion.fair_at)
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(confidence[bins == b].mean() - correct[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    nan = float("nan")
    return {
        "readings": float(len(problems)),
        "truth_among_candidates": float(np.mean([p.target >= 0 for p in problems])),
        "top1": float(correct.mean()),
        "log_loss": float(-np.log(np.clip(truth_p, 1e-9, 1)).mean()),
        "expected_calibration_error": float(ece),
        "GOOD_share": float(good.mean()),
        "GOOD_precision": float(correct[good].mean()) if good.any() else nan,
        "FAIR_share": float(fair.mean()),
        "FAIR_precision": float(correct[fair].mean()) if fair.any() else nan,
    }


@dataclass
class FusionResult:
    fusion: Fusion
    fitted_on: int
    measured_on: int
    default: dict[str, float]
    seconds: float


def fit_fusion(
    matcher: CatalogMatcher, readings: Sequence[Reading], *, holdout: float = 0.4, seed: int = 0
) -> FusionResult:
    """Fit on part of the readings (shuffled by ``seed``), measure on the rest."""
    if len(readings) < MIN_READINGS:
        raise ValueError(f"{len(readings)} readings are too few to fit the fusion (at least {MIN_READINGS})")
    start = time.perf_counter()
    order = np.random.default_rng(seed).permutation(len(readings))
    cut = int(len(readings) * (1 - holdout))
    problems = problems_of(matcher, readings)
    fitting = [problems[i] for i in order[:cut]]
    measuring = [problems[i] for i in order[cut:]]
    weights, bias = fit(fitting)
    draft = Fusion(weights, bias)
    fusion = Fusion(weights, bias, good_at=good_threshold(draft, fitting))
    metrics = measure(fusion, measuring)
    fitted = Fusion(fusion.weights, fusion.null_bias, fusion.good_at, fusion.fair_at, metrics)
    return FusionResult(fitted, len(fitting), len(measuring), measure(Fusion(), measuring), time.perf_counter() - start)


def write_card(result: FusionResult, destination: Path, *, command: str, sources: list[str]) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    result.fusion.save(destination / "fusion.json")
    rows = "\n".join(
        f"| {k} | {result.default[k]:.4f} | {v:.4f} |" for k, v in result.fusion.metrics.items() if k in result.default
    )
    weights = "\n".join(f"| {k} | {v:.3f} |" for k, v in result.fusion.weights.items())
    card = destination / "fusion.md"
    card.write_text(f"""# Identification fusion (calibrated confidence and tiers)

A conditional logit over the catalog candidates of one card reading, plus a "none of these"
alternative: `models/matching.py` (`Fusion`), fitted by `pipelines/train/fusion.py`.

- **Readings**: cards detected by the shipped detector in {", ".join(f"`{s}`" for s in sources)},
  rectified, embedded and OCR'd by the shipped models, paired with their labels.
  {result.fitted_on} readings fitted the weights; {result.measured_on} others measured them.
- **Training command**: `{command}` ({result.seconds:.0f} s to fit on {platform.machine()} CPU).
- **GOOD** threshold: confidence >= {result.fusion.good_at:.4f} (the lowest at which the fitting
  readings' agreeing top candidates were right {GOOD_PRECISION:.1%} of the time) and two independent
  signals agree; FAIR: confidence >= {result.fusion.fair_at}.

| feature | weight |
| --- | ---: |
{weights}
| none of these (bias) | {result.fusion.null_bias:.3f} |

## Measured on the readings not fitted on

| metric | hand-set weights | fitted |
| --- | ---: | ---: |
{rows}
""")
    return card
