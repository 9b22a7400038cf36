"""Pairing found cards with labelled ones when scoring a scan."""

from __future__ import annotations

from typing import Any

from pipelines.evaluate_scan import pair_with_labels


def _label(card_id: str, box: list[float], visible: float = 1.0) -> dict[str, Any]:
    return {"printing_id": f"{card_id}:normal:en", "box": box, "visible": visible}


def test_a_found_card_pairs_with_the_overlapping_label_of_its_own_identity() -> None:
    fan = [_label("a-1", [0, 0, 100, 140]), _label("b-2", [10, 0, 110, 140]), _label("c-3", [400, 0, 500, 140])]
    found = [
        {"box": [2, 0, 102, 140], "detection_score": 0.9, "candidates": [{"card_id": "b-2"}]},  # overlaps a-1 most
        {"box": [0, 0, 100, 140], "detection_score": 0.8, "candidates": []},
        {"box": [800, 0, 900, 140], "detection_score": 0.7, "candidates": [{"card_id": "c-3"}]},  # nowhere near c-3
    ]
    pairs, false_positives, missed = pair_with_labels(found, fan)
    assert [(i, label["printing_id"].split(":")[0]) for i, label in pairs] == [(0, "b-2"), (1, "a-1")]
    assert false_positives == 1 and missed == 1


def test_hidden_cards_are_not_expected() -> None:
    labels = [_label("a-1", [0, 0, 100, 140]), _label("b-2", [200, 0, 300, 140], visible=0.1)]
    pairs, false_positives, missed = pair_with_labels([{"box": [0, 0, 100, 140]}], labels)
    assert len(pairs) == 1 and false_positives == 0 and missed == 0


def test_a_mostly_hidden_card_found_and_named_is_neither_right_nor_wrong() -> None:
    """A hand of cards: the one underneath shows 20% of itself (its name strip), and the scan finds
    it there, where its box overlaps the card above at IoU >= 0.5."""
    hand = [_label("under-1", [0, 0, 100, 140], visible=0.2), _label("above-2", [10, 5, 110, 145])]
    under = {"box": [0, 0, 100, 140], "detection_score": 0.9, "candidates": [{"card_id": "under-1"}]}
    pairs, false_positives, missed = pair_with_labels([under], hand)
    assert pairs == [] and false_positives == 0 and missed == 1
    # named as something else, it is still paired with the card above (and scored wrong there)
    other = under | {"candidates": [{"card_id": "elsewhere-3"}]}
    pairs, false_positives, missed = pair_with_labels([other], hand)
    assert [label["printing_id"] for _, label in pairs] == ["above-2:normal:en"] and missed == 0
    # the card above found too: each found card takes its own
    above = {"box": [10, 5, 110, 145], "detection_score": 0.8, "candidates": [{"card_id": "above-2"}]}
    pairs, false_positives, missed = pair_with_labels([under, above], hand)
    assert [(i, label["printing_id"]) for i, label in pairs] == [(1, "above-2:normal:en")]
    assert false_positives == 0 and missed == 0
