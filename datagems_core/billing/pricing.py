"""Prices of model tokens and what a token count costs in US dollars.

A price is USD per million input (prompt) and output (completion) tokens, as gateways publish
them. It comes from an inference profile (`inputPricePerMTok`, `outputPricePerMTok`) or, for the
server's own gateway, from `DATAGEMS_INFERENCE_{INPUT,OUTPUT}_PRICE_PER_MTOK`. A job keeps the
price it was created with, so a later price change does not rewrite its history.

Without a price the cost is unknown (`None`), never zero: a free gateway says so with a price of 0.

    price = Price(input_per_mtok=0.15, output_per_mtok=0.6)
    cost_usd(prompt=1_000_000, completion=0, price=price)  # 0.15
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from datagems_core.errors import BadRequest
from datagems_core.stored_model import StoredModel

MAX_PRICE_PER_MTOK: Final = 10_000.0


class Price(StoredModel):
    """USD per million tokens, input and output."""

    input_per_mtok: float = Field(ge=0, le=MAX_PRICE_PER_MTOK, alias="inputPerMTok")
    output_per_mtok: float = Field(ge=0, le=MAX_PRICE_PER_MTOK, alias="outputPerMTok")


def check_price(value: float | None, *, field: str) -> float | None:
    """`value` when it is a sane price per million tokens; BadRequest naming `field` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not 0 <= value <= MAX_PRICE_PER_MTOK or value != value:
        raise BadRequest(
            f"{field} must be a price in USD per million tokens between 0 and "
            f"{MAX_PRICE_PER_MTOK:g}, got {value!r}",
            details={"field": field, "max": MAX_PRICE_PER_MTOK},
        )
    return float(value)


def price_of(input_per_mtok: float | None, output_per_mtok: float | None) -> Price | None:
    """A price when both halves are known; one half alone cannot price a call."""
    if input_per_mtok is None or output_per_mtok is None:
        return None
    return Price(inputPerMTok=input_per_mtok, outputPerMTok=output_per_mtok)


def cost_usd(*, prompt: int, completion: int, price: Price | None) -> float | None:
    """What `prompt` + `completion` tokens cost at `price`; None when the price is unknown."""
    if price is None:
        return None
    cost = (prompt * price.input_per_mtok + completion * price.output_per_mtok) / 1_000_000
    return round(cost, 6)


def format_usd(value: float | None) -> str:
    """`$4.12`, small amounts with more digits (`$0.0031`), or `unknown`."""
    if value is None:
        return "unknown"
    if value == 0 or value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4g}"
