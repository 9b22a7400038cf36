"""The wear network's patches: where they are cut, which ones the photo shows, and how the worst
corner and edge shown become the subgrades."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.grading import (
    CORNER_DAMAGE,
    EDGE_DAMAGE,
    GRADE_COLUMNS,
    combine,
    edge_readings,
    grading_input,
    half_turn,
    patches_seen,
)
from models.wear import CORNERS, EDGE_STRETCHES, EDGES, PATCH, PATCHES_PER_CARD, SCALE_H, SCALE_W, patches, per_card


def _marked() -> np.ndarray:
    """A card at the scan-crop scale with a mark of its own value in each corner and on each edge."""
    card = np.zeros((SCALE_H, SCALE_W, 3), np.uint8)
    h, w = SCALE_H, SCALE_W
    for value, (y, x) in zip((10, 20, 30, 40), ((0, 0), (0, w - 4), (h - 4, w - 4), (h - 4, 0)), strict=True):
        card[y : y + 4, x : x + 4] = value  # TL, TR, BR, BL
    card[0:2, 4 : w - 4] = 50  # top edge
    card[4 : h - 4, w - 2 :] = 60  # right edge
    card[h - 2 :, 4 : w - 4] = 70  # bottom edge
    card[4 : h - 4, 0:2] = 80  # left edge
    return card


def test_each_corner_turned_top_left_and_each_edge_along_the_top() -> None:
    cut = patches(_marked())
    assert cut.shape == (PATCHES_PER_CARD, PATCH, PATCH, 3)
    for k, value in enumerate((10, 20, 30, 40)):
        assert (cut[k, :2, :2] == value).all() and (cut[k, 4:, 4:] == 0).all()
    for k, value in enumerate((50, 60, 70, 80)):
        for s in range(EDGE_STRETCHES):
            patch = cut[len(CORNERS) + k * EDGE_STRETCHES + s]
            assert (patch[:2] == value).all() and (patch[2:] == 0).all()


def test_the_worst_corner_and_edge_shown_set_the_subgrades() -> None:
    card = Image.new("RGB", (630, 880), (200, 200, 200))
    row = np.full(GRADE_COLUMNS, np.nan, np.float32)
    row[:3] = (9.0, 9.0, 9.5)
    row[CORNER_DAMAGE] = (0.6, 0.0, 0.1, 0.0)  # TL badly worn
    row[EDGE_DAMAGE] = 0.0
    row[EDGE_DAMAGE.stop - 2] = 0.5  # left edge chipped at one stretch
    graded = combine(row, card)
    assert graded.corners == pytest.approx(5.0) and graded.edges == pytest.approx(6.0)  # 10 - 8 x damage
    # the left side under another card (its two corners and its edge): what shows is read, what
    # is hidden is not
    visible = np.ones((88, 63), bool)
    visible[:, :8] = False
    corners, stretches = patches_seen(visible)
    _, edges = edge_readings(row[EDGE_DAMAGE], stretches)
    assert corners.tolist() == [False, True, True, False] and edges.tolist() == [True, True, True, False]
    # the top and bottom edges lose their first or last stretch to the hidden strip, and are read
    assert stretches.sum(axis=1).tolist() == [EDGE_STRETCHES - 1, EDGE_STRETCHES, EDGE_STRETCHES - 1, 0]
    hidden = combine(row, card, visible=visible)
    assert hidden.corners == pytest.approx(9.0) and hidden.edges == pytest.approx(10.0)
    # all corners hidden: the grader network's estimate stays
    assert combine(row, card, visible=np.zeros((88, 63), bool)).corners == pytest.approx(9.0)
    # without the wear network (NaN), the grader network's three subgrades grade as before
    assert combine(row[:3], card).corners == pytest.approx(9.0)


def test_a_card_turned_half_round_keeps_its_corners() -> None:
    row = np.arange(GRADE_COLUMNS, dtype=np.float32)
    turned = half_turn(row)
    edges = row[EDGE_DAMAGE].reshape(len(EDGES), EDGE_STRETCHES)
    assert turned[CORNER_DAMAGE].tolist() == [5, 6, 3, 4]
    assert turned[EDGE_DAMAGE].reshape(len(EDGES), EDGE_STRETCHES).tolist() == edges[[2, 3, 0, 1]].tolist()
    # the patches of the card turned round are the same corners, two places on
    card = _marked()
    assert (patches(np.rot90(card, 2))[0] == patches(card)[2]).all()


def test_the_stretches_cover_each_edge_between_the_corners_and_a_hidden_one_is_not_read() -> None:
    from models.wear import _stretches

    for length in (SCALE_W, SCALE_H):
        starts = _stretches(length)
        covered = np.zeros(length, bool)
        for x in starts:
            covered[x : x + PATCH] = True
        assert covered[PATCH // 2 : length - PATCH // 2].all()
    # a chip read on the one stretch the photo does not show is not the edge's damage
    damage = np.zeros((len(EDGES), EDGE_STRETCHES), np.float32)
    damage[0, 2] = 0.8
    seen = np.ones_like(damage, bool)
    seen[0, 2] = False
    seen[3, : EDGE_STRETCHES // 2 + 1] = False  # the left edge mostly hidden
    worst, read = edge_readings(damage, seen)
    assert worst.tolist() == [0, 0, 0, 0] and read.tolist() == [True, True, True, False]
    seen[0, 2] = True
    assert edge_readings(damage, seen)[0][0] == pytest.approx(0.8)


def test_per_card_takes_each_corner_and_the_worst_stretch_of_each_edge() -> None:
    damage = np.zeros((2 * PATCHES_PER_CARD, 2), np.float32)
    damage[3, 0] = 0.7  # card 0, BL corner
    damage[PATCHES_PER_CARD + len(CORNERS) + 2 * EDGE_STRETCHES + 1, 1] = 0.4  # card 1, bottom edge
    corners, edges = per_card(damage)
    assert corners.shape == edges.shape == (2, len(EDGES))
    assert corners[0].tolist() == pytest.approx([0, 0, 0, 0.7]) and edges[1].tolist() == pytest.approx([0, 0, 0.4, 0])
    assert grading_input(Image.new("RGB", (630, 880))).shape == (SCALE_H, SCALE_W, 3)
