"""Identification fusion: OCR of the name and collector lines plus embedding neighbours, one
ranked list of catalog cards with a confidence and a tier.

Candidates come from three places: the embedding's nearest reference faces, cards whose name
matches the OCR'd name (typo-tolerant, rapidfuzz), and cards whose collector number (``012/198``,
``TG05``, ``MST131``) matches the OCR'd collector line. Each candidate gets a score from the
evidence it agrees with; a softmax over the candidates gives the confidence. A card whose art is
not in the reference index (a real photo) is still found exactly from its name and collector
number when both are read (``cardvault dataset scenes --other-art``: 0.994 of such cards); from the
name alone its printing is the art's guess. Tiers: GOOD (confidence >= ``good_at`` and two
independent signals agree), FAIR, POOR (needs review); ``benchmarks/scan.py`` measures each
tier's precision on held-out scenes.

The confidence is a conditional logit over the candidates plus a "none of these" alternative
(so one weak candidate is not 100% sure). Its weights, the null's bias and the GOOD threshold are
fitted on scans of labelled scenes (``cardvault train fusion``, ``pipelines/train/fusion.py``)
and shipped in ``models/fusion/fusion.json``; the defaults below are hand-set fallbacks.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise, takewhile
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from models.identify import unit_rows
from models.ocr import HP_FIGURE
from pipelines.catalog_sources import Catalog, collector_key, normalize_name

EMBEDDING_SURE = 0.15  # a neighbour this far above the neighbourhood's median is the art recognised
NAME_SURE = 0.85  # an OCR'd name this close to a card's name names it
FEATURES = (
    "embedding",
    "embedding_first",
    "name",
    "name_exact",
    "number",
    "total",
    "set_code",
    "art_among_name",
    "name_prefix",
    "face",
)
# a name line read this long that matches no catalog name may be the start of one, the rest under
# another card of a fan (``Exeggc`` of Exeggcute, ``Take th`` of Take the Upper Hand)
PREFIX_MIN = 5
PREFIX_NAMES = 40


# the art among the printings of the name read (``art_among_name``): a lead this large over the next
# printing says which one it is. On the calibration readings (runs/fusion/readings.jsonl, session 9)
# the top candidates not already GOOD that had a name read and a lead >= 0.1 were right 139 of 139
# times (>= 0.02: 140 of 141). Session 19: art the index does not hold (a real card's: the index's
# faces are the renderer's, ``cardvault dataset scenes --other-art``) leads among a name's printings
# by up to 0.48 (first 100 other-art photos of held-out seed 1001, 510 cards; p99 0.43) and stands out
# among the catalog's faces by up to 0.19 (p99 0.17): what names a card for GOOD is above both
ART_LEAD_SURE = 0.5
# the embedding's lead over its neighbourhood that recognises the art (EMBEDDING_SURE: vouches for a card)
ART_SURE = 0.2


def art_recognised(embedding: float, art_among_name: float) -> bool:
    """The art names the card: it stands out among the whole catalog's faces (``ART_SURE``), or, once the
    text has said which name it is, among that name's printings by ``ART_LEAD_SURE`` while being among the
    whole catalog's nearest faces too (``embedding`` > 0: above the median of the nearest ten). A
    lead among a name's printings alone can come from art that resembles none of them: on held-out
    seed 1003 (session 10) two GOOD cards were wrong so, each with ``embedding`` 0: a Piers whose art
    chose another printing of Piers, and a Diantha's name and art read on the Pinsir under it. On
    the readings of seeds 1001 and 1003 the rule takes GOOD from 37 right cards and those 2 wrong.
    At the session-18 levels (0.15 / 0.15), 8 of the 9 wrong GOOD cards on the other-art photos of seed
    1001 had a name read and no number: art the index does not hold chose the printing."""
    return embedding >= ART_SURE or (art_among_name >= ART_LEAD_SURE and embedding > 0)


def agreeing(evidence: np.ndarray, *, art_vouches: bool = True) -> bool:
    """Two independent signals name this card: the art and the text, or the name and the number.
    ``art_vouches`` False: only the name and the number (the reference index does not hold the art of
    the cards photographed: ``Settings.art_vouches``)."""
    art = art_vouches and art_recognised(
        float(evidence[FEATURES.index("embedding")]), float(evidence[FEATURES.index("art_among_name")])
    )
    name = evidence[FEATURES.index("name")] >= NAME_SURE
    number = evidence[FEATURES.index("number")] > 0
    return bool((art and (name or number)) or (name and number))


ART_FEATURES = tuple(FEATURES.index(k) for k in ("embedding", "embedding_first", "art_among_name", "face"))
COLLECTOR_FEATURES = tuple(FEATURES.index(k) for k in ("number", "total", "set_code"))


def text_over_art(named: Sequence[int], features: np.ndarray) -> None:
    """Where the index does not hold the photographed cards' art (``CatalogMatcher.art_vouches`` False),
    the art chooses only among the printings of the name read that the collector line leaves open: the
    others (``named``: their rows in ``features``) lose their art evidence, in place, unless the art is
    recognised (``art_recognised``: levels above what art the index does not hold reaches). The line's
    say for a printing is how many of its number, total and set code were read on it. The fusion was
    fitted on photos of the index's own art, where the art's lead among a name's printings (weight 9.7)
    outweighs a number read (3.9): a real card's art is not there, and its lead is noise (a Wage Gold
    read `HVY216` named as the promo FAB196, art lead 0.63 over nothing among the catalog's nearest
    faces; an Inkay read `15/98` named as the Kalos starter's: phone-sized other-art photos, session 22)."""
    if len(named) < 2:
        return
    rows = np.asarray(named)
    agreement = (features[rows][:, COLLECTOR_FEATURES] > 0).sum(axis=1)
    if agreement.max() <= 0:
        return
    embedding, lead = FEATURES.index("embedding"), FEATURES.index("art_among_name")
    for row in rows[agreement < agreement.max()]:
        if not art_recognised(float(features[row, embedding]), float(features[row, lead])):
            features[row, ART_FEATURES] = 0.0


@dataclass(frozen=True)
class Fusion:
    """How evidence becomes a confidence: one weight per feature, the bias of "none of these"."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "embedding": 20.0,
            "embedding_first": 0.0,
            "name": 7.0,
            "name_exact": 0.0,
            "number": 4.0,
            "total": 2.0,
            "set_code": 1.5,
            "art_among_name": 0.0,
            "name_prefix": 0.0,
            "face": 0.0,
        }
    )
    null_bias: float = 0.0
    good_at: float = 0.95
    fair_at: float = 0.6
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in FEATURES], np.float32)

    def confidences(self, features: np.ndarray) -> np.ndarray:
        """Probability of each candidate (rows of ``features``) being the card; the rest is "none"."""
        logits = np.append(features @ self.vector, self.null_bias)
        probs = np.exp(logits - logits.max())
        out: np.ndarray = (probs / probs.sum())[:-1]
        return out

    def tier(self, confidence: float, evidence: np.ndarray, *, art_vouches: bool = True) -> str:
        """GOOD needs the confidence and two independent signals that agree (the art and the text, or
        the name and the collector number; without ``art_vouches`` only the latter); FAIR the confidence
        alone; POOR needs review."""
        return (
            "GOOD"
            if confidence >= self.good_at and agreeing(evidence, art_vouches=art_vouches)
            else "FAIR"
            if confidence >= self.fair_at
            else "POOR"
        )

    @classmethod
    def load(cls, path: Path | None) -> Fusion:
        """The fitted fusion at ``path``; the hand-set defaults when there is none."""
        if path is None or not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(
            {k: float(v) for k, v in data["weights"].items()},
            float(data["null_bias"]),
            float(data["good_at"]),
            float(data["fair_at"]),
            {k: float(v) for k, v in data.get("metrics", {}).items()},
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")


# the slash is read as a colon now and then (``RIEN 78:145``: 27 of 2,873 collector lines read on held-out
# seeds 1001 and 1003 and their other-art photos, session 19)
NUMBER_TOTAL = re.compile(r"([A-Z]{0,3}\d{1,3}[A-Z]?)\s*[/:]\s*([A-Z]{0,3}\d{1,3})")
# a modern Pokémon card's number follows the language code (``SSH EN 068/202``): read without its
# total (under another card, or cut off), it still says which printing of the name read it is. Only
# that: in a fan the bottom strip can hold the neighbour's line, and a number alone naming a card
# over the name read put the neighbour's name on a card (session 15, held-out seed 1001)
LANGUAGE_NUMBER = re.compile(r"\bEN\s?(\d{1,3}[A-Z]?)\b")  # a letter after some numbers: GRI EN 92a
CODE_NUMBER = re.compile(r"\b(?!EN\b)([A-Z]{2,4})\s?(\d{2,3})\b")
# set codes, promos' included (``PR-SW``); the regulation mark printed just before the set code is
# often read as one word with it (``DSSH`` for D SSH, ``FPR-SW``): each such word also counts without it
DIGIT_GROUP = re.compile(r"\d{1,3}")
CODE_TOKEN = re.compile(r"[A-Z][A-Z0-9]{1,4}(?:-[A-Z]{1,4})?")
REGULATION_MARKED = re.compile(r"[A-I]([A-Z]{2,4}(?:-[A-Z]{1,4})?)")
# an identifier with letters of its code read as digits, 0 1 5 8 for O I S B: a FaB set code ending in O or I
# (``BV0027`` for BVO027, ``KS1045``), a promo's (``5W5H243`` for SWSH243, ``SW5H057``; 9 collector lines of
# held-out seeds 1001 / 1003, session 30) or ``W0D027``. The code's letters are all taken as letters
# (``AS_LETTER``); it needs at least one letter read as such
DIGITS_IN_CODE = re.compile(r"\b([A-Z0158]{0,3}[A-Z][A-Z0158]{0,3}?)(\d{2,3})\b")


@dataclass(frozen=True)
class CatalogCard:
    card_id: str
    game: str
    name: str
    set_id: str
    set_name: str
    set_code: str
    number: str
    printed_total: int | None
    printings: tuple[tuple[str, str], ...]  # (printing id, finish)


@dataclass
class Candidate:
    card: CatalogCard
    confidence: float
    evidence: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.card
        return {
            "card_id": c.card_id,
            "name": c.name,
            "game": c.game,
            "set_id": c.set_id,
            "set_name": c.set_name,
            "number": c.number,
            "printed_total": c.printed_total,
            "confidence": round(self.confidence, 4),
            "evidence": {k: round(v, 3) for k, v in self.evidence.items()},
        }


@dataclass(frozen=True)
class Match:
    candidates: list[Candidate]
    tier: str  # GOOD / FAIR / POOR


def parse_name(text: str) -> str:
    """The OCR'd name band without the HP figure that shares the line (``PikachuHP60``)."""
    return normalize_name(HP_FIGURE.sub("", text))


def parse_collector(text: str) -> dict[str, Any]:
    """Number, printed total, set code and FaB identifier from an OCR'd collector line."""
    upper = text.upper().replace("O/", "0/").replace("O:", "0:")
    found: dict[str, Any] = {}
    if m := NUMBER_TOTAL.search(upper):
        found["number"] = collector_key(m[1])
        total = re.sub(r"\D", "", m[2])
        if total and not re.match(r"[A-Z]", m[2]):
            found["total"] = int(total)
    else:
        if m := LANGUAGE_NUMBER.search(upper):
            found["bare_number"] = collector_key(m[1])
        # the slash not read (``105 145``, ``42'145``, ``9.122``, ``003189``): each two groups of digits
        # that follow one another, a number and a total to look for among the printings of the name read
        groups = DIGIT_GROUP.findall(upper.replace("O", "0"))
        found["pairs"] = {(collector_key(a), int(b)) for a, b in pairwise(groups)}
    if m := CODE_NUMBER.search(upper):
        found["identifier"] = collector_key(f"{m[1]}{m[2]}")  # MST095 is looked up as MST95
    elif (m := DIGITS_IN_CODE.search(upper)) and len(m[1]) >= 2 and re.search(r"\d", m[1]):
        found["identifier"] = collector_key(m[1].translate(AS_LETTER) + m[2])
    tokens = set(CODE_TOKEN.findall(upper))
    found["tokens"] = tokens | {m[1] for t in tokens if (m := REGULATION_MARKED.fullmatch(t))}
    found["words"] = set(IDENTIFIER_WORD.findall(upper))
    return found


# a Flesh and Blood identifier read with a letter wrong (``NVY190`` for HVY190, ``QV0023`` for BVO023,
# ``AUNO26`` for AUR026): one of the name read's printings whose identifier it is but for one letter of
# the set code, its digits exact once letters read for digits (O, Q, D for 0; I, L for 1) are taken as
# those digits, and digits read in the set code (0, 1, 5, 8) as O, I, S, B
IDENTIFIER_WORD = re.compile(r"\b[A-Z0-9]{6}\b")
AS_DIGIT = str.maketrans("OQDIL", "00011")
AS_LETTER = str.maketrans("0158", "OISB")


def starting_with(ordered: Sequence[str], prefix: str) -> list[str]:
    """The strings of sorted ``ordered`` that begin with ``prefix``, at most ``PREFIX_NAMES``."""
    start = bisect.bisect_left(ordered, prefix)
    return list(takewhile(lambda s: s.startswith(prefix), ordered[start : start + PREFIX_NAMES]))


def near_identifier(identifier: str, words: set[str]) -> bool:
    """Whether a word read is ``identifier`` (``HVY190``: three letters, three digits) but for one letter."""
    if not re.fullmatch(r"[A-Z]{3}\d{3}", identifier):
        return False
    for word in words:
        code, digits = word[:3].translate(AS_LETTER), word[3:].translate(AS_DIGIT)
        if digits == identifier[3:] and sum(a != b for a, b in zip(code, identifier[:3], strict=True)) <= 1:
            return True
    return False


@dataclass(frozen=True)
class ReferenceFaces:
    """The identifier's index: one unit embedding of each card's reference face (``index.npz``)."""

    ids: list[str]
    vectors: np.ndarray  # (cards, dim) float32, unit rows

    @classmethod
    def load(cls, path: Path) -> ReferenceFaces:
        data = np.load(path)
        return cls([str(i) for i in data["ids"]], unit_rows(data["vectors"].astype(np.float32)))


class CatalogMatcher:
    def __init__(
        self,
        catalogs: Sequence[Catalog],
        fusion: Fusion | None = None,
        references: ReferenceFaces | None = None,
        *,
        art_vouches: bool = True,
    ) -> None:
        self.fusion = fusion or Fusion()
        # whether the art recognised against ``references`` counts towards GOOD (``agreeing``): not where
        # the photos' art is not the index's (``Settings.art_vouches``)
        self.art_vouches = art_vouches
        self.catalogs = list(catalogs)
        self.cards: list[CatalogCard] = []
        self.keys: list[str] = []  # each card's collector key (012 -> 12, MST095 -> MST95)
        self.normalized: list[str] = []  # each card's name, normalised (``normalize_name``)
        self.by_id: dict[str, int] = {}
        by_name: dict[str, list[int]] = defaultdict(list)
        self.by_number: dict[str, list[int]] = defaultdict(list)
        self.set_codes: dict[str, set[str]] = defaultdict(set)
        for catalog in catalogs:
            sets = {s.id: s for s in catalog.sets}
            for card in catalog.cards:
                s = sets.get(card.set_id)
                entry = CatalogCard(
                    card_id=card.id,
                    game=card.game_id,
                    name=card.name,
                    set_id=card.set_id,
                    set_name=s.name if s else card.set_id,
                    set_code=((s.code if s else None) or "").upper(),
                    number=card.number,
                    printed_total=card.printed_total or (s.printed_total if s else None),
                    printings=tuple((p.id, p.finish) for p in card.printings),
                )
                index = len(self.cards)
                self.cards.append(entry)
                self.by_id[card.id] = index
                self.normalized.append(normalize_name(card.name))
                by_name[self.normalized[index]].append(index)
                for part in card.name.split(" // "):
                    if part != card.name:
                        by_name[normalize_name(part)].append(index)
                self.keys.append(card.collector_key)
                self.by_number[card.collector_key].append(index)
                if entry.set_code:
                    self.set_codes[entry.set_code].add(card.set_id)
        self.by_name = dict(by_name)
        self.names = list(self.by_name)
        self.sorted_names = sorted(self.names)
        self.sorted_reversed = sorted(name[::-1] for name in self.names)  # for names by their end
        # each catalog card's row among the reference faces (cards without one are left out)
        self.reference_rows: dict[int, int] = {}
        self.reference_vectors = np.zeros((0, 0), np.float32)
        if references is not None:
            self.reference_rows = {self.by_id[c]: row for row, c in enumerate(references.ids) if c in self.by_id}
            self.reference_vectors = references.vectors

    def __len__(self) -> int:
        return len(self.cards)

    def card(self, card_id: str) -> CatalogCard | None:
        index = self.by_id.get(card_id)
        return self.cards[index] if index is not None else None

    def name_score(self, text: str) -> float:
        """How close an OCR'd name line comes to any catalog name (0..1)."""
        name = parse_name(text)
        if len(name) < 3:
            return 0.0
        best = process.extractOne(name, self.names, scorer=fuzz.ratio)
        return float(best[1]) / 100 if best else 0.0

    def names_starting(self, prefix: str) -> list[str]:
        """Catalog names (normalised) that begin with ``prefix``, at most ``PREFIX_NAMES``."""
        return starting_with(self.sorted_names, prefix)

    def names_ending(self, suffix: str) -> list[str]:
        """Catalog names (normalised) that end with ``suffix``, at most ``PREFIX_NAMES``."""
        return [name[::-1] for name in starting_with(self.sorted_reversed, suffix[::-1])]

    def art_among(
        self, embedding: np.ndarray, indices: Sequence[int], painted: Mapping[str, float] | None = None
    ) -> tuple[int, float] | None:
        """Which of these cards (catalog indices) the art looks most like, by how much (cosine)
        over the next: the art chooses among the printings of the name read even when the card is
        too covered for the whole catalog's nearest neighbours to hold it. None: fewer than two
        of them have a reference face. ``painted`` (a partly hidden card's likeness to each card's face
        painted out as it is, ``models.scan.ScanEngine.masked_likeness``), where it covers the card the
        whole faces choose and at least one other, chooses among those it covers instead; the lead stays
        the whole faces' (the fusion was fitted on it). ``painted`` holds the printings of the names the
        match's candidates were named by; a name read can come close to others as well (``Zacian V``:
        ``Zacian`` at 0.86, held-out seed 1001, photo 50), which the painted choice leaves out. Where the
        whole faces choose such a card (``Fangs`` read: Bare Fangs, by its last word, beside Fang's
        printings, photo 137), the painted likeness was not asked about it, and the whole faces' choice stands."""
        rows = [(i, self.reference_rows[i]) for i in indices if i in self.reference_rows]
        if len(rows) < 2:
            return None
        sims = self.reference_vectors[[r for _, r in rows]] @ np.asarray(embedding, np.float32)
        first, second = np.argsort(-sims)[:2]
        lead = float(sims[first] - sims[second])
        painted = painted or {}
        covered = [k for k, (i, _) in enumerate(rows) if self.cards[i].card_id in painted]
        if len(covered) >= 2 and first in covered:
            first = max(covered, key=lambda k: painted[self.cards[rows[k][0]].card_id])
        return rows[int(first)][0], lead

    def face_candidates(
        self, match: Match, neighbours: Sequence[tuple[str, float]], vector: np.ndarray | None, limit: int = 40
    ) -> list[str]:
        """The cards a face check (``models.faces``) compares a reading with: the match's candidates,
        the embedding's nearest faces, then the other cards of each name read among the candidates
        (``NAME_SURE``), those whose reference face the embedding is nearest first; ``limit`` at most."""
        ids = [c.card.card_id for c in match.candidates] + [card_id for card_id, _ in neighbours]
        # the first candidates are often printings of one name: each name's cards ranked once
        for name in names_read(match):
            same = self.by_name.get(name, [])
            with_faces = [i for i in same if i in self.reference_rows]
            if vector is not None and with_faces:
                sims = self.reference_vectors[[self.reference_rows[i] for i in with_faces]] @ np.asarray(vector)
                with_faces = [with_faces[k] for k in np.argsort(-sims)]
            ids += [self.cards[i].card_id for i in with_faces]
        return list(dict.fromkeys(ids))[:limit]

    def name_printings(self, match: Match) -> list[str]:
        """The cards (ids) of each name the match's candidates were named by (``NAME_SURE``) that have a
        reference face: those ``art_among`` chooses among."""
        found = [i for name in names_read(match) for i in self.by_name.get(name, []) if i in self.reference_rows]
        return [self.cards[i].card_id for i in dict.fromkeys(found)]

    def evidence(
        self,
        neighbours: Sequence[tuple[str, float]],
        name_text: str = "",
        collector_text: str = "",
        vector: np.ndarray | None = None,
        faces: dict[str, float] | None = None,
        painted: Mapping[str, float] | None = None,
    ) -> tuple[list[int], np.ndarray]:
        """The candidate cards (indices) for one reading and their features (rows, ``FEATURES``).
        With the reading's embedding ``vector`` (and reference faces), the card of the name read whose face
        the art resembles most (``painted`` where given: ``art_among``) gets its lead over the next
        (``art_among_name``). With the face check's likenesses (``faces``: card id ->
        ``models.faces.likeness`` of the part of the card in view), the likest card gets its lead over
        the next (``face``), and joins the candidates."""
        name = parse_name(name_text)
        collector = parse_collector(collector_text)
        # the embedding's evidence is how far a neighbour stands above the neighbourhood (the median of
        # the k nearest), not its raw cosine: an embedding that finds everything similar says nothing
        reference = float(np.median([score for _, score in neighbours])) if neighbours else 0.0
        embedding = {self.by_id[i]: max(0.0, s - reference) for i, s in neighbours if i in self.by_id}
        first = self.by_id.get(neighbours[0][0], -1) if neighbours else -1
        pool: set[int] = set(embedding)
        name_scores: dict[int, float] = {}
        if len(name) >= 3:
            for matched, score, _ in process.extract(name, self.names, scorer=fuzz.ratio, limit=8, score_cutoff=70):
                for index in self.by_name[matched][:400]:
                    name_scores[index] = max(name_scores.get(index, 0.0), score / 100)
            pool |= set(name_scores)
        # no catalog name read: the line may be the start of one whose end another card covers, or the
        # end of one whose start is covered (``onator-GX`` for Turtonator-GX)
        prefix_scores: dict[int, float] = {}
        closest = max(name_scores.values(), default=0.0)
        if len(name) >= PREFIX_MIN and closest < NAME_SURE:
            ends = self.names_starting(name) + self.names_ending(name)
        elif len(name) >= PREFIX_MIN and closest < 1.0:
            # a name read close to one catalog name may be another's last words whole: ``Fangs``, named
            # ``Fang`` at 0.889, is the end of ``Bare Fangs`` (held-out seed 1001, photo 137, HVY030).
            # A name it already names is not counted twice (a wrapper's ``BOOSTER``, 0.875 like ``G
            # Booster``, would be made surer of being that card: held-out seed 1001, photo 186)
            ends = [
                full
                for full in self.names_ending(" " + name)
                if name_scores.get(self.by_name[full][0], 0.0) < NAME_SURE
            ]
        else:
            ends = []
        for full in dict.fromkeys(ends):
            for index in self.by_name[full][:400]:
                prefix_scores[index] = max(prefix_scores.get(index, 0.0), len(name) / len(full))
        pool |= set(prefix_scores)
        number = collector.get("number")
        identifier = collector.get("identifier")
        for key in (number, identifier):
            if key:
                numbered = self.by_number.get(key, [])[:400]
                pool |= set(numbered)
                # a line cut short by a card over it that a catalog name nearly matches (``Take th``: Take
                # That! at 0.875) skipped the lookup by start and end above: a card of the number read whose
                # name begins or ends with it is named by both (``Take the Upper Hand``, HVY112)
                if len(name) >= PREFIX_MIN:
                    for index in numbered:
                        full = self.normalized[index]
                        if index in prefix_scores or full == name:
                            continue
                        if full.startswith(name) or full.endswith(name):
                            prefix_scores[index] = len(name) / len(full)
        face_lead = face_leader(faces, self.by_id)
        if face_lead is not None:
            pool.add(face_lead[0])
        indices = sorted(pool)
        of_name = {index for index in indices if name_scores.get(index, 0.0) >= NAME_SURE or index in prefix_scores}
        # no printing of the name read has the number read: one whose identifier was read but for a letter
        near: set[int] = set()
        if collector["words"] and not any(self.keys[index] in (number, identifier) for index in of_name):
            near = {i for i in of_name if near_identifier(self.cards[i].card_id, collector["words"])}
        # no number read where a slash should be: the one printing of the name read whose number and total
        # are two groups of digits read one after the other (seed 1001's readings: 12 of 12 right)
        paired: set[int] = set()
        if collector.get("pairs") and not any(self.keys[index] == collector.get("bare_number") for index in of_name):
            paired = {i for i in of_name if (self.keys[i], self.cards[i].printed_total) in collector["pairs"]}
        features = np.zeros((len(indices), len(FEATURES)), np.float32)
        for row, index in enumerate(indices):
            card = self.cards[index]
            features[row, 0] = embedding.get(index, 0.0)
            features[row, 1] = float(index == first and embedding.get(index, 0.0) > 0)
            features[row, 2] = name_scores.get(index, 0.0)
            features[row, 3] = float(name_scores.get(index, 0.0) >= 1.0)
            bare = bool(index in of_name and collector.get("bare_number") == self.keys[index])
            by_pair = paired == {index}
            features[row, 4] = float(self.keys[index] in (number, identifier) or bare or near == {index} or by_pair)
            total = collector.get("total")
            features[row, 5] = float((total is not None and card.printed_total == total) or by_pair)
            features[row, 6] = float(bool(card.set_code) and card.set_code in collector["tokens"])
            features[row, 8] = prefix_scores.get(index, 0.0)
        if vector is not None:
            named = [index for index in indices if index in of_name]
            if painted:
                # a name read close to the painted printings' name and less close to another's (``Gyarados
                # ex`` read at 0.95, ``Gyarados`` at 0.89: held-out seed 1003, photo 197) leaves the other's
                # printings out of the choice; those named by their first or last words stay (Bare Fangs)
                best = max((name_scores.get(i, 0.0) for i in named if self.cards[i].card_id in painted), default=0.0)
                named = [
                    i
                    for i in named
                    if self.cards[i].card_id in painted or i in prefix_scores or name_scores.get(i, 0.0) >= best
                ]
            if chosen := self.art_among(vector, named, painted):
                features[indices.index(chosen[0]), 7] = chosen[1]
        if face_lead is not None:
            features[indices.index(face_lead[0]), FEATURES.index("face")] = face_lead[1]
        if not self.art_vouches:
            text_over_art([k for k, index in enumerate(indices) if index in of_name], features)
        return indices, features

    def match(
        self,
        neighbours: Sequence[tuple[str, float]],
        name_text: str = "",
        collector_text: str = "",
        limit: int = 5,
        vector: np.ndarray | None = None,
        faces: dict[str, float] | None = None,
        painted: Mapping[str, float] | None = None,
    ) -> Match:
        indices, features = self.evidence(neighbours, name_text, collector_text, vector, faces, painted)
        if not indices:
            return Match([], "POOR")
        probs = self.fusion.confidences(features)
        order = np.argsort(-probs)[:limit]
        shown = ("embedding", "art_among_name", "face", "name", "number", "total", "set_code")
        candidates = [
            Candidate(
                self.cards[indices[i]],
                float(probs[i]),
                {k: float(features[i, FEATURES.index(k)]) for k in shown},
            )
            for i in order
        ]
        tier = self.fusion.tier(candidates[0].confidence, features[order[0]], art_vouches=self.art_vouches)
        return Match(candidates, tier)


def names_read(match: Match) -> list[str]:
    """The names (normalised, each once, best candidate first) the match's candidates were named by
    (``NAME_SURE``)."""
    return list(
        dict.fromkeys(normalize_name(c.card.name) for c in match.candidates if c.evidence.get("name", 0.0) >= NAME_SURE)
    )


def face_leader(faces: dict[str, float] | None, by_id: dict[str, int]) -> tuple[int, float] | None:
    """The catalog card whose face the card in view looks likest (index), and its lead in likeness
    over the next card compared; None with fewer than two compared."""
    known = sorted(((v, by_id[k]) for k, v in (faces or {}).items() if k in by_id), reverse=True)
    if len(known) < 2:
        return None
    return known[0][1], known[0][0] - known[1][0]


def pick_printing(card: CatalogCard, finish: str) -> tuple[str, str]:
    """The card's printing in the finish read from the image (its first printing otherwise)."""
    for printing_id, printed in card.printings:
        if printed.removeprefix("first_edition_") == finish:
            return printing_id, printed
    return card.printings[0] if card.printings else (card.card_id, finish)
