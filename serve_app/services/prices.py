"""Card prices as the API shows them: fair value, interval, sample size, history, aggregates."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.errors import CardNotFound
from serve_app.db.tables import Card, FairValue, FairValueHistory, PriceAggregate, Printing
from serve_app.schemas.prices import AggregateFigure, CardPrices, PricePoint, PrintingPrice

HISTORY_DAYS = 400


async def card_prices(session: AsyncSession, *, card_id: str) -> CardPrices:
    card = await session.get(Card, card_id)
    if card is None:
        raise CardNotFound(f"no card with id {card_id!r}")
    printings = (
        await session.exec(select(Printing).where(Printing.card_id == card_id).order_by(col(Printing.id)))
    ).all()
    ids = [p.id for p in printings]
    values = {
        v.printing_id: v
        for v in (await session.exec(select(FairValue).where(col(FairValue.printing_id).in_(ids)))).all()
    }
    history: dict[str, list[PricePoint]] = {}
    for h in (
        await session.exec(
            select(FairValueHistory)
            .where(col(FairValueHistory.printing_id).in_(ids))
            .order_by(col(FairValueHistory.day))
        )
    ).all():
        history.setdefault(h.printing_id, []).append(
            PricePoint(day=h.day, fmv_usd=h.fmv_usd, ci_low=h.ci_low, ci_high=h.ci_high, n=h.n, method=h.method)
        )
    aggregates: dict[str, list[AggregateFigure]] = {}
    for a in (
        await session.exec(
            select(PriceAggregate)
            .where(col(PriceAggregate.printing_id).in_(ids))
            .order_by(col(PriceAggregate.observed_at))
        )
    ).all():
        aggregates.setdefault(a.printing_id, []).append(
            AggregateFigure(
                source=a.source,
                field=a.field,
                value=a.value,
                currency=a.currency,
                value_usd=a.value_usd,
                observed_at=a.observed_at,
            )
        )
    out = []
    for p in printings:
        v = values.get(p.id)
        out.append(
            PrintingPrice(
                printing_id=p.id,
                finish=p.finish,
                fmv_usd=v.fmv_usd if v else None,
                ci_low=v.ci_low if v else None,
                ci_high=v.ci_high if v else None,
                n=v.n if v else 0,
                n_rejected=v.n_rejected if v else 0,
                thin=v.thin if v else True,
                method=v.method if v else None,
                sources=v.sources if v else [],
                last_observed_at=v.last_observed_at if v else None,
                computed_at=v.computed_at if v else None,
                history=history.get(p.id, [])[-HISTORY_DAYS:],
                aggregates=aggregates.get(p.id, []),
            )
        )
    return CardPrices(card_id=card.id, name=card.name, printings=out)
