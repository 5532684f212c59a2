"""What both schemas share: the constraint naming convention and the Python-to-column type map.

Every timestamp is ``timestamptz`` and every ``Decimal`` is ``numeric`` (never a float).
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry

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


def new_metadata() -> MetaData:
    """A fresh ``MetaData`` carrying the shared naming convention (one per database)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def new_registry() -> registry:
    """A fresh ORM registry (one per database): its own ``new_metadata()`` and the shared type map.

    A database's declarative base takes it as its ``registry`` attribute.
    """
    return registry(metadata=new_metadata(), type_annotation_map=TYPE_ANNOTATION_MAP)
