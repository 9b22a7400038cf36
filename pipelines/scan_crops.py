"""Cards as the scan sees them: each labelled card of a scene set cut out by the shipped detector
and corner network, rectified, and stored with its labels.

The identifier and the grader are trained mostly on rendered faces; the scan feeds them crops
cut from photos, with the detector's and corner network's errors (a quad a few percent off, a
corner under a neighbour, part of the card outside the photo), blur, noise and JPEG. This set is
that input with the truth attached, for training and for measuring the models on what they
really get:

    cardvault dataset crops --scenes datasets/scenes-s2 --out datasets/crops-s2

Per crop (``manifest.jsonl``): the image (the card rectified to half the scan's size, upright by
the label's corner order), the printing id and finish, the condition parameters and grades, the
visible share, which corners are visible, the detection score, the share of the outline under
another detected card, and (``shown``) for a card that another one surely lies on, the crop with
that part painted out, as the scan hands it to the identifier and the text reader.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.centering import HEIGHT, WIDTH
from models.rectify import rectify_card

CROP_SIZE = (WIDTH // 2, HEIGHT // 2)


@dataclass(frozen=True)
class Crop:
    image: Image.Image
    label: dict[str, Any]
    quad: np.ndarray
    detection_score: float
    covered: float
    shown: Image.Image | None = None  # what the identifier and the text reader get: what lies over it painted out


def upright(quad: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The quad's corners in the labelled card's reading order: of its four rotations, the one
    closest to the label's corners (the detector's order can be a quarter or half turn off)."""
    turns = [np.roll(quad, -k, axis=0) for k in range(4)]
    return min(turns, key=lambda q: float(np.linalg.norm(q - truth, axis=1).sum()))


def photo_crops(engine: Any, rgb: np.ndarray, labels: list[dict[str, Any]]) -> list[Crop]:
    """The detector's cards in one photo paired with their labels (IoU >= 0.5, as the scan's
    evaluation pairs them), each cut as the scan cuts it."""
    from models.rectify import shown_card, stacking
    from models.scan import covered_shares, portrait_corners
    from pipelines.evaluate_scan import pair_with_labels

    detections = [d for d in asyncio.run(engine.runners.detect(rgb)) if d.score >= engine.min_score]
    if not detections:
        return []
    corners = asyncio.run(engine.refine_corners(rgb, [d.corners for d in detections], [d.box for d in detections]))
    quads = [portrait_corners(c) for c in corners]
    found = [{"box": list(map(float, d.box)), "detection_score": d.score, "candidates": []} for d in detections]
    pairs, _, _ = pair_with_labels(found, labels)
    covered = covered_shares(quads)
    over, _ = stacking(rgb, quads)  # as the scan finds it
    size = (rgb.shape[1], rgb.shape[0])
    crops = []
    for i, label in pairs:
        quad = upright(quads[i], np.asarray(label["corners"], float))
        image = rectify_card(rgb, quad, size=CROP_SIZE)
        shown = shown_card(image, quad, [quads[j] for j in over[i]], size)
        crops.append(Crop(image, label, quad, detections[i].score, covered[i], shown if shown is not image else None))
    return crops


def build_crops(
    scenes: Path,
    out: Path,
    *,
    limit: int | None = None,
    engine: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write ``out/images/*.jpg`` and ``out/manifest.jsonl`` for the scene set's photos, cut by
    ``engine`` (a ``models.scan.ScanEngine``; the shipped models by default)."""
    if engine is None:
        from models.scan import LocalRunners, ScanEngine
        from serve_app.services.scanner import load_matcher
        from serve_app.settings import get_settings

        engine = ScanEngine(LocalRunners(device="cpu"), load_matcher(get_settings().resolved_catalog_dir()))
    entries = [json.loads(line) for line in (scenes / "manifest.jsonl").read_text().splitlines()][:limit]
    (out / "images").mkdir(parents=True, exist_ok=True)
    written = 0
    with (out / "manifest.jsonl").open("w") as manifest:
        for n, entry in enumerate(entries):
            rgb = np.asarray(Image.open(scenes / entry["image"]).convert("RGB"))
            for k, crop in enumerate(photo_crops(engine, rgb, entry["cards"])):
                name = f"images/{Path(entry['image']).stem}_{k:02d}.jpg"
                crop.image.save(out / name, quality=92)
                shown = None
                if crop.shown is not None:
                    shown = f"images/{Path(entry['image']).stem}_{k:02d}_shown.jpg"
                    crop.shown.save(out / shown, quality=92)
                label = crop.label
                manifest.write(
                    json.dumps(
                        {
                            "image": name,
                            "photo": entry["image"],
                            "printing_id": label["printing_id"],
                            "finish": label["finish"],
                            "condition": label["condition"],
                            "grades": label["grades"],
                            "visible": label["visible"],
                            "keypoint_visible": label["keypoint_visible"],
                            "detection_score": round(crop.detection_score, 4),
                            "covered": round(crop.covered, 4),
                            "quad": np.round(crop.quad, 1).tolist(),
                            "shown": shown,
                        }
                    )
                    + "\n"
                )
                written += 1
            if progress:
                progress(n + 1, len(entries))
    return {"photos": len(entries), "crops": written}


def read_crops(folder: Path) -> Iterator[tuple[Image.Image, dict[str, Any]]]:
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        yield Image.open(folder / row["image"]).convert("RGB"), row
