"""The rows the worker hands to the upserts agree with the tables they are written to.

``InstrumentRow`` and ``KlineRow`` stay typed classes of their own (the worker builds them from
Bybit's models); the upserts take their column lists from them and their types from the tables,
so a field renamed, added or retyped on one side only fails here, not in a sync.
"""

import types
from dataclasses import fields
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from sqlalchemy import Table

from db_general import Instrument, InstrumentRow, Kline, KlineRow

# Columns the instrument merge fills in itself rather than from the row.
SET_BY_THE_MERGE = {"first_seen_at", "updated_at", "delisted_at"}


def python_type(annotation: Any) -> tuple[type, bool]:
    """The type behind ``annotation`` and whether it admits None."""
    if get_origin(annotation) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return python_type(inner)[0], True
    return (get_origin(annotation) or annotation), False


@pytest.mark.parametrize(
    ("row_class", "table", "left_out"),
    [(InstrumentRow, Instrument.__table__, SET_BY_THE_MERGE), (KlineRow, Kline.__table__, set())],
)
def test_each_row_field_is_a_column_of_the_same_type(
    row_class: type, table: Table, left_out: set[str]
) -> None:
    hints = get_type_hints(row_class)
    assert [field.name for field in fields(row_class)] == [
        column.name for column in table.c if column.name not in left_out
    ]
    for name, annotation in hints.items():
        column = table.c[name]
        expected = (column.type.python_type, column.nullable)
        assert python_type(annotation) == expected, name
