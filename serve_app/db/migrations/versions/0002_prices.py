"""Prices: FX rates, the sales store, aggregates, review queue, valuation runs, fair values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("usd_per_unit", sa.Float(), nullable=False),
    )
    op.create_table(
        "sales",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("printing_id", sa.String(128), sa.ForeignKey("printings.id"), nullable=False, index=True),
        sa.Column("card_id", sa.String(64), nullable=False, index=True),
        sa.Column("price", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("price_usd", sa.Float(), nullable=False),
        _ts("sold_at"),
        sa.Column("condition", sa.String(3), nullable=False),
        sa.Column("finish", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("graded_company", sa.String(8)),
        sa.Column("grade", sa.Float()),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("listing_id", sa.String(128), nullable=False),
        _ts("ingested_at"),
        sa.UniqueConstraint("source", "listing_id", name="uq_sales_source_listing"),
    )
    op.create_index("ix_sales_sold_at", "sales", ["sold_at"])
    op.create_table(
        "price_aggregates",
        sa.Column("printing_id", sa.String(128), sa.ForeignKey("printings.id"), primary_key=True),
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("observed_at", sa.Date(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("value_usd", sa.Float(), nullable=False),
    )
    op.create_table(
        "price_review_queue",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False, index=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        _ts("created_at"),
        _ts("resolved_at", nullable=True),
    )
    op.create_table(
        "valuation_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        _ts("as_of"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sales", sa.Integer(), nullable=False),
        sa.Column("from_sales", sa.Integer(), nullable=False),
        sa.Column("from_aggregates", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
    )
    op.create_table(
        "fair_values",
        sa.Column("printing_id", sa.String(128), sa.ForeignKey("printings.id"), primary_key=True),
        sa.Column("fmv_usd", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=False),
        sa.Column("ci_high", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_rejected", sa.Integer(), nullable=False),
        sa.Column("thin", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("sources", JSON, nullable=False),
        _ts("last_observed_at", nullable=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("valuation_runs.id"), nullable=False, index=True),
        _ts("computed_at"),
    )
    op.create_table(
        "fair_value_history",
        sa.Column("printing_id", sa.String(128), sa.ForeignKey("printings.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("fmv_usd", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=False),
        sa.Column("ci_high", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "fair_value_history",
        "fair_values",
        "valuation_runs",
        "price_review_queue",
        "price_aggregates",
        "sales",
        "fx_rates",
    ):
        op.drop_table(table)
