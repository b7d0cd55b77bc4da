"""History values in the `numeric` column: integers stay integers and floats stay floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def num_param(value: Any) -> str | None:
    """A number as numeric text that reads back as the same Python type (3.0 stays float)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return repr(value)


def from_num(value: object) -> object:
    """A numeric read back: int when it has no fraction digits, else float."""
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    return value
