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


def test_scored_rows_say_which_label_each_found_card_is_and_what_was_read() -> None:
    """`cardvault evaluate --rows` lists every labelled card: a row per found card names its label
    (its index in the photo's labels) and what the scan read, so the misses can be read."""
    from pipelines.evaluate_scan import score_photo

    def full(card_id: str, box: list[float], visible: float = 1.0) -> dict[str, Any]:
        grades = {"overall": 8.0, "condition": "NM"}
        condition = {"centering_lr": 0.5, "centering_tb": 0.5}
        extra = {"finish": "normal", "grades": grades, "keypoint_visible": [True] * 4, "condition": condition}
        x0, y0, x1, y1 = box
        return _label(card_id, box, visible) | extra | {"corners": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}

    labels = [full("a-1", [0, 0, 100, 140]), full("b-2", [400, 0, 500, 140]), full("c-3", [800, 0, 900, 140])]
    read = {"name": "Pikachu", "collector": "25/102"}
    found = {
        "box": [400, 0, 500, 140],
        # read half a turn round, and 2 px off at the top right
        "corners": [[500, 140], [400, 140], [400, 0], [502, 0]],
        "candidates": [{"card_id": "a-1"}],
        "embedding": [["b-2", 0.9]],
        "finish": "normal",
        "tier": "FAIR",
        "grade": {"overall": 9.5, "condition": "NM", "centering_lr": 0.52, "centering_tb": 0.5},
        "ocr": read,
    }
    rows, false_positives, missed = score_photo([found], labels)
    assert false_positives == 0 and missed == 2
    (row,) = rows
    assert row["label"] == 1 and row["card_id"] == "b-2" and row["named"] == "a-1" and row["ocr"] == read
    assert not row["top1"] and row["embedding_top1"] and row["grade_error"] == 1.5
    assert (row["overall"], row["overall_truth"], row["condition"], row["condition_truth"]) == (9.5, 8.0, "NM", "NM")
    assert abs(row["centering_error"] - 1.0) < 1e-9
    diagonal = (100**2 + 140**2) ** 0.5
    assert abs(row["outline_error"] - 100 * (2 / 4) / diagonal) < 1e-9
    assert row["corner_error"] > 50  # half a turn off: each corner a diagonal away, but one 2 px nearer


def test_identification_is_also_reported_for_cards_in_view_and_for_partly_hidden_ones() -> None:
    """The embedding compares whole cards: `cardvault evaluate --pipeline` reports top-1 (fused, and from
    the embedding alone) apart for cards whose four corners are in view and for the others."""
    from pipelines.evaluate_scan import summarise

    def row(in_view: bool, top1: bool, embedding_top1: bool) -> dict[str, Any]:
        return {
            "in_view": in_view,
            "top1": top1,
            "embedding_top1": embedding_top1,
            "top5": top1,
            "finish_ok": True,
            "tier": "FAIR",
            "grade_error": 0.0,
            "condition_ok": True,
            "centering_error": None,
            "corner_error": 1.0,
            "outline_error": 1.0,
        }

    rows = [row(True, True, True)] * 3 + [row(True, False, False)] + [row(False, True, False), row(False, False, False)]
    result = summarise(rows, false_positives=0, missed=0)
    assert result["identification_top1.in view"] == 0.75 and result["embedding_alone_top1.in view"] == 0.75
    assert result["identification_top1.partly hidden"] == 0.5 and result["embedding_alone_top1.partly hidden"] == 0.0
    assert abs(result["embedding_alone_top1"] - 0.5) < 1e-9
