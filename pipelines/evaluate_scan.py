"""Score scan results against a synthetic scene set's labels (in process or through the API).

A found card matches the labelled card its box overlaps most (IoU >= 0.5, each label once).
Per matched card: identification (the first candidate's card id; in the top five), the finish,
the tier, the overall grade against the rubric's, the TCG condition, the measured centering
against the centering the card was rendered with (fully visible cards only), and the error of the
four corners the scan returns (in reading order, after the scan turned the card by its art and
text; and of the outline, whichever corner comes first) as a percentage of the card's diagonal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.detector import _iou as box_iou

if TYPE_CHECKING:
    from models.scan import ScanEngine, ScannedCard

MIN_VISIBLE = 0.3


def _iou(a: list[float], b: list[float]) -> float:
    return float(box_iou(np.asarray(a, float), np.asarray([b], float))[0])


def pair_with_labels(
    found: list[dict[str, Any]], labels: list[dict[str, Any]]
) -> tuple[list[tuple[int, dict[str, Any]]], int, int]:
    """(index in ``found``, its labelled card) pairs, surest detections first, plus the counts of
    false positives and of missed labelled cards. As in class-aware detection metrics, a found card
    pairs with a labelled card of its own identity when one overlaps it at IoU >= 0.5 (in a fan,
    a card's box overlaps its neighbours' this much), else with the one it overlaps most. A card
    mostly hidden (under ``MIN_VISIBLE`` in view) is not expected, and finding it is no error either:
    a found card that names such a card and overlaps it at IoU >= 0.5, with no expected card of its
    identity there, is left out (as detection benchmarks leave out "ignore" regions) instead of
    being paired with an expected card it overlaps (whose name it does not read) or counted false."""
    truth = [c for c in labels if c["visible"] >= MIN_VISIBLE]
    ignored = [c for c in labels if c["visible"] < MIN_VISIBLE]
    used: set[int] = set()
    pairs, false_positives = [], 0
    for i in sorted(range(len(found)), key=lambda i: -found[i].get("detection_score", 0)):
        overlaps = [(_iou(found[i]["box"], t["box"]), k) for k, t in enumerate(truth) if k not in used]
        candidates = found[i].get("candidates") or []
        named = candidates[0]["card_id"] if candidates else None
        same = [(iou, k) for iou, k in overlaps if iou >= 0.5 and card_of(truth[k]) == named]
        if not same and any(card_of(c) == named and _iou(found[i]["box"], c["box"]) >= 0.5 for c in ignored):
            continue
        best = max(same or overlaps, default=(0.0, -1))
        if best[0] < 0.5:
            false_positives += 1
            continue
        used.add(best[1])
        pairs.append((i, truth[best[1]]))
    return pairs, false_positives, len(truth) - len(used)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file (a scene set's manifest, kept readings)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(rows: Sequence[Any], path: Path) -> None:
    """Dataclass rows (readings) as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in rows))


async def scan_labelled(
    engine: ScanEngine, scenes: Path, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> AsyncIterator[tuple[ScannedCard, dict[str, Any]]]:
    """Scan the photos of a labelled scene set (the first ``limit``) and yield each detected card
    that pairs with a label (``pair_with_labels``), with that label; ``progress(1)`` after each photo."""
    from models.scan import decode_photo

    for entry in read_jsonl(scenes / "manifest.jsonl")[:limit]:
        output = await engine.scan(decode_photo((scenes / entry["image"]).read_bytes()))
        found = [{"box": c.box, "detection_score": c.detection_score, "candidates": c.candidates} for c in output.cards]
        pairs, _, _ = pair_with_labels(found, entry["cards"])
        for i, label in pairs:
            yield output.cards[i], label
        if progress:
            progress(1)


def card_of(label: dict[str, Any]) -> str:
    """The catalog card id of a labelled printing (``sv1-5:holofoil:en`` -> ``sv1-5``)."""
    return str(label["printing_id"]).split(":")[0]


def corner_errors(found: npt.ArrayLike, truth: npt.ArrayLike) -> tuple[float, float]:
    """Mean distance of ``found``'s four corners from ``truth``'s, as a percentage of the true card's
    diagonal: in reading order, and of the outline (the best of the four rotations of ``found``)."""
    quad, true = np.asarray(found, float), np.asarray(truth, float)
    diagonal = float(np.linalg.norm(true[2] - true[0]))
    errors = [float(np.linalg.norm(np.roll(quad, k, axis=0) - true, axis=1).mean()) for k in range(4)]
    return 100 * errors[0] / diagonal, 100 * min(errors) / diagonal


def score_photo(found: list[dict[str, Any]], labels: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
    """Rows for matched cards, plus the counts of false positives and missed labelled cards."""
    pairs, false_positives, missed = pair_with_labels(found, labels)
    rows = []
    for i, t in pairs:
        card = found[i]
        card_id = card_of(t)
        corner_error, outline_error = corner_errors(card["corners"], t["corners"])
        ids = [c["card_id"] for c in card["candidates"]]
        row = {
            "top1": bool(ids) and ids[0] == card_id,
            "top5": card_id in ids[:5],
            "embedding_top1": bool(card.get("embedding")) and card["embedding"][0][0] == card_id,
            "finish_ok": card["finish"] == t["finish"].removeprefix("first_edition_"),
            "tier": card["tier"],
            "grade_error": abs(card["grade"]["overall"] - t["grades"]["overall"]),
            "condition_ok": card["grade"]["condition"] == t["grades"]["condition"],
            "centering_error": None,
            "centering_unmeasured": None,
            "corner_error": corner_error,
            "outline_error": outline_error,
            "corners": [[round(float(v), 1) for v in point] for point in card["corners"]],  # as found
            # for reading the misses (`cardvault evaluate --rows`): what was there, what was read
            "label": next(k for k, c in enumerate(labels) if c is t),
            "card_id": card_id,
            "named": ids[0] if ids else None,
            "visible": t["visible"],
            "in_view": all(t["keypoint_visible"]),  # its four corners in view (the detector evaluation's split)
            "ocr": card.get("ocr"),
            "confidence": card["candidates"][0].get("confidence") if card["candidates"] else None,
            "evidence": card["candidates"][0].get("evidence") if card["candidates"] else None,
            "overall": card["grade"]["overall"],
            "overall_truth": t["grades"]["overall"],
            "condition": card["grade"]["condition"],
            "condition_truth": t["grades"]["condition"],
        }
        measured = card["grade"].get("centering_lr"), card["grade"].get("centering_tb")
        if all(t["keypoint_visible"]):
            row["centering_unmeasured"] = None in measured
        if all(t["keypoint_visible"]) and None not in measured:
            c = t["condition"]
            row["centering_error"] = (
                abs(measured[0] - c["centering_lr"]) * 100 + abs(measured[1] - c["centering_tb"]) * 100
            ) / 2
        rows.append(row)
    return rows, false_positives, missed


def summarise(rows: list[dict[str, Any]], false_positives: int, missed: int) -> dict[str, float]:
    tp = len(rows)
    top1 = np.array([r["top1"] for r in rows], bool)
    tiers = np.array([r["tier"] for r in rows])
    grade_errors = np.array([r["grade_error"] for r in rows], float)
    centering = np.array([r["centering_error"] for r in rows if r["centering_error"] is not None], float)
    unmeasured = [r["centering_unmeasured"] for r in rows if r.get("centering_unmeasured") is not None]
    corners = np.array([r["corner_error"] for r in rows], float)
    outlines = np.array([r["outline_error"] for r in rows], float)
    nan = float("nan")
    result = {
        "cards_labelled": float(tp + missed),
        "detection_recall@0.5": tp / max(tp + missed, 1),
        "detection_precision@0.5": tp / max(tp + false_positives, 1),
        "identification_top1": float(top1.mean()) if tp else nan,
        # of every labelled card, the share found and named right (top-1): what a collector gets
        "identified_of_labelled": float(top1.sum()) / max(tp + missed, 1),
        "embedding_alone_top1": float(np.mean([r["embedding_top1"] for r in rows])) if tp else nan,
        "identification_top5": float(np.mean([r["top5"] for r in rows])) if tp else nan,
        "printing_top1": float(np.mean([r["top1"] and r["finish_ok"] for r in rows])) if tp else nan,
        "finish_accuracy": float(np.mean([r["finish_ok"] for r in rows])) if tp else nan,
        "grade_within_1": float((grade_errors <= 1).mean()) if tp else nan,
        "grade_mae": float(grade_errors.mean()) if tp else nan,
        "condition_agreement": float(np.mean([r["condition_ok"] for r in rows])) if tp else nan,
        "centering_error_points": float(centering.mean()) if len(centering) else nan,
        # fully visible cards with an axis the measurement refused (see models.centering)
        "centering_unmeasured": float(np.mean(unmeasured)) if unmeasured else nan,
        # the corners the scan returns, in reading order after its turn, as % of the card's diagonal
        "corner_error_pct_of_diagonal": float(corners.mean()) if tp else nan,
        "outline_error_pct_of_diagonal": float(outlines.mean()) if tp else nan,
    }
    # cards whose four corners are in view, and the others (a fan's, a pile's): the embedding compares whole
    # cards, and a card half under another one is mostly paint
    in_view = np.array([r.get("in_view", True) for r in rows], bool)
    for group, chosen in (("in view", in_view), ("partly hidden", ~in_view)):
        result[f"identification_top1.{group}"] = float(top1[chosen].mean()) if chosen.any() else nan
        embedded = [r["embedding_top1"] for r, c in zip(rows, chosen, strict=True) if c]
        result[f"embedding_alone_top1.{group}"] = float(np.mean(embedded)) if embedded else nan
    for tier in ("GOOD", "FAIR", "POOR"):
        chosen = tiers == tier
        result[f"{tier}_share"] = float(chosen.mean()) if tp else nan
        result[f"{tier}_precision"] = float(top1[chosen].mean()) if chosen.any() else nan
    return result
