"""The public market and sync schemas agree with the columns the repository functions list.

The response models are the API's contract and stay declared in ``schemas``; the rows come from
the general database's tables. A column added, renamed, retyped or made nullable on one side
only fails here rather than in a response.
"""

import types
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Column

from api_service.schemas import Instrument, Kline, SyncRunState
from db_general import LISTED_INSTRUMENT_COLUMNS, LISTED_KLINE_COLUMNS, SYNC_RUN_STATE_COLUMNS


def python_type(annotation: Any) -> tuple[type, bool]:
    """The type behind ``annotation`` (unions with None and ``Annotated`` unwrapped), and whether
    it admits None."""
    if get_origin(annotation) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return python_type(inner)[0], True
    if get_origin(annotation) is Annotated:
        return python_type(get_args(annotation)[0])
    return (datetime if annotation is AwareDatetime else annotation), False


@pytest.mark.parametrize(
    ("model", "columns"), [(Instrument, LISTED_INSTRUMENT_COLUMNS), (Kline, LISTED_KLINE_COLUMNS)]
)
def test_a_response_model_has_a_field_of_the_same_type_for_each_listed_column(
    model: type[BaseModel], columns: tuple[Column[Any], ...]
) -> None:
    assert list(model.model_fields) == [column.name for column in columns]
    for column in columns:
        field_type, nullable = python_type(model.model_fields[column.name].annotation)
        assert (field_type, nullable) == (column.type.python_type, column.nullable), column.name
        assert field_type in (str, Decimal, datetime), column.name  # each written out as a JSON string


def test_the_sync_run_model_has_a_field_for_each_column_the_state_read_lists() -> None:
    assert list(SyncRunState.model_fields) == [column.name for column in SYNC_RUN_STATE_COLUMNS]
    for column in SYNC_RUN_STATE_COLUMNS:
        field_type, nullable = python_type(SyncRunState.model_fields[column.name].annotation)
        assert nullable == column.nullable, column.name
        if column.name != "attempt_errors":  # JSON in the table, a list of models in the response
            assert field_type is column.type.python_type, column.name
