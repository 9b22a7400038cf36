"""Grade a rectified card: corners, edges and surface from the grader network, the corners and
edges read again patch by patch at full crop resolution by the wear network (``models.wear``)
where it is shipped, centering from the geometry of the printed frame (``models.centering``), then
the rubric's overall grade."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from models.centering import grid_pixels, measure_centering
from models.identify import providers_for, session_options
from models.wear import CORNERS, EDGE_STRETCHES, EDGES, SCALE_H, SCALE_W, WearNet, patches, scaled
from pipelines.render.condition import centering_grade, damage_subgrade, overall_grade

INPUT_W, INPUT_H = 192, 268


def grader_pixels(card: Image.Image) -> np.ndarray:
    """A rectified card at the grader's input size, (3, H, W) uint8 (training keeps these)."""
    pixels = np.asarray(card.convert("RGB").resize((INPUT_W, INPUT_H), Image.Resampling.BILINEAR))
    result: np.ndarray = pixels.transpose(2, 0, 1)
    return result


def grader_input(card: Image.Image) -> np.ndarray:
    """A rectified card as the grader's (3, H, W) float input in [0, 1]."""
    result: np.ndarray = grader_pixels(card).astype(np.float32) / 255
    return result


def grading_input(card: Image.Image) -> np.ndarray:
    """What the scan hands :meth:`CardGrader.grade` for one card: the rectified card at the
    scan-crop scale, (440, 315, 3) uint8 (the grader network's input and the wear network's
    patches are both cut from it)."""
    return scaled(card)


# columns of CardGrader.grade's rows: the grader network's corners, edges, surface, then the wear
# network's damage of each corner (TL, TR, BR, BL) and of each stretch of each edge (top, right,
# bottom, left; EDGE_STRETCHES each, edge by edge), NaN without a wear network
NETWORK = slice(0, 3)
CORNER_DAMAGE = slice(3, 3 + len(CORNERS))
EDGE_DAMAGE = slice(CORNER_DAMAGE.stop, CORNER_DAMAGE.stop + len(EDGES) * EDGE_STRETCHES)
GRADE_COLUMNS = EDGE_DAMAGE.stop
SEEN = 0.9  # a corner or edge patch with at least this share of it showing the card is read
# an edge is read when the photo shows at least this share of its stretches (its damage is then the
# worst of those shown); one mostly hidden counts as hidden (WearCalibration's offsets)
EDGE_SEEN = 0.5


def half_turn(row: np.ndarray) -> np.ndarray:
    """A grade row of the card turned half round: its corners and edges two places on."""
    out = row.copy()
    out[CORNER_DAMAGE] = np.roll(row[CORNER_DAMAGE], 2)
    out[EDGE_DAMAGE] = np.roll(row[EDGE_DAMAGE].reshape(len(EDGES), EDGE_STRETCHES), 2, axis=0).ravel()
    return out


def patches_seen(visible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Which corners (4) and which stretches of each edge (4, EDGE_STRETCHES) of a card the photo
    shows, from its visibility grid (``models.rectify.visibility``): a patch at least ``SEEN`` of
    which shows the card."""
    if visible is None:
        return np.ones(len(CORNERS), bool), np.ones((len(EDGES), EDGE_STRETCHES), bool)
    mask = grid_pixels(visible, SCALE_H, SCALE_W).astype(np.float32)[..., None]
    cut = patches(mask)
    shown = cut.reshape(len(cut), -1).mean(axis=1) >= SEEN
    return shown[: len(CORNERS)], shown[len(CORNERS) :].reshape(len(EDGES), EDGE_STRETCHES)


def edge_readings(stretch_damage: np.ndarray, stretches_seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each edge's damage (4) and whether it is read (4), from the damage of its stretches
    (4 x EDGE_STRETCHES, or flat) and which of them the photo shows: an edge with at least
    ``EDGE_SEEN`` of its stretches shown is read, as the worst of those shown."""
    damage = np.asarray(stretch_damage, np.float32).reshape(len(EDGES), EDGE_STRETCHES)
    seen = np.asarray(stretches_seen, bool).reshape(len(EDGES), EDGE_STRETCHES)
    read = seen.mean(axis=1) >= EDGE_SEEN
    return np.where(seen, damage, 0.0).max(axis=1), read


@dataclass(frozen=True)
class WearCalibration:
    """How the wear network's worst corner (edge) the photo shows becomes the card's worst corner
    (edge): its damage times ``*_scale`` (the network, trained on a smooth L1 loss over all patches,
    reads the worst of them a little low), plus ``*_hidden[k]`` when ``k`` corners (edges) are
    hidden: the rubric grades all four, and one under another card is worn like the others, so it
    is as likely as not the worst.
    Fitted on scans of training-split scenes (``cardvault train wear-calibration``,
    ``pipelines/train/wear_calibration.py``) and shipped in ``models/wear/calibration.json``; the
    defaults change nothing."""

    corner_scale: float = 1.0
    edge_scale: float = 1.0
    corner_hidden: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)  # added damage with 0, 1, 2, 3 corners hidden
    edge_hidden: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    metrics: dict[str, float] = field(default_factory=dict)

    def worst(self, damage: np.ndarray, seen: np.ndarray, *, edges: bool = False) -> float | None:
        """The card's worst corner (or edge) damage from the network's reading of each and which of
        them the photo shows; None when it shows none of them."""
        if not seen.any():
            return None
        scale, hidden = (self.edge_scale, self.edge_hidden) if edges else (self.corner_scale, self.corner_hidden)
        shown = float(np.max(np.asarray(damage, np.float32)[seen]))
        return min(1.0, max(0.0, shown * scale + hidden[len(seen) - int(seen.sum())]))

    @classmethod
    def load(cls, path: Path | None) -> WearCalibration:
        """The fitted calibration at ``path``; the identity when there is none."""
        if path is None or not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(
            float(data["corner_scale"]),
            float(data["edge_scale"]),
            tuple(float(v) for v in data["corner_hidden"]),
            tuple(float(v) for v in data["edge_hidden"]),
            {k: float(v) for k, v in data.get("metrics", {}).items()},
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")


@dataclass(frozen=True)
class CardGrade:
    centering: float
    corners: float
    edges: float
    surface: float
    overall: float
    condition: str  # NM / LP / MP / HP / DMG
    centering_ratio: str | None  # as graders write it, e.g. "55/45 LR, 52/48 TB"
    centering_lr: float | None = None  # left border's share of left + right
    centering_tb: float | None = None  # top border's share of top + bottom

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# the centering subgrade of an axis that cannot be measured (a side under another card or off the
# photo): the grade within one of the truth for most cards (training-split scenes, seed 77: centering
# within one grade 0.690 / 0.749 / 0.771 / 0.755 / 0.755 with 7 / 8 / 9 / 9.5 / 10 for hidden axes)
HIDDEN_AXIS_GRADE = 9.0
# how far the centering subgrade follows the measured shares (1 = all the way). Session 6 measured
# from the crop's edges, whose error (sd ~0.10 of a share) was larger than the spread of real
# centering (sd ~0.075), and took 0.6 (a posterior's pull toward centred). Measured from the card's
# own edges (session 8, mean error ~1.3 points), the measurement is to be believed:
# `benchmarks/centering_trust.py --scenes datasets/calib-train-s77` (training split, 717 matched
# cards): centering within one grade 0.788 / 0.865 / 0.900 / 0.934 / 0.937 and overall within one
# 0.731 / 0.732 / 0.734 / 0.745 / 0.774 at trust 0.4 / 0.5 / 0.6 / 0.7 / 1.0
CENTERING_TRUST = 1.0


def centering_subgrade(
    lr: float | None, tb: float | None, *, lr_hidden: bool, tb_hidden: bool, trust: float = CENTERING_TRUST
) -> float:
    """The centering subgrade from the measured left and top shares (None: not measured): a measured
    axis through the rubric, followed ``trust`` of the way; one with a side hidden
    ``HIDDEN_AXIS_GRADE``; one with no printed frame found not penalised (10)."""

    def axis(share: float | None, hidden: bool) -> float:
        if share is not None:
            return centering_grade(0.5 + (share - 0.5) * trust, 0.5)
        return HIDDEN_AXIS_GRADE if hidden else 10.0

    return min(axis(lr, lr_hidden), axis(tb, tb_hidden))


def combine(
    subgrades: np.ndarray,
    card: Image.Image,
    *,
    visible: np.ndarray | None = None,
    margin: int = 0,
    calibration: WearCalibration | None = None,
) -> CardGrade:
    """The network's corners/edges/surface and the measured centering, through the rubric.
    ``visible``: where the crop shows the card (``models.rectify.visibility``); an axis with a
    side hidden gets ``HIDDEN_AXIS_GRADE``, one with no printed frame (full art, or a frame not
    told apart from the border) is not penalised. ``margin``: ``card`` was rectified with that
    much of the photo around it, and centering is measured from the card's own edges.
    ``calibration``: how the worst corner and edge shown become the card's (default: as read)."""
    centering = measure_centering(card, visible=visible, margin=margin)
    estimates = [float(v) for v in np.asarray(subgrades, np.float32)[NETWORK]]
    if len(subgrades) >= GRADE_COLUMNS and not np.isnan(subgrades[CORNER_DAMAGE]).any():
        # the wear network read each corner and edge at full resolution: the worst damage the photo
        # shows, calibrated (the hidden ones may be worse), goes through the rubric's own formula
        # (10 - 8 x damage, half steps down), as the worst corner or edge does; all of them hidden
        # keeps the grader network's estimate
        calibration = calibration or WearCalibration()
        corners_seen, stretches_seen = patches_seen(visible)
        edge_damage, edges_seen = edge_readings(subgrades[EDGE_DAMAGE], stretches_seen)
        if (corner := calibration.worst(subgrades[CORNER_DAMAGE], corners_seen)) is not None:
            estimates[0] = damage_subgrade(corner)
        if (edge := calibration.worst(edge_damage, edges_seen, edges=True)) is not None:
            estimates[1] = damage_subgrade(edge)
    lr_share = centering.left_share if centering.lr_measured else None
    tb_share = centering.top_share if centering.tb_measured else None
    lr_hidden, tb_hidden = bool({"left", "right"} & centering.hidden), bool({"top", "bottom"} & centering.hidden)
    # the network estimates subgrades that lie on the rubric's half steps: an estimate goes to the
    # nearest step (the rubric's rounding down is for its damage scores, and would cost a quarter
    # grade on average here)
    g = overall_grade(
        centering_subgrade(lr_share, tb_share, lr_hidden=lr_hidden, tb_hidden=tb_hidden),
        *(round(v * 2) / 2 for v in estimates),
    )
    lr = round(lr_share, 4) if lr_share is not None else None
    tb = round(tb_share, 4) if tb_share is not None else None
    measured_any = lr is not None or tb is not None or bool(centering.hidden)
    return CardGrade(
        g.centering,
        g.corners,
        g.edges,
        g.surface,
        g.overall,
        g.condition,
        centering.ratio() if measured_any else None,
        lr,
        tb,
    )


class CardGrader:
    def __init__(self, onnx: Path, *, wear: Path | None = None, device: str = "auto", threads: int = 0) -> None:
        self.session = ort.InferenceSession(str(onnx), session_options(threads), providers=providers_for(device))
        self.wear = WearNet(wear, device=device, threads=threads) if wear is not None and wear.exists() else None

    def grade(self, cards: np.ndarray) -> np.ndarray:
        """(N, 440, 315, 3) uint8 from :func:`grading_input` to (N, ``GRADE_COLUMNS``) rows: the
        grader network's corners, edges and surface (1-10), then the wear network's damage of each
        corner and of each stretch of each edge (0-1; NaN without one)."""
        out = np.full((len(cards), GRADE_COLUMNS), np.nan, np.float32)
        if not len(cards):
            return out
        batch = np.stack([grader_input(Image.fromarray(c)) for c in cards])
        out[:, NETWORK] = self.subgrades(batch)
        if self.wear is not None:
            corners, stretches = self.wear.damage(cards)
            out[:, CORNER_DAMAGE], out[:, EDGE_DAMAGE] = corners, stretches.reshape(len(cards), -1)
        return out

    def subgrades(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) from :func:`grader_input` to (N, 3): corners, edges, surface in [1, 10]."""
        if not len(batch):
            return np.zeros((0, 3), np.float32)
        out: np.ndarray = self.session.run(None, {"image": batch.astype(np.float32)})[0]
        return out
