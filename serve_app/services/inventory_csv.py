"""CSV import and export in the formats collectors already use.

Supported formats and the columns read on import (export writes each format's full header,
see ``FORMATS``):

- tcgplayer: Quantity, Name, Set, Set Code, Card Number (``012/193`` or ``12``), Printing,
  Condition, Language, Purchase Price, Product ID
- deckbox: Count, Name, Edition, Edition Code, Card Number, Foil, Condition, Language, My Price
- moxfield: Count, Name, Edition (the set code), Collector Number, Foil, Condition, Language,
  Purchase Price
- manabox: Quantity, Name, Set code, Set name, Collector number, Foil, Condition, Language
  (a code), Purchase price, Purchase price currency

TCGplayer rows may also carry ``Product ID`` (matched against the catalog's TCGplayer product
ids). Formats with only a foil flag (Deckbox, Moxfield, ManaBox) import "foil" as the card's
holofoil printing, else its reverse holofoil, else its first foil printing. Every row that
cannot be matched comes back with its row number and the reason; none is dropped.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from rapidfuzz import fuzz
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pipelines.catalog_sources import collector_key, normalize_name
from serve_app.core.errors import CsvFormatError, UnprocessableContent
from serve_app.db.tables import Card, CardSet, InventoryItem, Printing
from serve_app.schemas.inventory import Condition, ImportResult, InventoryCreate, UnmatchedRow
from serve_app.services.catalog import collector_line
from serve_app.services.inventory import create_item

MAX_ROWS = 50_000
LANGUAGES = {
    "english": "en",
    "japanese": "ja",
    "german": "de",
    "french": "fr",
    "italian": "it",
    "spanish": "es",
    "portuguese": "pt",
    "korean": "ko",
    "chinese": "zh",
    "russian": "ru",
}
CODES_TO_LANGUAGE = {v: k.title() for k, v in LANGUAGES.items()}
FOIL_PREFERENCE = ("holofoil", "reverse_holofoil", "first_edition_holofoil", "rainbow_foil", "cold_foil", "gold_foil")
TCGPLAYER_PRINTINGS = {
    "normal": "normal",
    "holofoil": "holofoil",
    "reverse holofoil": "reverse_holofoil",
    "1st edition holofoil": "first_edition_holofoil",
    "1st edition normal": "first_edition_normal",
    "rainbow foil": "rainbow_foil",
    "cold foil": "cold_foil",
    "gold foil": "gold_foil",
    "foil": "foil",
}


@dataclass(frozen=True)
class CsvFormat:
    name: str
    header: tuple[str, ...]
    quantity: str
    set_name: str | None
    set_code: str | None
    number: str
    finish: str
    price: str | None
    conditions: dict[str, Condition]
    condition_out: dict[Condition, str]
    language_codes: bool = False
    currency: str | None = None
    foil_flag: bool = True
    extra_out: dict[str, str] = field(default_factory=dict)


def _conditions(pairs: dict[str, Condition]) -> dict[str, Condition]:
    return {k.lower(): v for k, v in pairs.items()}


C = Condition
FORMATS: dict[str, CsvFormat] = {
    "tcgplayer": CsvFormat(
        name="tcgplayer",
        header=(
            "Quantity",
            "Name",
            "Simple Name",
            "Set",
            "Card Number",
            "Set Code",
            "Printing",
            "Condition",
            "Language",
            "Rarity",
            "Product ID",
            "Purchase Price",
        ),
        quantity="Quantity",
        set_name="Set",
        set_code="Set Code",
        number="Card Number",
        finish="Printing",
        price="Purchase Price",
        foil_flag=False,
        conditions=_conditions(
            {
                "Near Mint": C.NM,
                "Lightly Played": C.LP,
                "Moderately Played": C.MP,
                "Heavily Played": C.HP,
                "Damaged": C.DMG,
            }
        ),
        condition_out={
            C.NM: "Near Mint",
            C.LP: "Lightly Played",
            C.MP: "Moderately Played",
            C.HP: "Heavily Played",
            C.DMG: "Damaged",
        },
    ),
    "deckbox": CsvFormat(
        name="deckbox",
        header=(
            "Count",
            "Tradelist Count",
            "Name",
            "Edition",
            "Edition Code",
            "Card Number",
            "Condition",
            "Language",
            "Foil",
            "Signed",
            "Artist Proof",
            "Altered Art",
            "Misprint",
            "Promo",
            "Textless",
            "My Price",
        ),
        quantity="Count",
        set_name="Edition",
        set_code="Edition Code",
        number="Card Number",
        finish="Foil",
        price="My Price",
        conditions=_conditions(
            {
                "Mint": C.NM,
                "Near Mint": C.NM,
                "Good (Lightly Played)": C.LP,
                "Played": C.MP,
                "Heavily Played": C.HP,
                "Poor": C.DMG,
            }
        ),
        condition_out={
            C.NM: "Near Mint",
            C.LP: "Good (Lightly Played)",
            C.MP: "Played",
            C.HP: "Heavily Played",
            C.DMG: "Poor",
        },
    ),
    "moxfield": CsvFormat(
        name="moxfield",
        header=(
            "Count",
            "Tradelist Count",
            "Name",
            "Edition",
            "Condition",
            "Language",
            "Foil",
            "Tags",
            "Last Modified",
            "Collector Number",
            "Alter",
            "Proxy",
            "Purchase Price",
        ),
        quantity="Count",
        set_name=None,
        set_code="Edition",
        number="Collector Number",
        finish="Foil",
        price="Purchase Price",
        conditions=_conditions({"M": C.NM, "NM": C.NM, "LP": C.LP, "MP": C.MP, "HP": C.HP, "D": C.DMG}),
        condition_out={C.NM: "NM", C.LP: "LP", C.MP: "MP", C.HP: "HP", C.DMG: "D"},
        extra_out={"Alter": "False", "Proxy": "False"},
    ),
    "manabox": CsvFormat(
        name="manabox",
        header=(
            "Name",
            "Set code",
            "Set name",
            "Collector number",
            "Foil",
            "Rarity",
            "Quantity",
            "ManaBox ID",
            "Scryfall ID",
            "Purchase price",
            "Misprint",
            "Altered",
            "Condition",
            "Language",
            "Purchase price currency",
        ),
        quantity="Quantity",
        set_name="Set name",
        set_code="Set code",
        number="Collector number",
        finish="Foil",
        price="Purchase price",
        currency="Purchase price currency",
        language_codes=True,
        conditions=_conditions(
            {
                "mint": C.NM,
                "near_mint": C.NM,
                "excellent": C.LP,
                "good": C.MP,
                "light_played": C.LP,
                "played": C.HP,
                "poor": C.DMG,
            }
        ),
        condition_out={C.NM: "near_mint", C.LP: "light_played", C.MP: "good", C.HP: "played", C.DMG: "poor"},
        extra_out={"Misprint": "false", "Altered": "false"},
    ),
}


def get_format(name: str) -> CsvFormat:
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise CsvFormatError(f"unknown format {name!r}; supported: {', '.join(FORMATS)}") from None


class RowError(Exception):
    """A row that cannot be imported, with the reason the user will read."""


def read_rows(fmt: CsvFormat, content: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvFormatError("the file is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    required = {"Name", fmt.quantity, fmt.number}
    missing = sorted(required - set(header))
    if missing:
        raise CsvFormatError(
            f"not a {fmt.name} CSV: missing column(s) {', '.join(missing)}", expected=list(fmt.header), found=header
        )
    reader.fieldnames = header
    for n, row in enumerate(reader, start=1):
        if n > MAX_ROWS:
            raise CsvFormatError(f"at most {MAX_ROWS} rows per file")
        yield n, {k: (v or "").strip() for k, v in row.items() if k is not None}


class Matcher:
    """Finds the printing a CSV row describes."""

    def __init__(self, session: AsyncSession, sets: list[CardSet]) -> None:
        self.session = session
        self.sets = sets

    def _sets(self, code: str, name: str) -> list[CardSet]:
        code_l, name_l = code.lower(), name.lower()
        by_code = [s for s in self.sets if code_l and (s.id.lower() == code_l or (s.code or "").lower() == code_l)]
        by_name = [s for s in self.sets if name_l and s.name.lower() == name_l]
        return by_code or by_name

    async def card(self, *, name: str, set_code: str, set_name: str, number: str) -> Card:
        sets = self._sets(set_code, set_name)
        if (set_code or set_name) and not sets:
            raise RowError(f"unknown set {set_code or set_name!r}")
        stmt = select(Card)
        if sets:
            stmt = stmt.where(col(Card.set_id).in_([s.id for s in sets]))
        if number:
            keys = {collector_key(number)} | {collector_key(f"{s.code}{number}") for s in sets if s.code}
            stmt = stmt.where(col(Card.collector_key).in_(keys))
        elif name and sets:
            stmt = stmt.where(col(Card.name_search) == normalize_name(name))
        else:
            raise RowError("a row needs a collector number, or a name and a set")
        cards = list((await self.session.exec(stmt.limit(20))).all())
        if name and len(cards) > 1:
            cards = [c for c in cards if _same_name(c.name, name)] or cards
        if not cards:
            raise RowError(
                f"no card numbered {number!r} in {set_code or set_name or 'any set'}"
                if number
                else f"no card named {name!r} in {set_code or set_name}"
            )
        if len(cards) > 1:
            raise RowError("ambiguous: " + ", ".join(sorted(c.id for c in cards)) + "; give the set")
        card = cards[0]
        if name and not _same_name(card.name, name):
            raise RowError(f"the card numbered {number} in that set is {card.name!r}, not {name!r}")
        return card

    async def printing(self, card: Card, finish: str, language: str) -> Printing:
        printings = list((await self.session.exec(select(Printing).where(Printing.card_id == card.id))).all())
        in_language = [p for p in printings if p.language == language] or printings
        finishes = [p.finish for p in in_language]
        wanted = finish
        if finish == "foil":
            wanted = next((f for f in FOIL_PREFERENCE if f in finishes), "")
        elif finish == "normal" and "normal" not in finishes:
            wanted = next((f for f in finishes if "foil" not in f), "")
        for p in in_language:
            if p.finish == wanted:
                return p
        raise RowError(f"{card.id} ({card.name}) has no {finish} printing; it has: {', '.join(sorted(set(finishes)))}")


def _same_name(catalog_name: str, row_name: str) -> bool:
    row = normalize_name(row_name)
    return any(fuzz.ratio(normalize_name(part), row) >= 85 for part in [catalog_name, *catalog_name.split(" // ")])


def _finish(fmt: CsvFormat, row: dict[str, str]) -> str:
    value = row.get(fmt.finish, "").strip().lower()
    if not fmt.foil_flag:
        if not value:
            return "normal"
        if value not in TCGPLAYER_PRINTINGS:
            raise RowError(f"unknown printing {row.get(fmt.finish)!r}")
        return TCGPLAYER_PRINTINGS[value]
    return "foil" if value in ("foil", "etched", "true", "yes", "1") else "normal"


def _condition(fmt: CsvFormat, row: dict[str, str]) -> Condition:
    raw = row.get("Condition", "").strip().lower()
    if not raw:
        return Condition.NM
    for label, condition in sorted(fmt.conditions.items(), key=lambda kv: -len(kv[0])):
        if raw == label or raw.startswith(label + " "):  # TCGplayer appends the printing: "Near Mint Foil"
            return condition
    raise RowError(f"unknown condition {row.get('Condition')!r}")


def _language(fmt: CsvFormat, row: dict[str, str]) -> str:
    raw = row.get("Language", "").strip().lower()
    if not raw:
        return "en"
    if fmt.language_codes or raw in CODES_TO_LANGUAGE:
        return raw
    if raw not in LANGUAGES:
        raise RowError(f"unknown language {row.get('Language')!r}")
    return LANGUAGES[raw]


def _quantity(fmt: CsvFormat, row: dict[str, str]) -> int:
    try:
        quantity = int(row.get(fmt.quantity, "1") or "1")
    except ValueError:
        raise RowError(f"quantity {row.get(fmt.quantity)!r} is not a whole number") from None
    if not 1 <= quantity <= 100_000:
        raise RowError(f"quantity {quantity} is out of range")
    return quantity


def _price(fmt: CsvFormat, row: dict[str, str]) -> Decimal | None:
    raw = (row.get(fmt.price or "", "") or "").replace("$", "").replace("€", "").replace(",", "").strip()
    if not raw:
        return None
    try:
        price = Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise RowError(f"price {raw!r} is not a number") from None
    if price < 0:
        raise RowError("price is negative")
    return price


async def import_csv(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    format_name: str,
    content: bytes,
    location: str | None = None,
    tags: list[str] | None = None,
) -> ImportResult:
    fmt = get_format(format_name)
    matcher = Matcher(session, list((await session.exec(select(CardSet))).all()))
    created: list[uuid.UUID] = []
    unmatched: list[UnmatchedRow] = []
    rows = 0
    for n, row in read_rows(fmt, content):
        rows += 1
        try:
            printing = await _match_row(matcher, fmt, row)
            currency = (row.get(fmt.currency or "", "") or "USD").upper()
            data = InventoryCreate(
                printing_id=printing.id,
                quantity=_quantity(fmt, row),
                condition=_condition(fmt, row),
                purchase_price=_price(fmt, row),
                currency=currency if len(currency) == 3 else "USD",
                location=location,
                tags=tags or [],
            )
            item = await create_item(session, user_id=user_id, data=data)
            created.append(item.id)
        except (RowError, UnprocessableContent) as exc:
            unmatched.append(UnmatchedRow(row=n, reason=str(exc), data=row))
        except ValueError as exc:  # pydantic validation of a field
            unmatched.append(UnmatchedRow(row=n, reason=f"invalid value: {exc}", data=row))
    return ImportResult(format=fmt.name, rows=rows, imported=len(created), items=created, unmatched=unmatched)


async def _match_row(matcher: Matcher, fmt: CsvFormat, row: dict[str, str]) -> Printing:
    finish, language = _finish(fmt, row), _language(fmt, row)
    product_id = row.get("Product ID", "")
    if product_id:
        by_product = list(
            (await matcher.session.exec(select(Printing).where(Printing.tcgplayer_product_id == product_id))).all()
        )
        for p in by_product:
            if p.finish == finish or (finish == "foil" and "foil" in p.finish):
                return p
    number = row.get(fmt.number, "").split("/")[0].strip()  # TCGplayer writes "012/193"
    card = await matcher.card(
        name=row.get("Name", ""),
        set_code=row.get(fmt.set_code or "", ""),
        set_name=row.get(fmt.set_name or "", ""),
        number=number,
    )
    return await matcher.printing(card, finish, language)


def _finish_out(fmt: CsvFormat, finish: str) -> str:
    if not fmt.foil_flag:
        return next(
            (label.title().replace("1St", "1st") for label, f in TCGPLAYER_PRINTINGS.items() if f == finish), finish
        )
    if finish in ("normal", "first_edition_normal"):
        return "normal" if fmt.name == "manabox" else ""
    return "foil"


async def export_csv(session: AsyncSession, *, user_id: uuid.UUID, format_name: str) -> str:
    fmt = get_format(format_name)
    rows = (
        await session.exec(
            select(InventoryItem, Card, CardSet, Printing)
            .join(Card, col(Card.id) == col(InventoryItem.card_id))
            .join(CardSet, col(CardSet.id) == col(Card.set_id))
            .join(Printing, col(Printing.id) == col(InventoryItem.printing_id))
            .where(InventoryItem.user_id == user_id)
            .order_by(col(CardSet.id), col(Card.collector_key), col(InventoryItem.created_at))
        )
    ).all()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fmt.header), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for item, card, card_set, printing in rows:
        language = CODES_TO_LANGUAGE.get(item.language, item.language)
        record = {
            "Name": card.name,
            "Simple Name": card.name,
            "Rarity": card.rarity or "",
            fmt.quantity: str(item.quantity),
            fmt.number: collector_line(card, card_set) if fmt.name == "tcgplayer" else card.number,
            fmt.finish: _finish_out(fmt, item.finish),
            "Condition": fmt.condition_out[Condition(item.condition)],
            "Language": item.language if fmt.language_codes else language,
            "Product ID": printing.tcgplayer_product_id or "",
            "Tradelist Count": "0",
            "Tags": ",".join(item.tags),
            **fmt.extra_out,
        }
        if fmt.set_name:
            record[fmt.set_name] = card_set.name
        if fmt.set_code:
            record[fmt.set_code] = card_set.code or card_set.id
        if fmt.price and item.purchase_price is not None:
            record[fmt.price] = f"{item.purchase_price:.2f}"
        if fmt.currency:
            record[fmt.currency] = item.currency
        writer.writerow(record)
    return out.getvalue()
