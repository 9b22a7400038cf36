"""Decoding the detector's ONNX output back to photo coordinates, and NMS."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.detector import (
    REDUCING_GAP,
    CardDetector,
    Detection,
    letterbox,
    moved_back,
    nms,
    reduced,
    with_close_ups,
    zoomed_out,
)


def test_letterbox_and_decode_map_back_to_photo_pixels() -> None:
    photo = Image.new("RGB", (1280, 960), (10, 20, 30))
    tensor, scale, pad = letterbox(photo, 416)
    assert tensor.shape == (3, 416, 416) and scale == 416 / 1280 and pad == (0.0, (416 - 312) / 2)
    corners = np.array([[100, 200], [300, 210], [290, 500], [95, 490]], float)  # in the photo
    box = np.array([95, 200, 300, 500], float)
    out = np.zeros((17, 3), np.float32)
    lb = box * scale + [pad[0], pad[1], pad[0], pad[1]]
    out[:5, 0] = [(lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2, lb[2] - lb[0], lb[3] - lb[1], 0.9]
    out[5:, 0] = np.c_[corners * scale + pad, np.ones(4)].ravel()
    out[:5, 1] = out[:5, 0] + [2, 1, 0, 0, -0.1]  # a near duplicate with a lower score
    out[5:, 1] = out[5:, 0]
    out[4, 2] = 0.1  # below the confidence threshold
    detections = CardDetector._decode(out, scale, pad, conf=0.25, iou=0.6)
    assert len(detections) == 1
    np.testing.assert_allclose(detections[0].corners, corners, atol=1e-3)
    np.testing.assert_allclose(detections[0].box, box, atol=1e-3)


def test_nms_keeps_separate_cards() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5) == [0, 2]


def _detection(box: tuple[float, float, float, float], score: float) -> Detection:
    x0, y0, x1, y1 = box
    return Detection(box, score, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float), np.ones(4))


def test_a_photo_zoomed_out_maps_back_to_its_own_pixels() -> None:
    photo = np.zeros((960, 1280, 3), np.uint8)
    photo[200:700, 300:650] = 255  # a white card
    canvas, scale, offset = zoomed_out(photo, 416)
    assert canvas.shape == (832, 832, 3) and scale == 416 / 1280
    ys, xs = np.nonzero(canvas[..., 0] > 200)  # the card on the canvas
    seen = _detection((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 0.9)
    back = moved_back(seen, scale, offset)
    np.testing.assert_allclose(back.box, (300, 200, 650, 700), atol=4)  # within a canvas pixel
    np.testing.assert_allclose(back.corners[2], (650, 700), atol=4)
    assert (canvas[:10, :10] == 114).all()  # the rest is the detector's letterbox grey


def test_a_sure_close_up_seen_zoomed_out_stands_for_the_unsure_detections_under_it() -> None:
    size = (1280, 960)
    ragged = [_detection((500, -10, 1290, 910), 0.46), _detection((120, -50, 950, 930), 0.3)]
    other = _detection((0, 0, 200, 280), 0.5)  # something beside it, not under it
    whole = _detection((300, -100, 1300, 1060), 0.81)
    assert with_close_ups([*ragged, other], [whole], size, sure=0.7) == [whole, other]
    # a close-up seen zoomed out less surely than what lies under it changes nothing
    steady = [_detection((100, 0, 1200, 960), 0.65)]
    assert with_close_ups(steady, [_detection((300, -100, 1300, 1060), 0.6)], size, sure=0.7) == steady
    # nor does a card seen zoomed out that does not fill the photo
    assert with_close_ups(ragged, [_detection((100, 100, 400, 500), 0.95)], size, sure=0.7) == ragged
    # where nothing was found near, the close-up must be sure itself
    assert with_close_ups([], [whole], size, sure=0.7) == [whole]
    assert with_close_ups([], [_detection((300, -100, 1300, 1060), 0.6)], size, sure=0.7) == []


def test_a_phone_photo_is_box_averaged_down_before_the_detector_sees_it() -> None:
    """A 12 MP photo is ~10 times the detector's 416 px input: averaged down by a whole factor first
    (4: 1008 x 756), the letterbox's filter then shrinks it by less than ``REDUCING_GAP``, and the
    detector's input is the one the photo itself gives. A 1280 px photo goes as it is."""
    rng = np.random.default_rng(0)
    photo = np.zeros((3024, 4032, 3), np.uint8)
    photo[:] = rng.integers(60, 120, (1, 4032, 3), dtype=np.uint8)  # a striped cloth
    photo[800:2400, 1000:2150] = (230, 210, 90)  # a yellow card
    small, factor = reduced(photo, 416)
    assert factor == 4 and small.shape == (756, 1008, 3)
    np.testing.assert_allclose(small[10, 20], photo[40:44, 80:84].reshape(-1, 3).mean(axis=0), atol=0.5)
    assert max(small.shape[:2]) >= REDUCING_GAP * 416
    direct, _, _ = letterbox(Image.fromarray(photo), 416)
    via, _, _ = letterbox(Image.fromarray(small), 416)
    assert direct.shape == via.shape and float(np.abs(direct - via).mean()) < 2 / 255
    ordinary = np.zeros((960, 1280, 3), np.uint8)
    same, one = reduced(ordinary, 416)
    assert one == 1 and same is ordinary
    # a detection on the reduced photo, in the photo's own pixels
    back = moved_back(_detection((250, 200, 537.5, 600), 0.9), 1 / factor, (0.0, 0.0))
    np.testing.assert_allclose(back.box, (1000, 800, 2150, 2400))
