"""Initial schema: users and auth, catalog, inventory, images.

On PostgreSQL ``inventory_items`` is hash-partitioned by ``user_id`` (16 partitions) and card
names carry a trigram GIN index for typo-tolerant search.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INVENTORY_PARTITIONS = 16
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    is_pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email_index", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("email_ct", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("real_name_ct", sa.LargeBinary()),
        sa.Column("shipping_address_ct", sa.LargeBinary()),
        sa.Column("phone_ct", sa.LargeBinary()),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "oauth_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("provider", "subject"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_key_ct", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", JSON, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        _ts("created_at"),
        _ts("last_used_at"),
        _ts("expires_at"),
        sa.Column("user_agent", sa.String(255), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("auth_method", sa.String(64), nullable=False),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.String(64)),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        _ts("issued_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
    )
    op.create_table(
        "games",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )
    op.create_table(
        "card_sets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("game_id", sa.String(32), sa.ForeignKey("games.id"), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("code", sa.String(32), index=True),
        sa.Column("series", sa.String(128)),
        sa.Column("printed_total", sa.Integer()),
        sa.Column("total", sa.Integer()),
        sa.Column("release_date", sa.Date()),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("game_id", sa.String(32), sa.ForeignKey("games.id"), nullable=False, index=True),
        sa.Column("set_id", sa.String(64), sa.ForeignKey("card_sets.id"), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("name_search", sa.String(255), nullable=False, index=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("printed_total", sa.Integer()),
        sa.Column("collector_key", sa.String(32), nullable=False, index=True),
        sa.Column("rarity", sa.String(64)),
        sa.Column("supertype", sa.String(64)),
        sa.Column("subtypes", JSON, nullable=False),
        sa.Column("types", JSON, nullable=False),
        sa.Column("hp", sa.Integer()),
        sa.Column("artist", sa.String(255)),
        sa.Column("image_url", sa.String(512)),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_table(
        "printings",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("card_id", sa.String(64), sa.ForeignKey("cards.id"), nullable=False, index=True),
        sa.Column("finish", sa.String(32), nullable=False),
        sa.Column("edition", sa.String(32)),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("treatment", sa.String(64)),
        sa.Column("rarity", sa.String(64)),
        sa.Column("tcgplayer_product_id", sa.String(32), index=True),
    )
    inventory_columns: list[sa.schema.SchemaItem] = [
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("printing_id", sa.String(128), sa.ForeignKey("printings.id"), nullable=False),
        sa.Column("card_id", sa.String(64), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(3), nullable=False),
        sa.Column("finish", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("graded_company", sa.String(8)),
        sa.Column("grade", sa.Float()),
        sa.Column("cert_number", sa.String(32)),
        sa.Column("purchase_price", sa.Numeric(12, 2)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("purchase_date", sa.Date()),
        sa.Column("location", sa.String(128)),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("notes", sa.String(2000)),
        sa.Column("source_image_key", sa.String(255)),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("user_id", "id"),
    ]
    if is_pg:
        op.create_table("inventory_items", *inventory_columns, postgresql_partition_by="HASH (user_id)")
        for i in range(INVENTORY_PARTITIONS):
            op.execute(
                f"CREATE TABLE inventory_items_p{i} PARTITION OF inventory_items "
                f"FOR VALUES WITH (MODULUS {INVENTORY_PARTITIONS}, REMAINDER {i})"
            )
    else:
        op.create_table("inventory_items", *inventory_columns)
    op.create_index("ix_inventory_user_created", "inventory_items", ["user_id", "created_at"])
    op.create_index("ix_inventory_user_card", "inventory_items", ["user_id", "card_id"])
    op.create_index("ix_inventory_printing", "inventory_items", ["printing_id"])
    op.create_table(
        "images",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(64)),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("byte_size", sa.Integer()),
        _ts("created_at"),
    )
    if is_pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_cards_name_trgm ON cards USING gin (name_search gin_trgm_ops)")


def downgrade() -> None:
    for table in (
        "images",
        "inventory_items",
        "printings",
        "cards",
        "card_sets",
        "games",
        "refresh_tokens",
        "auth_sessions",
        "signing_keys",
        "oauth_accounts",
        "users",
    ):
        op.drop_table(table)
