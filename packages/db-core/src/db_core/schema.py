"""What both schemas share: the constraint naming convention, the Python-to-column type map, the
surrogate key, and the check that a column holds one of a set of values.

Every timestamp is ``timestamptz`` and every ``Decimal`` is ``numeric`` (never a float).
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, MetaData, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import mapped_column, registry

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    datetime: DateTime(timezone=True),
    Decimal: Numeric(asdecimal=True),
    dict[str, Any]: JSONB,
}


# A table's surrogate key: ``id: Mapped[BigIdentity]``, a bigint the database numbers.
BigIdentity = Annotated[int, mapped_column(BigInteger, Identity(), primary_key=True)]


def one_of(column: str, values: Iterable[str | Enum]) -> CheckConstraint:
    """A check that ``column`` holds one of ``values`` (an enum's members or plain strings), named
    after the column by the naming convention: ``ck_<table>_<column>``."""
    allowed = ", ".join(repr(value.value if isinstance(value, Enum) else value) for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def new_metadata() -> MetaData:
    """A fresh ``MetaData`` carrying the shared naming convention (one per database)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def new_registry() -> registry:
    """A fresh ORM registry (one per database): its own ``new_metadata()`` and the shared type map.

    A database's declarative base takes it as its ``registry`` attribute.
    """
    return registry(metadata=new_metadata(), type_annotation_map=TYPE_ANNOTATION_MAP)
