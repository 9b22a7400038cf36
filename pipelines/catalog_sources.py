"""Read the card catalogs in their sources' own schemas into plain records.

Framework-free: the API's importer, the card renderer and the training pipelines all read the
catalog through here, so printing ids are the same everywhere.

- Pokémon: the pokemontcg.io v2 ``Card`` schema. Which finishes a card was printed in comes
  from TCGplayer variants in the price snapshots when given, else from its rarity.
- Flesh and Blood: the ``@flesh-and-blood/cards`` schema; a card id is the printed identifier
  (``MST131``), each entry of ``printings[]`` a printing.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

FINISHES = (
    "normal",
    "holofoil",
    "reverse_holofoil",
    "first_edition_holofoil",
    "first_edition_normal",
    "rainbow_foil",
    "cold_foil",
    "gold_foil",
)
TCGPLAYER_VARIANTS = {
    "normal": "normal",
    "holofoil": "holofoil",
    "reverseHolofoil": "reverse_holofoil",
    "1stEditionHolofoil": "first_edition_holofoil",
    "firstEditionHolofoil": "first_edition_holofoil",
    "1stEditionNormal": "first_edition_normal",
    "firstEditionNormal": "first_edition_normal",
    "unlimitedHolofoil": "holofoil",
}
FAB_FOILING = {None: "normal", "Rainbow": "rainbow_foil", "Cold": "cold_foil", "Gold": "gold_foil"}
ZERO_PADDED_SINCE = date(2020, 2, 1)
# Pokémon TCG Live set codes of Scarlet & Violet sets, which the source leaves empty
# (``ptcgoCode: null``); collectors and TCGplayer exports use them.
KNOWN_SET_CODES = {
    "sv1": "SVI",
    "sv2": "PAL",
    "sv3": "OBF",
    "sv3pt5": "MEW",
    "sv4": "PAR",
    "sv4pt5": "PAF",
    "sv5": "TEF",
    "sv6": "TWM",
    "sv6pt5": "SFA",
    "sv7": "SCR",
    "sv8": "SSP",
    "sv8pt5": "PRE",
    "sv9": "JTG",
    "svp": "PR-SV",
    "sve": "SVE",
}  # Sword & Shield onwards print numbers as 012/202


@dataclass
class SetRecord:
    id: str
    game_id: str
    name: str
    code: str | None = None
    series: str | None = None
    printed_total: int | None = None
    total: int | None = None
    release_date: date | None = None


@dataclass
class PrintingRecord:
    id: str
    card_id: str
    finish: str
    edition: str | None = None
    language: str = "en"
    treatment: str | None = None
    rarity: str | None = None
    tcgplayer_product_id: str | None = None


@dataclass
class CardRecord:
    id: str
    game_id: str
    set_id: str
    name: str
    number: str
    printed_total: int | None = None
    rarity: str | None = None
    supertype: str | None = None
    subtypes: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    hp: int | None = None
    artist: str | None = None
    image_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    printings: list[PrintingRecord] = field(default_factory=list)

    @property
    def name_search(self) -> str:
        return normalize_name(self.name)

    @property
    def collector_key(self) -> str:
        return collector_key(self.number if self.game_id == "pokemon" else self.id)


@dataclass
class Catalog:
    game_id: str
    sets: list[SetRecord]
    cards: list[CardRecord]

    @property
    def printing_count(self) -> int:
        return sum(len(c.printings) for c in self.cards)


def normalize_name(name: str) -> str:
    """Lower case, accents dropped, punctuation to spaces: ``Pokémon`` matches ``pokemon``."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", text)).strip()


def collector_key(number: str) -> str:
    """Normalise a collector number for lookup: ``012`` and ``12`` match, ``TG05`` and ``TG5``."""
    number = number.strip().upper().replace(" ", "")
    match = re.fullmatch(r"([A-Z]*)0*(\d+)([A-Z]*)", number)
    return f"{match[1]}{match[2]}{match[3]}" if match else number


def printed_collector_line(card: CardRecord, set_record: SetRecord | None) -> str:
    """The collector line as printed at the card's bottom: ``012/193``, ``4/102``, ``MST131``."""
    if card.game_id != "pokemon":
        return card.id
    if not card.printed_total or not card.number.isdigit():
        return card.number
    modern = (
        set_record is not None and set_record.release_date is not None and set_record.release_date >= ZERO_PADDED_SINCE
    )
    width = 3 if modern else 0
    return f"{card.number.zfill(width)}/{str(card.printed_total).zfill(width)}"


def _open_text(path: Path) -> TextIO:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _load_json(path: Path) -> list[dict[str, Any]]:
    with _open_text(path) as fh:
        data = json.load(fh)
    if isinstance(data, dict) and "data" in data:  # an API page: {"data": [...]}
        data = data["data"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of cards")
    return data


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def pokemon_variants(snapshot_path: Path) -> dict[str, set[str]]:
    """Finishes per Pokémon card id, from the TCGplayer rows of a price snapshot file."""
    variants: dict[str, set[str]] = defaultdict(set)
    with _open_text(snapshot_path) as fh:
        for row in csv.DictReader(fh):
            if row.get("source") == "tcgplayer" and row.get("variant") in TCGPLAYER_VARIANTS:
                variants[row["card_id"]].add(TCGPLAYER_VARIANTS[row["variant"]])
    return variants


def _pokemon_finishes_from_rarity(rarity: str | None) -> list[str]:
    if rarity in ("Common", "Uncommon", "Rare"):
        return ["normal", "reverse_holofoil"]
    if rarity == "Rare Holo":
        return ["holofoil", "reverse_holofoil"]
    if rarity in (None, "Promo"):
        return ["normal"]
    return ["holofoil"]


def load_pokemon(path: Path, *, variants: dict[str, set[str]] | None = None) -> Catalog:
    sets: dict[str, SetRecord] = {}
    cards: list[CardRecord] = []
    for raw in _load_json(path):
        s = raw["set"]
        if s["id"] not in sets:
            released = s.get("releaseDate")
            sets[s["id"]] = SetRecord(
                id=s["id"],
                game_id="pokemon",
                name=s["name"],
                code=s.get("ptcgoCode") or KNOWN_SET_CODES.get(s["id"]),
                series=s.get("series"),
                printed_total=_int(s.get("printedTotal")),
                total=_int(s.get("total")),
                release_date=date.fromisoformat(released.replace("/", "-")) if released else None,
            )
        card = CardRecord(
            id=raw["id"],
            game_id="pokemon",
            set_id=s["id"],
            name=raw["name"],
            number=str(raw["number"]),
            printed_total=_int(s.get("printedTotal")),
            rarity=raw.get("rarity"),
            supertype=raw.get("supertype"),
            subtypes=raw.get("subtypes") or [],
            types=raw.get("types") or [],
            hp=_int(raw.get("hp")),
            artist=raw.get("artist"),
            image_url=(raw.get("images") or {}).get("large"),
            details={
                k: raw.get(k)
                for k in (
                    "attacks",
                    "abilities",
                    "rules",
                    "weaknesses",
                    "resistances",
                    "retreatCost",
                    "regulationMark",
                    "flavorText",
                    "nationalPokedexNumbers",
                    "evolvesFrom",
                )
                if raw.get(k)
            },
        )
        finishes = sorted(
            (variants or {}).get(card.id) or _pokemon_finishes_from_rarity(card.rarity), key=FINISHES.index
        )
        card.printings = [
            PrintingRecord(id=f"{card.id}:{f}:en", card_id=card.id, finish=f, rarity=card.rarity) for f in finishes
        ]
        cards.append(card)
    return Catalog("pokemon", list(sets.values()), cards)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def load_fab(path: Path) -> Catalog:
    sets: dict[str, SetRecord] = {}
    by_identifier: dict[str, CardRecord] = {}
    seen_printing_ids: set[str] = set()
    for raw in _load_json(path):
        for pr in raw.get("printings") or []:
            identifier = str(pr["identifier"]).upper()
            match = re.fullmatch(r"(.*?)(\d+)", identifier)
            code, number = (match[1], match[2]) if match and match[1] else (identifier, identifier)
            sets.setdefault(code, SetRecord(id=code, game_id="fab", name=pr.get("set") or code, code=code))
            card = by_identifier.get(identifier)
            if card is None:
                card = by_identifier[identifier] = CardRecord(
                    id=identifier,
                    game_id="fab",
                    set_id=code,
                    name=raw["name"],
                    number=number,
                    rarity=pr.get("rarity"),
                    supertype=(raw.get("types") or [None])[0],
                    subtypes=raw.get("subtypes") or [],
                    types=raw.get("types") or [],
                    artist=", ".join(pr.get("artists") or []) or None,
                    details={
                        k: raw.get(k)
                        for k in (
                            "pitch",
                            "cost",
                            "power",
                            "defense",
                            "health",
                            "intelligence",
                            "classes",
                            "talents",
                            "typeText",
                            "functionalText",
                            "keywords",
                            "cardIdentifier",
                        )
                        if raw.get(k) is not None
                    },
                )
            elif raw["name"] not in card.name.split(" // "):
                card.name = f"{card.name} // {raw['name']}"  # one identifier, two faces
            finish = FAB_FOILING.get(pr.get("foiling"), _slug(str(pr.get("foiling"))) + "_foil")
            edition = pr.get("edition")
            treatment = pr.get("treatment")
            base = (
                ":".join(
                    x for x in (identifier, finish, edition and edition.lower(), treatment and _slug(treatment)) if x
                )
                + ":en"
            )
            printing_id, n = base, 1
            while printing_id in seen_printing_ids:
                n += 1
                printing_id = f"{base}~{n}"
            seen_printing_ids.add(printing_id)
            card.printings.append(
                PrintingRecord(
                    id=printing_id,
                    card_id=identifier,
                    finish=finish,
                    edition=edition,
                    treatment=treatment,
                    rarity=pr.get("rarity"),
                    tcgplayer_product_id=(pr.get("tcgplayer") or {}).get("productId"),
                )
            )
    return Catalog("fab", list(sets.values()), list(by_identifier.values()))


GAMES = {"pokemon": "Pokémon TCG", "fab": "Flesh and Blood"}


def load_catalog(game: str, path: Path, *, variants_path: Path | None = None) -> Catalog:
    if game == "pokemon":
        variants = pokemon_variants(variants_path) if variants_path and variants_path.exists() else None
        return load_pokemon(path, variants=variants)
    if game == "fab":
        return load_fab(path)
    raise ValueError(f"unknown game {game!r}; expected one of {', '.join(GAMES)}")


def load_catalogs(folder: Path) -> list[Catalog]:
    """Both games' catalogs from their source files in ``folder`` (``{game}_cards.json.gz``)."""
    return [load_catalog(game, folder / f"{game}_cards.json.gz") for game in GAMES]


def iter_printings(catalogs: Iterable[Catalog]) -> Iterator[tuple[CardRecord, PrintingRecord]]:
    for catalog in catalogs:
        for card in catalog.cards:
            for printing in card.printings:
                yield card, printing
