"""Centering measured geometrically on a rectified card: the printed frame against the edges.

Along many rows (and columns) through the middle of the card, each border's width is read and
the median widths give left/right and top/bottom shares. The scan rectifies each card with some of
the photo around it (``margin``): a border then runs from the card's own edge, where the photo
shows it, to the frame, both found where the colour changes fastest; the corners only have to be
close (a corner a few pixels off moves the edge and the frame alike). An axis whose two borders do
not add up to a border's total is not reported (it found art, not the frame). Without a margin
(a crop of the card alone), the border runs from the crop's edge to where the colour departs from
the line's own border colour. Lines that do not show the card (under another card, off the photo)
are not read. No network guesses it: the grader reports what the geometry says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 630, 880  # rectified card at 10 px/mm


BORDER_TOTAL = 66.0  # px: both borders across the card (3.3 mm each on the renderer's cards, as on a Pokémon card)
BORDER_SPREAD = 0.3  # an axis's total further than this share from BORDER_TOTAL did not find the frame
AXES_AGREE = 0.12  # the two axes' totals within this share of BORDER_TOTAL of each other
EDGE_FLOOR = 4.0  # colour change per pixel (sum over RGB) that starts an edge
EDGE_ZONE = 10  # px over which a blurred edge's steepest point is sought
REACH = 110  # px into the card a line is read (a border is at most BORDER_TOTAL wide)
MIN_LINES = 5  # a side is measured along at least this many lines that show the card itself
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Centering:
    left: float
    right: float
    top: float
    bottom: float
    hidden: frozenset[str] = field(default_factory=frozenset)  # sides too covered (or off the photo) to measure

    @property
    def lr_measured(self) -> bool:
        return not {"left", "right"} & self.hidden and not np.isnan([self.left, self.right]).any()

    @property
    def tb_measured(self) -> bool:
        return not {"top", "bottom"} & self.hidden and not np.isnan([self.top, self.bottom]).any()

    @property
    def left_share(self) -> float:
        return self.left / (self.left + self.right)

    @property
    def top_share(self) -> float:
        return self.top / (self.top + self.bottom)

    def ratio(self) -> str:
        """As graders write it: the larger share first, e.g. ``55/45 LR, 52/48 TB``; an axis that
        could not be measured says why (``LR hidden``: a side covered or off the photo; ``LR no
        border``: no printed frame found, as on full-art cards)."""

        def axis(name: str, measured: bool, share: float, sides: set[str]) -> str:
            if measured:
                larger = max(share, 1 - share)
                return f"{round(larger * 100)}/{round((1 - larger) * 100)} {name}"
            return f"{name} hidden" if sides & self.hidden else f"{name} no border"

        return ", ".join(
            [
                axis("LR", self.lr_measured, self.left_share if self.lr_measured else 0.5, {"left", "right"}),
                axis("TB", self.tb_measured, self.top_share if self.tb_measured else 0.5, {"top", "bottom"}),
            ]
        )


def _frame_starts(profiles: np.ndarray, start: int, sustain: int, floor: float, ceiling: float) -> np.ndarray:
    """For each line, where the printed frame starts, judged against the line's own border colour
    (its pixels just inside the edge) rather than the card's: a foil's colour ramp or a light
    gradient across the card does not move it. The frame starts where the colour stays more than
    half the line's strong contrast (its 90th percentile in the outer third, kept between ``floor``
    and ``ceiling``: a faint frame next to bright art is still a frame) away from that colour for
    ``sustain`` pixels; the crossing is interpolated between pixels."""
    p = profiles.astype(np.float32)
    local = np.median(p[:, start : start + 6], axis=1, keepdims=True)
    limit = p.shape[1] // 3
    window = np.abs(p - local).sum(-1)[:, start:limit]
    level = np.clip(0.5 * np.percentile(window, 90, axis=1, keepdims=True), floor, ceiling)
    off = (window > level).astype(np.int32)
    sums = np.cumsum(np.pad(off, ((0, 0), (1, 0))), axis=1)
    hit = (sums[:, sustain:] - sums[:, :-sustain]) == sustain
    first = np.argmax(hit, axis=1)
    rows = np.arange(len(window))
    before = np.clip(first - 1, 0, None)
    a, b = window[rows, before], window[rows, first]
    fraction = np.where(b > a, (level[:, 0] - a) / np.maximum(b - a, 1e-6), 0.0)
    starts: np.ndarray = before + np.clip(fraction, 0, 1) + start
    starts[~hit.any(axis=1)] = np.nan
    return starts


def _peaks(g: np.ndarray, ok: np.ndarray, floor: float, zone: int) -> np.ndarray:
    """``g`` (lines, steps): the colour change along each line, step 0 at the seed, walking one way.
    The first edge met: the first step where the change, above ``floor``, peaks (no higher in the
    step before, nor in the ``zone`` steps after: a blurred edge spreads over several), placed
    between pixels by a parabola through its neighbours; nan where no edge is met. A seed on the
    far slope of an edge does not count that edge: the change falls from it."""
    n, length = g.shape
    rows = np.arange(n)
    g = np.where(ok, g, 0.0)
    ahead = np.full_like(g, np.inf)
    ahead[:, :-1] = g[:, 1:]
    for k in range(2, zone + 1):
        ahead[:, :-k] = np.maximum(ahead[:, :-k], g[:, k:])
    peak_here = (g > floor) & (g >= ahead)
    peak_here[:, 1:] &= g[:, 1:] >= g[:, :-1]
    peak_here[:, 0] = False
    met = peak_here.any(axis=1)
    peak = np.argmax(peak_here, axis=1)
    left, mid, right = (g[rows, np.clip(peak + k, 0, length - 1)] for k in (-1, 0, 1))
    curve = left - 2 * mid + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    steps: np.ndarray = peak + np.clip(shift, -0.5, 0.5)
    steps[~met] = np.nan
    return steps


def _border_widths(
    profiles: np.ndarray, margin: int, colour: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per line (walking in from ``margin`` pixels outside where the corners put the card's edge),
    the width of the printed border between the card's own edge and the frame, and whether the edge
    was seen. A seed point of the border is taken near the expected edge (flat, of the card's
    border ``colour``, a few pixels inside the expected edge); from it the line walks outward to the
    first edge (the card's own: the background, a sleeve) and inward to the next (the frame), each
    found where the colour changes fastest, so blur, which spreads an edge, does not move it. A
    line whose edge does not stand out (the border's colour runs on into the background) keeps
    the expected edge."""
    p = profiles.astype(np.float32)
    n_lines, length, _ = p.shape
    rows = np.arange(n_lines)
    change = np.zeros((n_lines, length), np.float32)
    change[:, 2:-2] = np.abs(p[:, 4:] - p[:, :-4]).sum(-1) / 4  # per pixel, over four pixels
    lo, hi = max(margin - 8, 4), margin + 16
    flat = sum(change[:, lo + k : hi + k] for k in range(-2, 3)) / 5  # flat: inside the border
    cost = 4 * flat + 0.1 * np.abs(p[:, lo:hi] - colour).sum(-1) + 0.2 * np.abs(np.arange(lo, hi) - (margin + 5))
    seed = lo + np.argmin(cost, axis=1)
    steps = np.arange(length)
    out_ix = seed[:, None] - steps[None, :]
    out_change = change[rows[:, None], np.clip(out_ix, 0, None)]
    edge = seed - _peaks(out_change, out_ix >= 2, floor, EDGE_ZONE)
    in_ix = seed[:, None] + steps[None, :]
    in_change = change[rows[:, None], np.clip(in_ix, None, length - 1)]
    frame = seed + _peaks(in_change, in_ix < length - 2, floor, EDGE_ZONE)
    seen = ~np.isnan(edge)
    edge = np.where(seen, edge, float(margin))
    return frame - edge, seen


def measure_centering(
    card: Image.Image,
    *,
    visible: np.ndarray | None = None,
    threshold: float = 60.0,
    sustain: int = 6,
    margin: int = 0,
) -> Centering:
    """``visible``: where the rectified card shows itself (``models.rectify.visibility``, a coarse
    (rows, cols) grid over the card); only lines whose outer fifth shows the card are measured, and
    a side with fewer than ``MIN_LINES`` such lines is reported hidden rather than guessed.
    ``margin``: the card was rectified with that many pixels of the photo around it
    (``rectify_card(..., margin=)``); each border is then measured from the card's own edge as the
    photo shows it, not from where the corners put it (a corner a few pixels off moves both the
    edge and the frame, not the width between them)."""
    card = card.convert("RGB")
    if margin:
        return _measure_padded(np.asarray(card), margin, visible)
    # the card stays uint8; only the strips and lines read below become float (a tenth of the pixels)
    rgb = np.asarray(card if card.size == (WIDTH, HEIGHT) else card.resize((WIDTH, HEIGHT)))
    edge = 6  # skip the very edge: whitening and cut lines live there
    rows_ix, cols_ix, usable = _usable_lines(visible)
    lines = {
        "left": rgb[rows_ix],
        "right": rgb[rows_ix, ::-1],
        "top": rgb[:, cols_ix].transpose(1, 0, 2),
        "bottom": rgb[::-1, cols_ix].transpose(1, 0, 2),
    }
    hidden = frozenset(side for side in SIDES if usable[side].sum() < MIN_LINES)

    def width(side: str) -> float:
        if side in hidden:
            return float("nan")
        # each line against its own border colour rather than the card's median border (on the
        # training-split scenes, seed 77, cards cut as the scan cuts them: mean error 6.3 -> 4.1
        # points left/right, 7.7 -> 7.0 top/bottom)
        found = _frame_starts(lines[side][usable[side]], edge, sustain, threshold / 2, threshold)
        return float(np.nanmedian(found)) if not np.isnan(found).all() else float("nan")

    left, right, top, bottom = (width(side) for side in SIDES)
    return Centering(left, right, top, bottom, hidden=hidden)


def grid_pixels(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """A coarse (rows, cols) grid over the card (``models.rectify.visibility``) at ``height`` x
    ``width`` pixels, each pixel taking its cell's value."""
    rows = np.minimum(np.arange(height) * grid.shape[0] // height, grid.shape[0] - 1)
    cols = np.minimum(np.arange(width) * grid.shape[1] // width, grid.shape[1] - 1)
    result: np.ndarray = grid[rows][:, cols]
    return result


def _usable_lines(visible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The rows and columns read (through the middle 60% of the card, every 7 px) and, per side,
    which of them show the card itself across the side's outer fifth."""
    seen = np.ones((HEIGHT, WIDTH), bool) if visible is None else grid_pixels(visible, HEIGHT, WIDTH)
    rows_ix = np.arange(int(HEIGHT * 0.2), int(HEIGHT * 0.8), 7)
    cols_ix = np.arange(int(WIDTH * 0.2), int(WIDTH * 0.8), 7)
    outer_w, outer_h = WIDTH // 5, HEIGHT // 5
    usable: dict[str, np.ndarray] = {
        "left": np.asarray(seen[rows_ix, :outer_w].all(axis=1)),
        "right": np.asarray(seen[rows_ix, -outer_w:].all(axis=1)),
        "top": np.asarray(seen[:outer_h, cols_ix].all(axis=0)),
        "bottom": np.asarray(seen[-outer_h:, cols_ix].all(axis=0)),
    }
    return rows_ix, cols_ix, usable


def _measure_padded(rgb: np.ndarray, margin: int, visible: np.ndarray | None) -> Centering:
    m = margin
    if rgb.shape[:2] != (HEIGHT + 2 * m, WIDTH + 2 * m):
        raise ValueError(f"a card rectified with margin {m} is {WIDTH + 2 * m} x {HEIGHT + 2 * m} pixels")
    rows_ix, cols_ix, usable = _usable_lines(visible)
    # each line is the mean of three neighbouring rows (or columns): less noise, same edge
    band = np.array([-1, 0, 1])
    r, c = rows_ix[:, None] + m + band, cols_ix[:, None] + m + band
    n = m + REACH  # each line from outside the card to past where the widest border ends
    lines = {
        "left": rgb[r, :n].mean(axis=1),
        "right": rgb[r, : -n - 1 : -1].mean(axis=1),
        "top": rgb[:n, c].mean(axis=2).transpose(1, 0, 2),
        "bottom": rgb[: -n - 1 : -1, c].mean(axis=2).transpose(1, 0, 2),
    }
    hidden = frozenset(side for side in SIDES if usable[side].sum() < MIN_LINES)
    inside = [lines[side][usable[side], m + 3 : m + 9] for side in SIDES if side not in hidden]
    if not inside:
        return Centering(*(float("nan"),) * 4, hidden=hidden)
    colour = np.median(np.concatenate([x.reshape(-1, 3) for x in inside]), axis=0)

    def width(side: str) -> float:
        if side in hidden:
            return float("nan")
        widths, seen_edge = _border_widths(lines[side][usable[side]], m, colour, EDGE_FLOOR)
        if seen_edge.sum() >= MIN_LINES:
            widths = widths[seen_edge]
        return float(np.nanmedian(widths)) if not np.isnan(widths).all() else float("nan")

    left, right, top, bottom = (width(side) for side in SIDES)
    left, right, top, bottom = _plausible(left, right, top, bottom)
    return Centering(left, right, top, bottom, hidden=hidden)


def _plausible(left: float, right: float, top: float, bottom: float) -> tuple[float, float, float, float]:
    """A card's border is printed the same width all round: the two widths across the card add up
    to about the same on both axes, whatever the cut's offset. An axis whose total is far from the
    other's (or from ``BORDER_TOTAL`` when only it is measured) found something other than the
    frame (a frame the colour of the border, a foil across both, a blurred photo): it is reported
    unmeasured rather than wrong. Of two that disagree, the one further from ``BORDER_TOTAL`` goes."""
    nan = float("nan")
    lr, tb = left + right, top + bottom
    far = {k: abs(total - BORDER_TOTAL) / BORDER_TOTAL for k, total in (("lr", lr), ("tb", tb)) if total == total}
    bad = {k for k, f in far.items() if f > BORDER_SPREAD}
    if len(far) == 2 and not bad and abs(lr - tb) > AXES_AGREE * BORDER_TOTAL:
        bad = {max(far, key=far.__getitem__)}
    if "lr" in bad:
        left = right = nan
    if "tb" in bad:
        top = bottom = nan
    return left, right, top, bottom
