"""Identification fusion: OCR of the name and collector lines plus embedding neighbours, one
ranked list of catalog cards with a confidence and a tier.

Candidates come from three places: the embedding's nearest reference faces, cards whose name
matches the OCR'd name (typo-tolerant, rapidfuzz), and cards whose collector number (``012/198``,
``TG05``, ``MST131``) matches the OCR'd collector line. Each candidate gets a score from the
evidence it agrees with; a softmax over the candidates gives the confidence. A card whose art is
not in the reference index (a real photo) is still found exactly from its name and collector
line. Tiers: GOOD (confidence >= ``GOOD_AT`` and two independent signals agree), FAIR, POOR
(needs review); ``benchmarks/scan.py`` measures each tier's precision on held-out scenes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from pipelines.catalog_sources import Catalog, collector_key, normalize_name

GOOD_AT, FAIR_AT = 0.95, 0.6
EMBEDDING_SURE = 0.15  # a neighbour this far above the neighbourhood's median is the art recognised
WEIGHTS = {"embedding": 20.0, "name": 7.0, "number": 4.0, "total": 2.0, "set_code": 1.5}
NUMBER_TOTAL = re.compile(r"([A-Z]{0,3}\d{1,3}[A-Z]?)\s*/\s*([A-Z]{0,3}\d{1,3})")
CODE_NUMBER = re.compile(r"\b([A-Z]{2,4})\s?(\d{2,3})\b")
HP_SUFFIX = re.compile(r"\s*H\s*P\s*[\dOoIlSB]{1,3}\s*[^\w]*$")


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

    def ranked(self) -> list[dict[str, Any]]:
        """The candidates as the API shows them; the runners-up carry the tier their confidence earns."""
        return [
            c.to_dict() | {"tier": self.tier if k == 0 else ("FAIR" if c.confidence >= FAIR_AT else "POOR")}
            for k, c in enumerate(self.candidates)
        ]


def parse_name(text: str) -> str:
    """The OCR'd name band without the HP figure that shares the line (``PikachuHP60``)."""
    return normalize_name(HP_SUFFIX.sub("", text))


def parse_collector(text: str) -> dict[str, Any]:
    """Number, printed total, set code and FaB identifier from an OCR'd collector line."""
    upper = text.upper().replace("O/", "0/")
    found: dict[str, Any] = {}
    if m := NUMBER_TOTAL.search(upper):
        found["number"] = collector_key(m[1])
        total = re.sub(r"\D", "", m[2])
        if total and not re.match(r"[A-Z]", m[2]):
            found["total"] = int(total)
    if m := CODE_NUMBER.search(upper):
        found["identifier"] = collector_key(f"{m[1]}{m[2]}")  # MST095 is looked up as MST95
    found["tokens"] = set(re.findall(r"[A-Z][A-Z0-9]{1,4}", upper))
    return found


class CatalogMatcher:
    def __init__(self, catalogs: Sequence[Catalog]) -> None:
        self.cards: list[CatalogCard] = []
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
                by_name[normalize_name(card.name)].append(index)
                for part in card.name.split(" // "):
                    if part != card.name:
                        by_name[normalize_name(part)].append(index)
                self.by_number[card.collector_key].append(index)
                if entry.set_code:
                    self.set_codes[entry.set_code].add(card.set_id)
        self.by_name = dict(by_name)
        self.names = list(self.by_name)

    def __len__(self) -> int:
        return len(self.cards)

    def card(self, card_id: str) -> CatalogCard | None:
        index = self.by_id.get(card_id)
        return self.cards[index] if index is not None else None

    def match(
        self, neighbours: Sequence[tuple[str, float]], name_text: str = "", collector_text: str = "", limit: int = 5
    ) -> Match:
        name = parse_name(name_text)
        collector = parse_collector(collector_text)
        # the embedding's evidence is how far a neighbour stands above the neighbourhood (the median of
        # the k nearest), not its raw cosine: an embedding that finds everything similar says nothing
        reference = float(np.median([score for _, score in neighbours])) if neighbours else 0.0
        embedding = {self.by_id[i]: max(0.0, s - reference) for i, s in neighbours if i in self.by_id}
        pool: set[int] = set(embedding)
        name_scores: dict[int, float] = {}
        if len(name) >= 3:
            for matched, score, _ in process.extract(name, self.names, scorer=fuzz.ratio, limit=8, score_cutoff=70):
                for index in self.by_name[matched][:400]:
                    name_scores[index] = max(name_scores.get(index, 0.0), score / 100)
            pool |= set(name_scores)
        number = collector.get("number")
        identifier = collector.get("identifier")
        for key in (number, identifier):
            if key:
                pool |= set(self.by_number.get(key, [])[:400])
        if not pool:
            return Match([], "POOR")
        indices = sorted(pool)
        features = np.zeros((len(indices), len(WEIGHTS)), np.float32)
        for row, index in enumerate(indices):
            card = self.cards[index]
            features[row, 0] = embedding.get(index, 0.0)
            features[row, 1] = name_scores.get(index, 0.0)
            key = collector_key(card.number if card.game == "pokemon" else card.card_id)
            features[row, 2] = float(key in (number, identifier))
            features[row, 3] = float(collector.get("total") is not None and card.printed_total == collector["total"])
            features[row, 4] = float(bool(card.set_code) and card.set_code in collector["tokens"])
        logits = features @ np.array(list(WEIGHTS.values()), np.float32)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs)[:limit]
        candidates = [
            Candidate(self.cards[indices[i]], float(probs[i]), dict(zip(WEIGHTS, map(float, features[i]), strict=True)))
            for i in order
        ]
        best = features[order[0]]
        # two independent signals agree: the art and the text, or the name and the collector number
        agreeing = (best[0] >= EMBEDDING_SURE and (best[1] >= 0.85 or best[2] > 0)) or (best[1] >= 0.85 and best[2] > 0)
        confidence = candidates[0].confidence
        tier = "GOOD" if confidence >= GOOD_AT and agreeing else "FAIR" if confidence >= FAIR_AT else "POOR"
        return Match(candidates, tier)


def pick_printing(card: CatalogCard, finish: str) -> tuple[str, str]:
    """The card's printing in the finish read from the image (its first printing otherwise)."""
    for printing_id, printed in card.printings:
        if printed.removeprefix("first_edition_") == finish:
            return printing_id, printed
    return card.printings[0] if card.printings else (card.card_id, finish)
