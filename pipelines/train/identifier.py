"""Card identifier: an embedding of the rectified card, trained with ArcFace, for retrieval.

A reference index holds the embedding of every printing's clean face; a photo's rectified crop
is identified by its nearest reference. A new set is added by embedding its faces: no
retraining. Training renders faces of the training sets, wears and distorts them like photos
(perspective jitter, crop, light, blur, noise, sleeves' glare), and teaches a small CNN
(torchvision MobileNetV3-small, from scratch) to map every version of a printing together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from models.identify import FINISH_CLASSES, INPUT_H, INPUT_W, MEAN, STD, CardIdentifier, identifier_pixels, normalise
from models.identify import identifier_input as to_input  # training and serving prepare crops alike
from pipelines.export import freeze_norms, load_weights, torch_to_onnx
from pipelines.render.card_face import BORDER, CARD_H, CARD_W, FaceSpec, art_window, render_face
from pipelines.render.condition import apply_wear, sample_condition
from pipelines.train import config_strings


def clean_face(spec: FaceSpec) -> Image.Image:
    face = render_face(spec).image
    flat = Image.new("RGB", face.size, (0, 0, 0))
    flat.paste(face, (0, 0), face)
    return flat


def photo_like(spec: FaceSpec, rng: np.random.Generator) -> Image.Image:
    """The face as the detector and rectifier would hand it over from a photo."""
    condition = sample_condition(rng)
    face = apply_wear(
        render_face(spec, centering=(condition.centering_lr, condition.centering_tb)).image, condition, rng
    )
    flat = Image.new("RGB", face.size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    flat.paste(face, (0, 0), face)
    w, h = flat.size
    jitter = rng.normal(0, 0.02, (4, 2)) * [w, h]  # imperfect corners from the detector
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) + jitter
    from pipelines.render.geometry import homography, pil_perspective_coeffs

    flat = flat.transform(
        (w, h),
        Image.Transform.PERSPECTIVE,
        pil_perspective_coeffs(homography(np.array([[0, 0], [w, 0], [w, h], [0, h]], float), quad)),
        Image.Resampling.BILINEAR,
    )
    flat = ImageEnhance.Brightness(flat).enhance(rng.uniform(0.6, 1.3))
    flat = ImageEnhance.Color(flat).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < 0.3:  # glare band
        arr = np.asarray(flat, np.float32)
        x = np.arange(w)[None, :] + np.arange(h)[:, None] * rng.uniform(-0.5, 0.5)
        band = np.exp(-(((x - rng.uniform(0, w)) / rng.uniform(20, 80)) ** 2))[..., None]
        flat = Image.fromarray((arr + band * rng.uniform(60, 160)).clip(0, 255).astype(np.uint8))
    return flat.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2.0)))


def finish_class(finish: str) -> int:
    """The finish as the camera sees it: a first-edition holofoil shines like any holofoil."""
    base = finish.removeprefix("first_edition_")
    return FINISH_CLASSES.index(base) if base in FINISH_CLASSES else 0


@dataclass(frozen=True)
class IdentifierConfig:
    out: Path
    printings: int = 3000  # training cards (classes); every printing of a card is one class
    views_per_printing: int = 6  # photo-like views per card and epoch
    epochs: int = 5
    batch: int = 64
    dim: int = 128
    lr: float = 2e-3
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    scale: float = 30.0  # ArcFace s
    margin: float = 0.3  # ArcFace m: a smaller margin converges in fewer epochs
    margin_warmup: float = 0.3  # share of the steps over which m ramps up from 0 (plain cosine softmax first)
    loss: str = "arcface"  # or "infonce": two views of each card in a batch, the others as negatives
    temperature: float = 0.1  # InfoNCE
    init: Path | None = None  # start from identifier.pt or a shipped identifier.onnx; class centres from its embeddings
    foil_share: float = 0.0  # share of the views of plain printings turned into a foil of random sheen
    crops: tuple[Path, ...] = ()  # scan-crop sets (``cardvault dataset crops``): cards as the scan cuts them
    crop_share: float = 0.0  # share of each batch drawn from the crops (their cards join the classes)


def _model(dim: int) -> Any:
    """MobileNetV3-small trunk with two heads: the identity embedding and the finish."""
    import torch
    from torchvision.models import mobilenet_v3_small

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = mobilenet_v3_small(weights=None).features
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.embed = torch.nn.Sequential(
                torch.nn.Linear(576, 512), torch.nn.Hardswish(), torch.nn.Dropout(0.1), torch.nn.Linear(512, dim)
            )
            self.finish = torch.nn.Linear(576, len(FINISH_CLASSES))

        def forward(self, x: Any) -> tuple[Any, Any]:
            pooled = self.pool(self.features(x)).flatten(1)
            embedding = torch.nn.functional.normalize(self.embed(pooled), dim=1)
            return embedding, torch.softmax(self.finish(pooled), dim=1)

        def train_forward(self, x: Any) -> tuple[Any, Any]:
            pooled = self.pool(self.features(x)).flatten(1)
            return torch.nn.functional.normalize(self.embed(pooled), dim=1), self.finish(pooled)

    return Embedder()


# Where the renderer's foils lie on a well-centred face (card_face.render_face), as shares of its size
_INNER_BOX = (BORDER, BORDER, CARD_W - BORDER, CARD_H - BORDER)
ART_WINDOW = tuple(v / size for v, size in zip(art_window(_INNER_BOX), (CARD_W, CARD_H, CARD_W, CARD_H), strict=True))
INNER = tuple(v / size for v, size in zip(_INNER_BOX, (CARD_W, CARD_H, CARD_W, CARD_H), strict=True))
SYNTHETIC_FOILS = ("holofoil", "reverse_holofoil", "rainbow_foil", "cold_foil")
SYNTHETIC_FOIL_SHARES = (0.45, 0.2, 0.15, 0.2)


def add_foil(face: np.ndarray, finish: str, rng: np.random.Generator) -> np.ndarray:
    """A plain cached face (H, W, 4) with a foil of random sheen: the art window (holofoil), the
    frame around it (reverse holofoil) or the whole card (rainbow foil; cold foil, silvery). Bands
    of random angle, width, phase and strength, so the embedding learns the card under any shine,
    not one pattern."""
    h, w = face.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    band = (xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(8, 40) + rng.uniform(0, 2 * np.pi)
    rainbow = np.stack([np.sin(band), np.sin(band + 2.1), np.sin(band + 4.2)], -1) * 0.5 + 0.5
    if finish == "cold_foil":  # a silvery grid of random pitch
        pitch = rng.uniform(3, 12)
        rainbow = np.repeat((np.sin(xx / pitch) * np.sin(yy / pitch) * 0.5 + 0.5)[..., None], 3, -1)
    if rng.random() < 0.5:  # a sparkle texture over the bands, as cosmos and cracked-ice holos have
        rainbow = rainbow * (1 - 0.5 * (rng.random((h, w, 1)) < rng.uniform(0.02, 0.2)))
    mask = np.zeros((h, w), np.float32)

    def box(share: tuple[float, ...]) -> tuple[slice, slice]:
        return slice(round(share[1] * h), round(share[3] * h)), slice(round(share[0] * w), round(share[2] * w))

    if finish == "holofoil":
        mask[box(ART_WINDOW)] = 1
        strength_range = (0.2, 0.55)
    elif finish == "reverse_holofoil":
        mask[box(INNER)] = 1
        mask[box(ART_WINDOW)] = 0
        strength_range = (0.15, 0.45)
    else:
        mask[:] = 1
        strength_range = (0.12, 0.4)
    strength = rng.uniform(*strength_range) * mask[..., None]
    out = face.copy()
    out[..., :3] = (face[..., :3] * (1 - strength) + 255 * rainbow * strength).clip(0, 255).astype(np.uint8)
    return out


class ArcFace:
    """Additive angular margin loss (Deng et al. 2019): cos(theta + m), scaled by s."""

    def __init__(self, classes: int, dim: int, *, s: float = 30.0, m: float = 0.3) -> None:
        import torch

        self.weight = torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(classes, dim)))
        self.s, self.m = s, m

    def __call__(self, embeddings: Any, labels: Any) -> Any:
        import torch

        cosine = embeddings @ torch.nn.functional.normalize(self.weight, dim=1).T
        theta = torch.acos(cosine.clamp(-1 + 1e-6, 1 - 1e-6))
        target = torch.cos(theta + self.m)
        onehot = torch.nn.functional.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(onehot, target, cosine) * self.s
        return torch.nn.functional.cross_entropy(logits, labels)


def info_nce(embeddings: Any, labels: Any, temperature: float) -> Any:
    """Supervised contrastive loss: every other view of the same card is a positive, the rest negatives."""
    import torch

    logits = embeddings @ embeddings.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=embeddings.device)
    logits = logits.masked_fill(eye, -1e9)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -(log_prob * positives).sum(1) / positives.sum(1).clamp(min=1)
    return per_anchor[positives.any(1)].mean()


CACHE_W, CACHE_H = 176, 246  # faces are rendered once, then distorted at this size each epoch


def render_cache(specs: Sequence[FaceSpec]) -> np.ndarray:
    """Every printing's face once (RGBA, reduced): the expensive drawing is not repeated per view."""
    return np.stack([np.asarray(render_face(s).image.resize((CACHE_W, CACHE_H), Image.Resampling.BOX)) for s in specs])


def clean_inputs(faces: np.ndarray) -> np.ndarray:
    """Cached faces (N, H, W, 4) as clean reference pixels at the identifier's input size (on black,
    as the index's reference faces are drawn)."""
    import cv2

    flat = faces[..., :3].astype(np.float32) * (faces[..., 3:4].astype(np.float32) / 255)
    return np.stack([cv2.resize(f, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA) for f in flat]).astype(np.uint8)


def fast_view(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo-like view of a cached face, as the model's input (3, H, W): imperfect corners from the
    detector, the table behind the rounded corners, light, colour cast, glare, blur, noise, JPEG."""
    import cv2

    h, w = face.shape[:2]
    alpha = face[..., 3:4].astype(np.float32) / 255
    background = rng.integers(0, 255, 3).astype(np.float32)
    flat = face[..., :3].astype(np.float32) * alpha + background * (1 - alpha)
    if rng.random() < 0.5:  # whitened corners and edges
        for _ in range(int(rng.integers(1, 12))):
            along = rng.random() < 0.5
            x = int(rng.integers(0, w)) if along else int(rng.choice([rng.integers(0, 5), rng.integers(w - 5, w)]))
            y = int(rng.choice([rng.integers(0, 5), rng.integers(h - 5, h)])) if along else int(rng.integers(0, h))
            cv2.circle(flat, (x, y), int(rng.integers(1, 4)), (235.0, 235.0, 235.0), -1)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = (src + rng.normal(0, 0.025, (4, 2)) * [w, h]).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    out: np.ndarray = cv2.warpPerspective(
        flat, matrix, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=background.tolist()
    )
    out = out * rng.uniform(0.55, 1.3) + rng.uniform(-25, 25)  # exposure
    out = out * rng.uniform(0.85, 1.15, 3)  # white balance
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * rng.uniform(0.6, 1.3)  # saturation
    if rng.random() < 0.4:  # a glare band from a lamp or a sleeve
        ramp = np.arange(w)[None, :] + np.arange(h)[:, None] * rng.uniform(-0.6, 0.6)
        band = np.exp(-(((ramp - rng.uniform(0, w)) / rng.uniform(6, 30)) ** 2))[..., None]
        out = out + band * rng.uniform(60, 170)
    if rng.random() < 0.5:  # uneven light
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        out = (
            out
            * (1 + rng.uniform(-0.3, 0.3) * ((xx / w - 0.5) * rng.normal() + (yy / h - 0.5) * rng.normal()))[..., None]
        )
    out = cv2.resize(out.clip(0, 255), (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out = out + rng.normal(0, rng.uniform(0, 6), out.shape)
    if rng.random() < 0.5:
        quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))]
        _, jpeg = cv2.imencode(".jpg", out.clip(0, 255).astype(np.uint8), quality)
        out = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED), np.float32)
    arr = out.clip(0, 255).astype(np.float32) / 255
    result: np.ndarray = ((arr - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)
    return result


def training_cards(
    pool: Sequence[FaceSpec], cards: int, seed: int, *, also: Sequence[str] = ()
) -> list[list[FaceSpec]]:
    """``cards`` cards drawn from the pool, each with all of its printings (one class per card),
    plus the cards ``also`` names (art keys; those of the scan crops trained on)."""
    by_card: dict[str, list[FaceSpec]] = {}
    for spec in pool:
        by_card.setdefault(spec.art_key, []).append(spec)
    keys = sorted(by_card)
    rng = np.random.default_rng(seed)
    chosen = {keys[i] for i in rng.choice(len(keys), size=min(cards, len(keys)), replace=False)}
    chosen |= {key for key in also if key in by_card}
    return [by_card[key] for key in sorted(chosen)]


# a scan crop trains the identifier only when this much of its card shows: under a neighbour, the
# crop is mostly the neighbour's face, which would teach it the wrong card; with the neighbour
# painted out (the crop as the scan shows it, ``shown``), what is left is all this card's own
CROP_MIN_VISIBLE = 0.6
SHOWN_MIN_VISIBLE = 0.3


def crop_views(
    folders: Sequence[Path],
    pool: Sequence[FaceSpec],
    *,
    min_visible: float = 0.0,
    shown_min_visible: float = SHOWN_MIN_VISIBLE,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Scan-crop sets as identifier pixels (N, H, W, 3) uint8, the card (art key) and the finish
    class of each, each crop as the scan shows it to the identifier (what surely lies over it
    painted out); crops of printings outside ``pool``, or showing less than ``min_visible`` of
    their card (``shown_min_visible`` where the neighbour over it is painted out), are left out."""
    from pipelines.scan_crops import read_crops

    card_of = {s.printing_id: s.art_key for s in pool}
    pixels, keys, finishes = [], [], []
    for folder in folders:
        for image, row in read_crops(folder):
            enough = min(min_visible, shown_min_visible) if row.get("shown") else min_visible
            if row["printing_id"] in card_of and row["visible"] >= enough:
                if row.get("shown"):
                    image = Image.open(folder / row["shown"]).convert("RGB")
                pixels.append(identifier_pixels(image))
                keys.append(card_of[row["printing_id"]])
                finishes.append(finish_class(row["finish"]))
    if not pixels:
        return np.zeros((0, INPUT_H, INPUT_W, 3), np.uint8), [], np.zeros(0, np.int64)
    return np.stack(pixels), keys, np.asarray(finishes)


def crop_view(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scan crop as the model's input, with light photometric jitter (exposure, white balance):
    the crop already carries the photo's own perspective, blur, noise and cut."""
    out = pixels.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15)
    out = out * rng.uniform(0.92, 1.08, 3)
    result: np.ndarray = normalise(out.clip(0, 255).astype(np.uint8)[None])[0]
    return result


def train_identifier(
    config: IdentifierConfig, pool: Sequence[FaceSpec], progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    crop_pixels, crop_keys, crop_finishes = crop_views(config.crops, pool, min_visible=CROP_MIN_VISIBLE)
    cards = training_cards(pool, config.printings, config.seed, also=crop_keys)
    class_of = {printings[0].art_key: i for i, printings in enumerate(cards)}
    crop_labels = np.asarray([class_of[k] for k in crop_keys], np.int64)
    specs = [s for printings in cards for s in printings]
    labels = np.asarray([i for i, printings in enumerate(cards) for _ in printings])
    finishes = np.asarray([finish_class(s.finish) for s in specs])
    start = time.perf_counter()
    faces = render_cache(specs)
    render_seconds = time.perf_counter() - start
    model = _model(config.dim).to(config.device)
    arcface = ArcFace(len(cards), config.dim, s=config.scale, m=config.margin)
    if config.init is not None:  # continue from a trained identifier: each class starts at its card's face
        load_weights(model, config.init, device=config.device)
        model.eval()
        with torch.no_grad():
            centres = [
                model(torch.from_numpy(normalise(clean_inputs(faces[first : first + 256]))).to(config.device))[0]
                for first in range(0, len(faces), 256)
            ]
            per_printing = torch.cat(centres)
            by_card = torch.zeros(len(cards), config.dim).index_add_(0, torch.from_numpy(labels), per_printing)
            arcface.weight.data.copy_(torch.nn.functional.normalize(by_card, dim=1))
    optimizer = torch.optim.AdamW([*model.parameters(), arcface.weight], lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * -(-len(cards) * config.views_per_printing // config.batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(steps, 1))
    warmup_steps = max(1, int(steps * config.margin_warmup))
    step = 0
    first_of_card = np.searchsorted(labels, np.arange(len(cards)))
    count_of_card = np.bincount(labels, minlength=len(cards))
    history, finish_accuracy = [], []
    for epoch in range(config.epochs):
        # every card `views` times per epoch, each time as one of its printings (finish) at random
        if config.loss == "infonce":  # batches of half as many cards, each card twice (two views)
            half = config.batch // 2
            cards_order = [rng.permutation(len(cards)) for _ in range(config.views_per_printing // 2 or 1)]
            order = np.concatenate(
                [
                    np.concatenate([p[i : i + half], p[i : i + half]])
                    for p in cards_order
                    for i in range(0, len(p), half)
                ]
            )
        else:
            order = np.repeat(np.arange(len(cards)), config.views_per_printing)
            order = order[rng.permutation(len(order))]
        model.train()
        if config.init is not None:  # the stored statistics stay (folded ones in an ONNX start)
            freeze_norms(model)
        total, correct, seen = 0.0, 0, 0
        for b in range(0, len(order), config.batch):
            card_idx = order[b : b + config.batch]
            idx = first_of_card[card_idx] + (rng.random(len(card_idx)) * count_of_card[card_idx]).astype(int)
            view_finish = finishes[idx].copy()
            view_label = labels[idx].copy()
            views = []
            for n, i in enumerate(idx):
                if len(crop_labels) and rng.random() < config.crop_share:  # a card as the scan cut it
                    k = int(rng.integers(len(crop_labels)))
                    views.append(crop_view(crop_pixels[k], rng))
                    view_label[n], view_finish[n] = crop_labels[k], crop_finishes[k]
                    continue
                face = faces[i]
                if view_finish[n] == 0 and rng.random() < config.foil_share:
                    foil = SYNTHETIC_FOILS[int(rng.choice(len(SYNTHETIC_FOILS), p=SYNTHETIC_FOIL_SHARES))]
                    face, view_finish[n] = add_foil(face, foil, rng), finish_class(foil)
                views.append(fast_view(face, rng))
            x = torch.from_numpy(np.stack(views)).to(config.device)
            y = torch.from_numpy(view_label).to(config.device)
            f = torch.from_numpy(view_finish).to(config.device)
            # ArcFace from scratch stalls when the margin applies from the first step: start as a
            # plain cosine softmax and bring the margin in once the classes have separated a little
            arcface.m = config.margin * min(1.0, step / warmup_steps)
            step += 1
            embedding, finish_logits = model.train_forward(x)
            metric = info_nce(embedding, y, config.temperature) if config.loss == "infonce" else arcface(embedding, y)
            loss = metric + torch.nn.functional.cross_entropy(finish_logits, f)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(idx)
            correct += int((finish_logits.argmax(1) == f).sum())
            seen += len(idx)
            if progress and step % 100 == 0:
                progress(f"step {step}/{steps}: loss {total / seen:.4f}, margin {arcface.m:.2f}")
        history.append(round(total / max(seen, 1), 4))
        finish_accuracy.append(round(correct / max(seen, 1), 4))
        if progress:
            progress(f"epoch {epoch + 1}/{config.epochs}: loss {history[-1]}, finish accuracy {finish_accuracy[-1]}")
    config.out.mkdir(parents=True, exist_ok=True)
    weights = config.out / "identifier.pt"
    torch.save(model.state_dict(), weights)
    onnx = export_onnx(model, config.out / "identifier.onnx")
    return {
        "weights": str(weights),
        "onnx": str(onnx),
        "loss": history,
        "finish_accuracy": finish_accuracy,
        "seconds": time.perf_counter() - start,
        "render_seconds": render_seconds,
        "classes": len(cards),
        "crops": len(crop_labels),
        "printings": len(specs),
        "config": config_strings(config),
        "train_cards": sorted(printings[0].art_key for printings in cards),
        "train_printings": [s.printing_id for s in specs],
    }


def export_onnx(model: Any, path: Path) -> Path:
    return torch_to_onnx(
        model, (2, 3, INPUT_H, INPUT_W), path, input_name="image", output_names=["embedding", "finish"]
    )


def reference_spec(spec: FaceSpec) -> FaceSpec:
    """The face a card is indexed by: its plain print (finishes are told apart by the finish head)."""
    return replace(spec, finish="normal", printing_id=spec.art_key)


def reference_specs(pool: Sequence[FaceSpec]) -> list[FaceSpec]:
    """One reference face per card of the pool."""
    seen: dict[str, FaceSpec] = {}
    for spec in pool:
        seen.setdefault(spec.art_key, reference_spec(spec))
    return list(seen.values())


class EmbeddingIndex(CardIdentifier):
    """The serving identifier (``models.identify``) plus what building an index needs: embedding
    images into it. Searches exactly below 50,000 references, with an HNSW graph above."""

    def __init__(self, onnx: Path) -> None:
        super().__init__(onnx, device="cpu")


def reference_pixels(specs: Sequence[FaceSpec]) -> np.ndarray:
    """The clean reference faces at the identifier's input size, (N, H, W, 3) uint8."""
    return np.stack([identifier_pixels(clean_face(s)) for s in specs])


def build_index(
    index: EmbeddingIndex,
    specs: Sequence[FaceSpec],
    batch: int = 128,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> None:
    """Embed the clean reference face of every given card into ``index`` (ids are card ids).
    Drawing the faces is most of the work: ``workers`` processes draw them while this one embeds."""
    chunks = [specs[i : i + batch] for i in range(0, len(specs), batch)]
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            rendered = pool.map(reference_pixels, chunks)
            for chunk, pixels in zip(chunks, rendered, strict=True):
                index.add_vectors([s.art_key for s in chunk], index.run(normalise(pixels))[0])
                if progress:
                    progress(len(chunk))
        return
    for chunk in chunks:
        index.add_vectors([s.art_key for s in chunk], index.run(normalise(reference_pixels(chunk)))[0])
        if progress:
            progress(len(chunk))


def evaluate_retrieval(
    onnx: Path,
    gallery: Sequence[FaceSpec],
    queries: Sequence[FaceSpec],
    seed: int,
    index: EmbeddingIndex | None = None,
) -> dict[str, float]:
    """Top-1/top-5 card identity and finish accuracy: photo-like views of ``queries`` (printings)
    against the reference faces of ``gallery``'s cards (or a prebuilt ``index``)."""
    if index is None:
        index = EmbeddingIndex(onnx)
        build_index(index, reference_specs(gallery))
    rng = np.random.default_rng(seed)
    views = [photo_like(s, rng) for s in queries]
    embeddings, finishes = [], []
    for i in range(0, len(views), 64):
        e, f = index.run(np.stack([to_input(v) for v in views[i : i + 64]]))
        embeddings.append(e)
        finishes.append(f)
    results = index.search(np.concatenate(embeddings), k=5)
    finish_ok = np.concatenate(finishes).argmax(1) == np.asarray([finish_class(s.finish) for s in queries])
    top1 = np.asarray([r[0][0] == s.art_key for r, s in zip(results, queries, strict=True)])
    top5 = np.mean([s.art_key in [i for i, _ in r] for r, s in zip(results, queries, strict=True)])
    metrics = {
        "top1": float(top1.mean()),
        "top5": float(top5),
        "finish_accuracy": float(finish_ok.mean()),
        "printing_top1": float((top1 & finish_ok).mean()),
        "gallery": float(len(index.ids)),
        "queries": float(len(queries)),
    }
    names = np.asarray([FINISH_CLASSES[finish_class(s.finish)] for s in queries])
    for name in FINISH_CLASSES:
        if (names == name).any():
            metrics[f"top1.{name}"] = float(top1[names == name].mean())
            metrics[f"queries.{name}"] = float((names == name).sum())
    return metrics


def evaluate_crops(index: CardIdentifier, folder: Path, pool: Sequence[FaceSpec]) -> dict[str, float]:
    """Top-1/top-5 card identity from the embedding alone on a scan-crop set (cards as the scan cuts
    them out of photos), against ``index``; the identifier's number for what it really gets."""
    pixels, keys, finishes = crop_views([folder], pool)
    if not keys:
        return {"crops": 0.0}
    embeddings, finish_probs = [], []
    for i in range(0, len(pixels), 64):
        e, f = index.run(normalise(pixels[i : i + 64]))
        embeddings.append(e)
        finish_probs.append(f)
    results = index.search(np.concatenate(embeddings), k=5)
    top1 = np.mean([r[0][0] == key for r, key in zip(results, keys, strict=True)])
    top5 = np.mean([key in [i for i, _ in r] for r, key in zip(results, keys, strict=True)])
    finish_ok = np.concatenate(finish_probs).argmax(1) == finishes
    return {
        "crops_top1": float(top1),
        "crops_top5": float(top5),
        "crops_finish_accuracy": float(finish_ok.mean()),
        "crops": float(len(keys)),
    }


def write_card(result: dict[str, Any], metrics: dict[str, float], destination: Path, command: str) -> Path:
    import platform

    destination.mkdir(parents=True, exist_ok=True)
    card = destination / "identifier.md"
    shown = "\n".join(f"| {k} | {v:.4f} |" if v < 2 else f"| {k} | {v:.0f} |" for k, v in metrics.items())
    card.write_text(f"""# Card identifier (embedding for retrieval + finish)

- **Architecture**: torchvision MobileNetV3-small trunk from scratch (no pretrained weights), two heads:
  a {result["config"]["dim"]}-d L2-normalised embedding trained with ArcFace (s={result["config"]["scale"]},
  m={result["config"]["margin"]}, ramped up from 0 over the first {float(result["config"]["margin_warmup"]):.0%}
  of the steps) and a
  {len(FINISH_CLASSES)}-way finish classifier ({", ".join(FINISH_CLASSES)}); input {INPUT_W}x{INPUT_H} RGB
  of the rectified card. ONNX outputs `embedding` and `finish` (probabilities), dynamic batch.
- **Classes**: {result["classes"]} cards of the training sets ({result["printings"]} printings; every
  printing of a card is one class: finishes share the art, the finish head tells them apart).
- **Data**: every printing's face rendered once (`pipelines/render/card_face.py`), then per view:
  detector-like corner jitter, the table behind the rounded corners, wear specks, exposure, white
  balance, saturation, glare bands, uneven light, blur, noise, JPEG (`fast_view`). Held-out sets
  (a tenth of the sets, by a hash of the set id) are never trained on.
- **Index**: `index.npz` holds the embedding of every card's plain reference face in the catalog
  (Pokémon + Flesh and Blood); `cardvault index --set NEW` adds a set without retraining.
- **Training command**: `{command}`; {result["seconds"] / 60:.1f} minutes (rendering
  {result["render_seconds"] / 60:.1f}) on this machine's CPU ({platform.processor() or platform.machine()},
  2 cores): no GPU was available to this session.
- Loss per epoch: {result["loss"]}; finish accuracy on training views: {result["finish_accuracy"]}.

## Held-out retrieval

Photo-like views (the slower full-resolution `photo_like` path, not the training augmentation) of
printings from held-out sets, searched against the whole catalog's index.

| metric | value |
| --- | ---: |
{shown}
""")
    return card
