"""Detection quality on a held-out scene set: precision/recall at IoU 0.5 and 0.75, corner error.

Ground truth is every card the dataset labelled (visible share >= 0.3); a prediction matches the
unmatched ground-truth card it overlaps most if the IoU passes the threshold. Corner error is the
mean distance between predicted and true corners (in the card's reading order) as a percentage of
the card's diagonal, over matches at IoU 0.5; outline error the same whichever corner comes first.
Centering error: each fully visible matched card is rectified with the predicted corners (turned
to portrait order, as the scan does, with the photo around it) and its centering measured
geometrically from the card's own edges, against the centering it was rendered with, in
percentage points (an axis the measurement refuses, see ``models.centering``, is not counted).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from models.centering import measure_centering
from models.corners import CornerRefiner, of_whole_card
from models.detector import CardDetector, _iou
from models.rectify import rectify_card
from models.scan import CENTERING_MARGIN, SURE_SCORE, portrait_corners, refine_all
from pipelines.evaluate_scan import corner_errors
from pipelines.scene_dataset import MIN_VISIBLE

SCORE_CUTS = (0.4, 0.75)


def evaluate_detector(
    onnx: Path,
    dataset: Path,
    *,
    imgsz: int,
    limit: int | None = None,
    refine: CornerRefiner | Literal["edges", "none"] | None = None,
) -> dict[str, Any]:
    """Precision/recall at IoU 0.5 and 0.75, corner error (in reading order, and of the outline
    whatever corner the detector called first: the scan turns the order to portrait and the
    identifier picks which way up), centering through rectification, latency. ``refine``: a second
    stage on the detector's corners, the corner network (``models.corners``) or ``"edges"``, the
    fit to the card's edges in the photo (``models.refine``)."""
    detector = CardDetector(onnx, imgsz=imgsz, providers=["CPUExecutionProvider"])
    entries = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()][:limit]
    counts = {0.5: [0, 0, 0], 0.75: [0, 0, 0]}  # tp, fp, fn
    reading_errors: list[float] = []  # % of the diagonal, as evaluate_scan.corner_errors gives them
    outline_errors: list[float] = []
    groups: list[tuple[str, bool]] = []  # per matched card: its layout (or partly hidden), whether in view
    centering_errors: list[float] = []
    latencies: list[float] = []
    scored: list[tuple[float, bool]] = []  # per detection at IoU 0.5: its score, whether it is a labelled card
    truths = 0
    for entry in entries:
        image = Image.open(dataset / entry["image"])
        truth = [c for c in entry["cards"] if c["visible"] >= MIN_VISIBLE]
        start = time.perf_counter()
        predictions = detector([image])[0]
        if predictions and refine not in (None, "none"):
            rgb, quads = np.asarray(image.convert("RGB")), [p.corners for p in predictions]
            boxes = [p.box for p in predictions]
            whole = [of_whole_card(p, SURE_SCORE) for p in predictions]  # as the scan asks
            refined = (
                refine_all(rgb, quads) if refine == "edges" else refine.refine(rgb, quads, boxes, whole=whole)  # type: ignore[union-attr]
            )
            predictions = [replace(p, corners=c) for p, c in zip(predictions, refined, strict=True)]
        latencies.append((time.perf_counter() - start) * 1000)
        true_boxes = np.array([c["box"] for c in truth], float).reshape(-1, 4)
        truths += len(truth)
        for threshold, tally in counts.items():
            matched: set[int] = set()
            for p in sorted(predictions, key=lambda d: -d.score):
                if not len(true_boxes):
                    tally[1] += 1
                    if threshold == 0.5:
                        scored.append((p.score, False))
                    continue
                overlaps = _iou(np.array(p.box), true_boxes)
                overlaps[list(matched)] = -1
                best = int(np.argmax(overlaps))
                if threshold == 0.5:
                    scored.append((p.score, bool(overlaps[best] >= threshold)))
                if overlaps[best] >= threshold:
                    matched.add(best)
                    tally[0] += 1
                    if threshold == 0.5:
                        in_reading_order, outline = corner_errors(p.corners, truth[best]["corners"])
                        reading_errors.append(in_reading_order)
                        outline_errors.append(outline)
                        in_view = all(truth[best]["keypoint_visible"])
                        groups.append((entry["layout"] if in_view else "partly hidden", in_view))
                        if in_view:  # the whole card is in view
                            crop = rectify_card(image, portrait_corners(p.corners), margin=CENTERING_MARGIN)
                            measured = measure_centering(crop, margin=CENTERING_MARGIN)
                            condition = truth[best]["condition"]
                            centering_errors += [
                                abs(measured.left_share - condition["centering_lr"]) * 100,
                                abs(measured.top_share - condition["centering_tb"]) * 100,
                            ]
                else:
                    tally[1] += 1
            tally[2] += len(truth) - len(matched)
    result: dict[str, Any] = {"images": len(entries), "cards": sum(counts[0.5][0::2])}
    for threshold, (tp, fp, fn) in counts.items():
        result[f"precision@{threshold}"] = tp / max(tp + fp, 1)
        result[f"recall@{threshold}"] = tp / max(tp + fn, 1)
    # the scan keeps a detection it is sure of as it is and asks the card to vouch for the rest
    # (models.scan.ScanEngine: min_score 0.4, sure_score 0.7, 0.75 until session 16); greedy matching makes
    # the matches above a score (in score order) the same as at the lowest one
    for cut in SCORE_CUTS:
        tp = sum(1 for score, hit in scored if hit and score >= cut)
        fp = sum(1 for score, hit in scored if not hit and score >= cut)
        result[f"precision@0.5.score>={cut}"] = tp / max(tp + fp, 1)
        result[f"recall@0.5.score>={cut}"] = tp / max(truths, 1)
    result["corner_error_pct_of_diagonal"] = float(np.mean(reading_errors)) if reading_errors else float("nan")
    result["outline_error_pct_of_diagonal"] = float(np.mean(outline_errors)) if outline_errors else float("nan")
    outlines = np.array(outline_errors)
    # the gross misses (an outline on the art window or on a neighbour): what the mean is made of
    result["outline_error_over_5pct"] = float((outlines > 5).mean()) if len(outlines) else float("nan")
    for name in ("in view", *sorted({g for g, _ in groups})):
        chosen = [g == name or (name == "in view" and seen) for g, seen in groups]
        if any(chosen):
            result[f"outline_error_median_pct.{name}"] = float(np.median(outlines[chosen]))
    # centering from the detector's corners: rectify, then measure the printed frame
    result["centering_error_points"] = float(np.nanmean(centering_errors)) if centering_errors else float("nan")
    result["centering_axes_unmeasured"] = float(np.isnan(centering_errors).mean()) if centering_errors else float("nan")
    result["latency_ms_p50_cpu"] = float(np.median(latencies)) if latencies else float("nan")
    return result
