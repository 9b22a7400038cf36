"""Database tables (SQLModel). The Alembic migrations in ``migrations/`` create them on both
SQLite and PostgreSQL; on PostgreSQL ``inventory_items`` is hash-partitioned by ``user_id``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


class User(SQLModel, table=True):
    """A user. Personal data is stored only as AES-GCM ciphertext under a per-row data key;
    ``email_index`` is a keyed blind index (HMAC) that makes login by email possible."""

    __tablename__ = "users"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_index: str = Field(max_length=64, unique=True, index=True)
    email_ct: bytes
    wrapped_dek: bytes
    kek_id: str = Field(max_length=64)
    display_name: str = Field(max_length=80)
    real_name_ct: bytes | None = None
    shipping_address_ct: bytes | None = None
    phone_ct: bytes | None = None
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(default="user", max_length=16)
    is_active: bool = True
    created_at: datetime = _ts()


class OAuthAccount(SQLModel, table=True):
    __tablename__ = "oauth_accounts"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    provider: str = Field(max_length=64)
    subject: str = Field(max_length=255)
    created_at: datetime = _ts()


class SigningKey(SQLModel, table=True):
    """A JWT signing key. The private key is stored encrypted with the master key."""

    __tablename__ = "signing_keys"
    kid: str = Field(primary_key=True, max_length=64)
    private_key_ct: bytes
    public_jwk: dict[str, Any] = Field(sa_type=JSONType)
    created_at: datetime = _ts()


class AuthSession(SQLModel, table=True):
    """One login: the family of rotating refresh tokens issued from it."""

    __tablename__ = "auth_sessions"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = _ts()
    last_used_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    user_agent: str = Field(default="", max_length=255)
    ip: str = Field(default="", max_length=64)
    auth_method: str = Field(default="password", max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=64)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"
    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: uuid.UUID = Field(foreign_key="auth_sessions.id", index=True, ondelete="CASCADE")
    issued_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Game(SQLModel, table=True):
    __tablename__ = "games"
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)


class CardSet(SQLModel, table=True):
    __tablename__ = "card_sets"
    id: str = Field(primary_key=True, max_length=64)
    game_id: str = Field(foreign_key="games.id", index=True)
    name: str = Field(max_length=128)
    code: str | None = Field(default=None, max_length=32, index=True)
    series: str | None = Field(default=None, max_length=128)
    printed_total: int | None = None
    total: int | None = None
    release_date: date | None = None


class Card(SQLModel, table=True):
    """A card as the source identifies it: ``sv2-12`` (Pokémon), ``MST131`` (Flesh and Blood)."""

    __tablename__ = "cards"
    id: str = Field(primary_key=True, max_length=64)
    game_id: str = Field(foreign_key="games.id", index=True)
    set_id: str = Field(foreign_key="card_sets.id", index=True)
    name: str = Field(max_length=255)
    name_search: str = Field(max_length=255, index=True)
    number: str = Field(max_length=32)
    printed_total: int | None = None
    collector_key: str = Field(max_length=32, index=True)
    rarity: str | None = Field(default=None, max_length=64)
    supertype: str | None = Field(default=None, max_length=64)
    subtypes: list[str] = Field(default_factory=list, sa_type=JSONType)
    types: list[str] = Field(default_factory=list, sa_type=JSONType)
    hp: int | None = None
    artist: str | None = Field(default=None, max_length=255)
    image_url: str | None = Field(default=None, max_length=512)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class Printing(SQLModel, table=True):
    """A physical version of a card: finish, edition, language, treatment."""

    __tablename__ = "printings"
    id: str = Field(primary_key=True, max_length=128)
    card_id: str = Field(foreign_key="cards.id", index=True)
    finish: str = Field(max_length=32)
    edition: str | None = Field(default=None, max_length=32)
    language: str = Field(default="en", max_length=8)
    treatment: str | None = Field(default=None, max_length=64)
    rarity: str | None = Field(default=None, max_length=64)
    tcgplayer_product_id: str | None = Field(default=None, max_length=32, index=True)


class InventoryItem(SQLModel, table=True):
    """A line of a user's collection. Primary key (user_id, id): the partition key leads."""

    __tablename__ = "inventory_items"
    user_id: uuid.UUID = Field(primary_key=True, foreign_key="users.id", ondelete="CASCADE")
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    printing_id: str = Field(foreign_key="printings.id", index=True)
    card_id: str = Field(foreign_key="cards.id", index=True)
    quantity: int = 1
    condition: str = Field(default="NM", max_length=3)
    finish: str = Field(max_length=32)
    language: str = Field(default="en", max_length=8)
    graded_company: str | None = Field(default=None, max_length=8)
    grade: float | None = None
    cert_number: str | None = Field(default=None, max_length=32)
    purchase_price: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    currency: str = Field(default="USD", max_length=3)
    purchase_date: date | None = None
    location: str | None = Field(default=None, max_length=128)
    tags: list[str] = Field(default_factory=list, sa_type=JSONType)
    notes: str | None = Field(default=None, max_length=2000)
    source_image_key: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Image(SQLModel, table=True):
    __tablename__ = "images"
    key: str = Field(primary_key=True, max_length=255)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    status: str = Field(default="pending", max_length=16)
    content_type: str | None = Field(default=None, max_length=64)
    width: int | None = None
    height: int | None = None
    byte_size: int | None = None
    created_at: datetime = _ts()


class Scan(SQLModel, table=True):
    """A scan job: queued -> running -> done | failed. Stored before it runs; a replica takes it
    with a lease, so a job whose replica died is resumed once the lease runs out."""

    __tablename__ = "scans"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    image_key: str = Field(foreign_key="images.key", max_length=255, ondelete="CASCADE")
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: str | None = Field(default=None, max_length=500)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class FxRate(SQLModel, table=True):
    """US dollars per unit of ``currency`` on ``day`` (rates apply from that day on)."""

    __tablename__ = "fx_rates"
    currency: str = Field(primary_key=True, max_length=3)
    day: date = Field(primary_key=True)
    usd_per_unit: float


class Sale(SQLModel, table=True):
    """One observed sale; (source, listing_id) de-duplicates repeated feeds."""

    __tablename__ = "sales"
    __table_args__ = (sa.UniqueConstraint("source", "listing_id", name="uq_sales_source_listing"),)
    id: int | None = Field(default=None, primary_key=True)
    printing_id: str = Field(foreign_key="printings.id", index=True)
    card_id: str = Field(max_length=64, index=True)
    price: Decimal = Field(max_digits=14, decimal_places=2)
    currency: str = Field(max_length=3)
    price_usd: float
    sold_at: datetime = Field(sa_type=UTCDateTime, index=True)
    condition: str = Field(max_length=3)
    finish: str = Field(max_length=32)
    language: str = Field(default="en", max_length=8)
    graded_company: str | None = Field(default=None, max_length=8)
    grade: float | None = None
    source: str = Field(max_length=32)
    listing_id: str = Field(max_length=128)
    ingested_at: datetime = _ts()


class PriceAggregate(SQLModel, table=True):
    """A published aggregate figure (TCGplayer market, CardMarket trend, ...) on a day."""

    __tablename__ = "price_aggregates"
    printing_id: str = Field(primary_key=True, foreign_key="printings.id")
    source: str = Field(primary_key=True, max_length=32)
    field: str = Field(primary_key=True, max_length=32)
    observed_at: date = Field(primary_key=True)
    value: float
    currency: str = Field(max_length=3)
    value_usd: float


class PriceReview(SQLModel, table=True):
    """A feed record that could not be matched to a printing: kept for a person to resolve."""

    __tablename__ = "price_review_queue"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32, index=True)
    reason: str = Field(max_length=500)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = _ts()
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ValuationRun(SQLModel, table=True):
    __tablename__ = "valuation_runs"
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = _ts()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    as_of: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=16)
    sales: int = 0
    from_sales: int = 0
    from_aggregates: int = 0
    engine: str = Field(default="polars", max_length=16)


class FairValue(SQLModel, table=True):
    """The current fair market value of a printing (Near Mint, raw, USD)."""

    __tablename__ = "fair_values"
    printing_id: str = Field(primary_key=True, foreign_key="printings.id")
    fmv_usd: float
    ci_low: float
    ci_high: float
    n: int
    n_rejected: int = 0
    thin: bool
    method: str = Field(max_length=16)
    sources: list[str] = Field(default_factory=list, sa_type=JSONType)
    last_observed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int = Field(foreign_key="valuation_runs.id", index=True)
    computed_at: datetime = _ts()


class FairValueHistory(SQLModel, table=True):
    __tablename__ = "fair_value_history"
    printing_id: str = Field(primary_key=True, foreign_key="printings.id")
    day: date = Field(primary_key=True)
    fmv_usd: float
    ci_low: float
    ci_high: float
    n: int
    method: str = Field(max_length=16)
