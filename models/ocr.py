"""Read the name line and the collector line of a rectified card with the PP-OCR models.

The card is rectified, so the two lines sit in known strips: the name near the top, the
collector line (``SVI EN 012/198``, ``MST131``) near the bottom. PP-OCR (rapidocr on ONNX
Runtime; the models ship inside its wheel) finds the text lines in each strip and reads them:
the name is the largest line of the top strip, the collector line everything in the bottom one.
Small strips instead of the whole card keep it to a few tens of milliseconds per card on a CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

TOP_STRIP = (0.0, 0.0, 1.0, 0.135)  # x0, y0, x1, y1 as shares of the card
BOTTOM_STRIP = (0.0, 0.855, 1.0, 1.0)

HP_FIGURE = re.compile(r"\s*H\s*P\s*[\dOoIlSB]{1,3}\s*[^\w]*$")  # a Pokémon's HP, at the end of the name line
TOP_LINES = 1  # the name
RIGHT_END = 0.62  # a top-strip line starting this far right is the HP figure or the cost, not the name
TextLine = tuple[str, float, float, float]  # text, confidence, box area (px), left x
MAX_BOTTOM_LINES = 4
DETECT_SIDE = 320  # the text detector sees each strip scaled to this many px along its longest side
# a line found only at twice the size is read when its recognition is at least this sure: there the
# detector also finds specks and frame edges, read as `1`, `F`, `IWONO`
LARGER_LOOK_SURE = 0.7
SHORT_LINE = 0.55  # a bottom strip's line this share of its width or wider is attack or weakness text
# recognition reads lines 48 px high in batches, sorted by width, each line padded to the batch's widest
# and this many heights more. PaddleOCR pads to at least 320 px (6.7 heights): a name (~4 heights wide)
# and a collector line's parts read mostly padding, two fifths of the recognizer's time (a Conv network,
# linear in width). A line read with no room after its last letter loses it (``Oasis Respit``): half a
# height keeps it (``benchmarks/ocr_width.py``)
REC_PAD = 0.5


def _width(box: np.ndarray) -> float:
    return float(box[:, 0].max() - box[:, 0].min())


@dataclass(frozen=True)
class CardText:
    name: str
    name_score: float
    collector: str
    collector_score: float


def strips(card: np.ndarray) -> list[np.ndarray]:
    """The top and bottom strips of a rectified card (H, W, 3 uint8 RGB), as BGR for PP-OCR."""
    h, w = card.shape[:2]
    return [
        np.ascontiguousarray(card[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w), ::-1])
        for x0, y0, x1, y1 in (TOP_STRIP, BOTTOM_STRIP)
    ]


def card_text(top: list[TextLine], bottom: list[TextLine]) -> CardText:
    """The name (the top strip's largest line that is not the HP figure) and the collector line
    (the bottom strip, left to right)."""
    names = [line for line in top if not HP_FIGURE.fullmatch(line[0])] or top  # HP read as a line of its own
    name = max(names, key=lambda line: line[2], default=("", 0.0, 0.0, 0.0))
    ordered = sorted(bottom, key=lambda line: line[3])
    collector = " ".join(line[0] for line in ordered)
    score = float(np.mean([line[1] for line in ordered])) if ordered else 0.0
    return CardText(name[0], float(name[1]), collector, score)


def texts_of(lines: list[list[TextLine]]) -> list[CardText]:
    """Per card, its (top, bottom) strips' lines back into one record."""
    return [card_text(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]


class CardOCR:
    def __init__(self, *, device: str = "auto", threads: int = 0, batch: int | None = None, looks: int = 4) -> None:
        from rapidocr import RapidOCR

        # how many looks a strip without a line gets: 1, the detector's at its size; 2, then in grey with
        # its contrast stretched; 3, then (top strips) at twice the size; 4, also a bottom strip without a
        # collector line, of a card whose name was found, at twice the size. ``benchmarks/ocr_looks.py``
        self.looks = looks
        self.least, self.pad = 1.0, REC_PAD  # in heights: the least width of a batch, the room after its widest

        cuda = device in ("auto", "cuda") and _has_cuda()
        if batch is None:
            # recognition pads a batch to its widest line: on a CPU small batches waste less (9-card
            # page on 2 cores: 276 ms at 4 lines a batch, 346 ms at 16); a GPU wants large ones
            batch = 16 if cuda else 4
        self.batch = batch
        params: dict[str, Any] = {
            "Global.use_cls": False,
            "Global.log_level": "error",
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_SIDE,
            "EngineConfig.onnxruntime.use_cuda": cuda,
        }
        self.engine = RapidOCR(params=params)
        self._rebuild_sessions(threads)

    def _rebuild_sessions(self, threads: int) -> None:
        """rapidocr's sessions again, with this project's options (``session_options``: pools that do not
        spin) and a recognizer that only knows the characters a card of ours can print (``card_recognizer``).
        rapidocr loads its models lazily and takes neither: both are loaded here and rebuilt from its files
        (its version pinned in uv.lock)."""
        import onnxruntime as ort
        from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

        from models.identify import session_options

        detector: Any = self.engine._load_det_model()  # type: ignore[no-untyped-call]
        recognizer: Any = self.engine._load_rec_model()  # type: ignore[no-untyped-call]
        self.text_detector = detector  # ``detect`` runs it on batches of strips
        self.text_recognizer = recognizer  # ``recognize`` runs it on batches of lines
        built = detector.session.session
        providers = built.get_providers()
        detector.session.session = ort.InferenceSession(
            built._model_path, session_options(threads), providers=providers
        )
        self.recognizer_path: str = recognizer.session.session._model_path  # the file rapidocr ships
        model, characters = card_recognizer(self.recognizer_path)
        recognizer.session.session = ort.InferenceSession(model, session_options(threads), providers=providers)
        recognizer.postprocess_op = CTCLabelDecode(character=characters)

    def detect(self, crops: list[np.ndarray], *, limit: int | None = None) -> list[np.ndarray]:
        """Text line boxes (N, 4, 2) of every strip. Rectified cards share one size, so every top strip
        (and every bottom strip) has the same shape: strips of a shape go through the text detector as
        one batch, not one call each."""
        # rapidocr loads its models lazily and has no public batch API for detection: its detector's
        # own preprocessing, session and DB post-processing are reused here (version pinned in uv.lock)
        detector = self.text_detector
        prepare = detector.get_preprocess()
        if limit is not None:  # the longest side scaled to ``limit`` px instead of the configured size
            prepare = type(prepare)(limit, prepare.limit_type, prepare.mean, prepare.std)
        out: list[np.ndarray] = [np.zeros((0, 4, 2), np.float32) for _ in crops]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, crop in enumerate(crops):
            groups.setdefault(crop.shape, []).append(index)
        for members in groups.values():
            prepared = [prepare(crops[i]) for i in members]
            if any(p is None for p in prepared):
                continue
            predictions = detector.session(np.concatenate(prepared))
            for row, index in enumerate(members):
                boxes, _ = detector.postprocess_op(predictions[row : row + 1], crops[index].shape[:2])
                if len(boxes):
                    out[index] = detector.sorted_boxes(np.asarray(boxes, np.float32))
        return out

    def read_strips(self, crops: list[np.ndarray]) -> list[list[TextLine]]:
        """The text lines found in each strip (BGR uint8): the text detector over all strips, then
        one recognition batch over the lines worth reading (the top strip's largest line, and the
        bottom strip's lines short of a full-width row)."""
        selected: list[tuple[int, np.ndarray, float, float]] = []  # strip, crop, area, left x
        found = self.detect(crops)
        # a strip where no line was found may hold one too faint for the detector: a foil's dark
        # name on its own dark colours (a rainbow Shiftry, held-out seed 1003). Looked at again in
        # grey with its contrast stretched, and read from that view
        faint = [i for i, boxes in enumerate(found) if not len(boxes)] if self.looks >= 2 else []
        stretched = {i: view for i in faint if (view := stretch_contrast(crops[i])) is not None}
        if stretched:
            for i, boxes in zip(stretched, self.detect(list(stretched.values())), strict=True):
                found[i] = boxes
            crops = [stretched.get(i, crop) for i, crop in enumerate(crops)]
        # a name line still not found may be too small at the detector's size: the name of a card ~150 px
        # wide in the photo is ~6 px high. Top strips, at twice the size
        small = {i for i in faint if i % 2 == 0 and not len(found[i])} if self.looks >= 3 else set()
        # a collector line not found on a card whose name was: its print is half the name's height, and
        # dark print on a foil's colours is missed at the detector's size (a reverse holo photographed
        # close: ``cardvault dataset scenes --size 4032x3024``). Bottom strips of such cards, at twice the size
        if self.looks >= 4:
            small |= {
                i + 1
                for i in range(0, len(crops) - 1, 2)
                if len(found[i]) and not any(_width(box) < SHORT_LINE * crops[i + 1].shape[1] for box in found[i + 1])
            }
        if small:
            looked = sorted(small)
            for i, boxes in zip(looked, self.detect([crops[i] for i in looked], limit=2 * DETECT_SIDE), strict=True):
                found[i] = boxes
        for index, (crop, boxes) in enumerate(zip(crops, found, strict=True)):
            if not len(boxes):
                continue
            lines = []
            for box in boxes:
                width, height = _width(box), float(box[:, 1].max() - box[:, 1].min())
                lines.append((box, width * height, float(box[:, 0].min()), width))
            if index % 2 == 0:  # top strip: the name is its largest line that does not start at the right
                # end, where a Pokémon's HP figure and a Flesh and Blood cost sit (read only when alone)
                named = [line for line in lines if line[2] < RIGHT_END * crop.shape[1]] or lines
                lines = sorted(named, key=lambda line: -line[1])[:TOP_LINES]
            else:  # bottom strip: the collector line is short; a full-width row is the attack/weakness text
                short = [line for line in lines if line[3] < SHORT_LINE * crop.shape[1]]
                lines = sorted(short, key=lambda line: -line[1])[:MAX_BOTTOM_LINES]
            for box, area, left, _ in lines:
                selected.append((index, self.engine.crop_text_regions(crop, box[None])[0], area, left))
        out: list[list[TextLine]] = [[] for _ in crops]
        if selected:
            for (index, _, area, left), (text, score) in zip(
                selected, self.recognize([crop for _, crop, _, _ in selected]), strict=True
            ):
                if index in small and score < LARGER_LOOK_SURE:
                    continue
                out[index].append((str(text), float(score), area, left))
        return out

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each line (BGR uint8 crops of any size), read in batches of lines of
        like width, each padded to its batch's widest (``least`` heights at least) and ``pad`` heights
        more. rapidocr's own recognition pads to 320 px at least and takes no other width; its
        recognizer's resizing, session and CTC decoding are reused (version pinned in uv.lock)."""
        recognizer = self.text_recognizer
        ratios = np.array([crop.shape[1] / max(crop.shape[0], 1) for crop in crops])
        order = np.argsort(ratios, kind="stable")
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for start in range(0, len(crops), self.batch):
            members = order[start : start + self.batch]
            widest = max(self.least, float(ratios[members].max())) + self.pad
            batch = np.stack([recognizer.resize_norm_img(crops[i], widest) for i in members])  # float32
            lines, _ = recognizer.postprocess_op(
                recognizer.session(batch), False, wh_ratio_list=list(ratios[members]), max_wh_ratio=widest
            )
            for i, (text, score) in zip(members, lines, strict=True):
                out[i] = (str(text), float(score))
        return out

    def read(self, cards: list[np.ndarray]) -> list[CardText]:
        """Both lines of every card (RGB uint8 arrays of rectified cards)."""
        return texts_of(self.read_strips([s for card in cards for s in strips(card)]))


def card_recognizer(path: str) -> tuple[bytes, list[str]]:
    """The PP-OCR recognizer at ``path`` cut down to the characters below U+3000 (Latin, Greek, Cyrillic,
    punctuation, symbols such as the rarity marks): 1,748 of its 18,708, the CJK ones dropped from
    its last layer. A text of those characters reads the same (the strips of 100 held-out card faces:
    every line identical, confidences at most 0.04 higher), and the recognizer runs 8-10% faster on a
    CPU (its last layer and softmax were a tenth of its time)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    meta = {prop.key: prop for prop in model.metadata_props}
    characters = meta["character"].value.splitlines()
    kept = [i for i, text in enumerate(characters) if all(ord(c) < 0x3000 for c in text)]
    columns = np.array([0, *(1 + i for i in kept), len(characters) + 1])  # CTC blank first, space last
    last = model.graph.node[-1]
    if last.op_type != "Softmax":
        raise ValueError(f"{path}: expected the recognizer to end in a Softmax, not {last.op_type}")
    weights = {init.name: init for init in model.graph.initializer}
    linear = [n for n in model.graph.node if n.op_type in ("MatMul", "Add") and n.input[1] in weights][-2:]
    for node in linear:  # the last MatMul (hidden x classes) and its bias
        array = numpy_helper.to_array(weights[node.input[1]])
        if array.shape[-1] != len(characters) + 2:
            raise ValueError(f"{path}: {node.input[1]} has {array.shape[-1]} outputs, not {len(characters) + 2}")
        weights[node.input[1]].CopyFrom(
            numpy_helper.from_array(np.ascontiguousarray(array[..., columns]), node.input[1])
        )
    del model.graph.value_info[:]  # shapes inferred for the full alphabet
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = len(columns)
    alphabet = [characters[i] for i in kept]
    meta["character"].value = "\n".join(alphabet)
    return model.SerializeToString(), alphabet


def stretch_contrast(strip: np.ndarray, *, spread: float = 24.0) -> np.ndarray | None:
    """The strip (BGR uint8) in grey, its 1st to 99th percentile stretched over the full range; None
    for a strip too flat to hold text (under ``spread`` grey levels: a part painted out, plain border)."""
    grey = strip.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
    low, high = np.percentile(grey, (1, 99))
    if high - low < spread:
        return None
    out = np.clip((grey - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(out[:, :, None], 3, axis=2))


def _has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()
