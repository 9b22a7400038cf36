"""Build detection datasets of synthetic photos: YOLO pose format plus a JSONL manifest.

One command rebuilds a set from its seed (``cardvault dataset scenes --seed S``). The
``heldout`` split draws from other card sets (a tenth of the sets, chosen by a hash of the set
id, never in ``train``) and other surfaces (``HELD_OUT_STYLES``), for evaluation.

Layout::

    OUT/images/{train,val}/000001.jpg
    OUT/labels/{train,val}/000001.txt   class cx cy w h  x1 y1 v1 ... x4 y4 v4  (normalised)
    OUT/data.yaml                        kpt_shape [4, 3], one class "card"
    OUT/manifest.jsonl                   per image: corners, box, printing, finish, condition, grades
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipelines.catalog_sources import Catalog
from pipelines.render.art import seed_of
from pipelines.render.backgrounds import HELD_OUT_STYLES, TRAIN_STYLES
from pipelines.render.card_face import FaceSpec, face_spec
from pipelines.render.packs import pack_titles
from pipelines.render.scenes import Scene, compose

Split = Literal["train", "heldout"]
# the label schema of every data.yaml: four corner keypoints (mirroring swaps TL/TR and BR/BL), one class
POSE_LABELS = "kpt_shape: [4, 3]\nflip_idx: [1, 0, 3, 2]\nnames:\n  0: card\n"
MIN_VISIBLE = 0.3  # a card mostly covered by others is not labelled: nothing left to identify


def is_held_out_set(set_id: str) -> bool:
    return seed_of(f"heldout:{set_id}") % 10 == 0


OTHER_ART = "other-art"


def printing_pool(catalogs: Sequence[Catalog], split: Split) -> list[FaceSpec]:
    specs: list[FaceSpec] = []
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        for card in catalog.cards:
            if is_held_out_set(card.set_id) != (split == "heldout"):
                continue
            specs.extend(face_spec(card, sets.get(card.set_id), p) for p in card.printings)
    return specs


def yolo_line(card: dict[str, Any], size: tuple[int, int]) -> str:
    w, h = size
    x0, y0, x1, y1 = card["box"]
    parts = [0, (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]
    for (x, y), visible, inside in zip(card["corners"], card["keypoint_visible"], card["keypoint_inside"], strict=True):
        parts += [x / w, y / h, 2 if visible else 1] if inside else [0.0, 0.0, 0]
    return " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in parts)


@dataclass(frozen=True)
class SceneDatasetConfig:
    out: Path
    images: int
    seed: int
    split: Split = "train"
    val_fraction: float = 0.1
    size: tuple[int, int] = (1280, 960)
    max_cards: int = 16
    # every card printed with other art than the renderer's reference face of it (its art drawn from
    # another seed), as a real card's art is not the reference index's: the same photos as without it
    other_art: bool = False
    # every photo in this layout (pipelines.render.scenes: LAYOUTS or CLOSEUP); None: drawn per photo
    layout: str | None = None
    # booster wrappers printed as real packs are (pipelines.render.packs), titled with the catalog's set
    # names, instead of the plain wrapper; photos without a wrapper are drawn as without it
    printed_packs: bool = False


def build_scene_dataset(
    config: SceneDatasetConfig, catalogs: Sequence[Catalog], progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    pool = printing_pool(catalogs, config.split)
    if not pool:
        raise ValueError("no printings to draw from")
    styles = HELD_OUT_STYLES if config.split == "heldout" else TRAIN_STYLES
    titles = pack_titles(catalogs) if config.printed_packs else None
    counts = {"images": 0, "cards": 0, "negatives_only": 0}
    for sub in ("train", "val"):
        (config.out / "images" / sub).mkdir(parents=True, exist_ok=True)
        (config.out / "labels" / sub).mkdir(parents=True, exist_ok=True)
    with (config.out / "manifest.jsonl").open("w") as manifest:
        for i in range(config.images):
            rng = np.random.default_rng([config.seed, i])
            n = int(rng.choice(np.arange(0, config.max_cards + 1), p=_card_count_weights(config.max_cards)))
            specs = [pool[j] for j in rng.choice(len(pool), size=n, replace=False)] if n else []
            if config.other_art:
                specs = [replace(spec, card_id=f"{spec.art_key}|{OTHER_ART}") for spec in specs]
            scene: Scene = compose(
                specs,
                rng,
                size=config.size,
                layout=config.layout,
                styles=styles,
                negatives=int(rng.integers(1, 4)) if n == 0 else None,
                pack_titles=titles,
            )
            sub = "val" if (config.split == "heldout" or rng.random() < config.val_fraction) else "train"
            name = f"{i:06d}"
            (config.out / "images" / sub / f"{name}.jpg").write_bytes(scene.jpeg(int(rng.integers(55, 96))))
            labelled = [c for c in scene.cards if c["visible"] >= MIN_VISIBLE]
            (config.out / "labels" / sub / f"{name}.txt").write_text(
                "".join(yolo_line(c, config.size) + "\n" for c in labelled)
            )
            manifest.write(
                json.dumps(
                    {
                        "image": f"images/{sub}/{name}.jpg",
                        "split": sub,
                        "layout": scene.layout,
                        "style": scene.style,
                        "size": list(config.size),
                        "cards": scene.cards,
                    }
                )
                + "\n"
            )
            counts["images"] += 1
            counts["cards"] += len(labelled)
            counts["negatives_only"] += n == 0
            if progress:
                progress(1)
    (config.out / "data.yaml").write_text(
        f"path: {config.out.resolve()}\ntrain: images/train\nval: images/val\n{POSE_LABELS}"
    )
    return counts


def _card_count_weights(max_cards: int) -> list[float]:
    # mostly a handful of cards, sometimes a full binder page or table, a few photos of no card
    weights = np.array([0.04] + [1.0 / (k**0.6) for k in range(1, max_cards + 1)])
    return list(weights / weights.sum())
