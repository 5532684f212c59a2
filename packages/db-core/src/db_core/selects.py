"""Select lists for rows that leave as JSON: ``numeric`` columns as their exact decimal text.

PostgreSQL writes a numeric as plain digits (never an exponent) with its stored scale, which is
the JSON string an API answers with: no ``Decimal`` is made per value only to be written out as
text again.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, ColumnElement, Numeric, Text, cast


def numerics_as_text(columns: Iterable[Column[Any]]) -> list[ColumnElement[Any]]:
    """``columns`` for a ``select()``, each ``numeric`` one cast to text under its own name."""
    return [
        cast(column, Text).label(column.name) if isinstance(column.type, Numeric) else column
        for column in columns
    ]
