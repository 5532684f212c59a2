"""The one bulk upsert of the general database (klines and instruments): lock, read back, compare,
then UPDATE the changed rows and COPY the new ones; unchanged rows are not written.

How it goes (packages/db-general/README.md, "Bulk upserts", says why):
1. One row per primary key, the last of the batch.
2. The batch's groups (the leading key columns: a kline series, an instrument category) are locked
   for the caller's transaction, in one order (``pg_advisory_xact_lock``).
3. The stored rows of each group between the batch's first and last key are read back, one
   statement, and each is compared with its incoming row in Python by the table's own test.
4. The changed rows are written with one UPDATE (the batch as arrays, ``unnest``), the new ones
   with one COPY (``db_general.bulk_copy``).
Statements are SQLAlchemy's, built once per table from its metadata (``UpsertTable``).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    FromClause,
    String,
    Table,
    and_,
    bindparam,
    column,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from db_general.bulk_copy import copy_rows, copy_types

R = TypeVar("R")
# Stored rows taken from the driver and compared at a time: few enough that a chunk's rows (a tuple
# and a Row each) are gone before the collector's first generation fills (700 objects by default),
# so comparing 100,000 rows starts no collection; with 2,000 a pass over every object the process
# holds came once in two upserts of the benchmark's 100,000 klines, a third of the whole upsert.
_READ_CHUNK = 256
# Where the ``compared`` values start in a stored row as read back.
COMPARED = 2


def _unnest(table: Table, columns: Mapping[str, str], name: str, ordinality: str | None = None) -> FromClause:
    """``unnest`` of one array parameter per entry of ``columns`` (label: the name of the table
    column whose type it has), as a derived table ``name`` with those labels for column names;
    the parameters are named ``<name>_<label>``."""
    types = {label: table.c[source].type for label, source in columns.items()}
    arrays = (bindparam(f"{name}_{label}", type_=ARRAY(type_)) for label, type_ in types.items())
    return (
        func.unnest(*arrays)
        .table_valued(*(column(label, type_) for label, type_ in types.items()), with_ordinality=ordinality)
        .render_derived(name=name)
    )


@dataclass(frozen=True)
class Batch(Generic[R]):
    """What a batch holds once compared with the stored rows."""

    new: list[R]
    changed: list[R]
    unchanged: int


class UpsertTable(Generic[R]):
    """How rows of one dataclass are upserted into ``table``.

    ``fields``: the row class's field names, each a column, the whole primary key among them.
    ``group``: the key's leading columns, locked together; the key's last column is the range
    read back per group. ``compared``: what is read from a stored row for the table's comparison.
    ``inserted_also``: columns a new row gets beside its fields (``first_seen_at``), in order.
    """

    def __init__(
        self,
        table: Table,
        fields: tuple[str, ...],
        group: tuple[str, ...],
        compared: tuple[ColumnElement[Any], ...],
        inserted_also: tuple[str, ...] = (),
    ) -> None:
        key = tuple(column.name for column in table.primary_key)
        if key[: len(group)] != group or len(key) != len(group) + 1:
            raise ValueError(f"{table.name}: {group} is not its key {key} but for the last column")
        self.table, self.fields, self.group = table, fields, group
        self._last = key[-1]
        self._group_of, self._last_of = attrgetter(*group), attrgetter(self._last)
        self._values_of = attrgetter(*fields)
        self._inserted = (*fields, *inserted_also)
        self._copy_types = copy_types(table, self._inserted)
        c = table.c
        same = {name: name for name in group}
        groups = _unnest(table, same, "batch")
        lock_key = func.hashtext(func.concat_ws("/", *groups.c))
        self._lock = (
            select(func.pg_advisory_xact_lock(func.hashtext(literal(table.name)), lock_key))
            .select_from(groups)
            .order_by(*groups.c)
        )
        spans = _unnest(table, {**same, "first_key": self._last, "last_key": self._last}, "span", "n")
        # A text key is ranged byte by byte, as Python orders strings, whatever the collation.
        stored_key = c[self._last].collate("C") if isinstance(c[self._last].type, String) else c[self._last]
        within = and_(
            *(c[name] == spans.c[name] for name in group),
            stored_key.between(spans.c.first_key, spans.c.last_key),
        )
        self._read = select(spans.c.n, c[self._last], *compared).join_from(
            spans, table, within
        )  # see COMPARED
        changes = _unnest(table, {name: name for name in fields}, "changed")
        self._update = (
            update(table)
            .values({name: changes.c[name] for name in fields if name not in key})
            .where(*(c[name] == changes.c[name] for name in key))
        )

    def split(
        self, session: Session, rows: Iterable[R], unchanged: Callable[[Sequence[Any], R], bool]
    ) -> Batch[R]:
        """Lock the batch's groups, read their stored rows back and tell the new and the changed
        rows from the unchanged ones: ``unchanged(stored, row)``, ``stored`` being the stored row
        as read (its group's number, its key, then the ``compared`` values, from index ``COMPARED``).

        The locks hold until the caller's transaction ends: what the read found stays true until
        it commits, so the new rows go in with a plain COPY, with no other writer's insert of
        the same key to race. The session must run at READ COMMITTED (the engines' default), so
        that the read after the lock sees what the lock's previous holder committed.
        """
        group_of, last_of = self._group_of, self._last_of
        batches: dict[Any, dict[Any, R]] = {}
        for row in rows:
            batch = batches.get(group := group_of(row))
            if batch is None:
                batch = batches[group] = {}
            batch[last_of(row)] = row
        if not batches:
            return Batch([], [], 0)
        ordered = list(batches)
        columns = list(zip(*(g if isinstance(g, tuple) else (g,) for g in ordered), strict=True))
        locked = {f"batch_{name}": list(values) for name, values in zip(self.group, columns, strict=True)}
        session.execute(self._lock, locked).all()  # a statement of its own, before the read
        spans = {f"span_{name}": list(values) for name, values in zip(self.group, columns, strict=True)}
        spans["span_first_key"] = [min(batches[g]) for g in ordered]
        spans["span_last_key"] = [max(batches[g]) for g in ordered]
        unseen = [batches[g] for g in ordered]
        total = sum(map(len, unseen))
        changed: list[R] = []
        # Taken from the driver a chunk at a time, each chunk's rows dropped before the next.
        for chunk in session.execute(self._read, spans).partitions(_READ_CHUNK):
            for stored in chunk:
                row = unseen[stored[0] - 1].pop(stored[1], None)
                if row is not None and not unchanged(stored, row):
                    changed.append(row)
        new = [row for batch in unseen for row in batch.values()]  # what the read did not find
        return Batch(new, changed, total - len(new) - len(changed))

    def update(self, session: Session, rows: Sequence[R], **also: Any) -> int:
        """UPDATE the stored rows of ``rows`` to their values (and ``also``); how many were written."""
        if not rows:
            return 0
        statement = self._update.values(also) if also else self._update
        columns = zip(*map(self._values_of, rows), strict=True)
        arrays = {f"changed_{name}": list(values) for name, values in zip(self.fields, columns, strict=True)}
        result = session.execute(statement, arrays)
        return result.rowcount if isinstance(result, CursorResult) else len(rows)

    def insert(self, session: Session, rows: Sequence[R], *also: Any) -> None:
        """COPY ``rows`` in, each with the values ``also`` of the ``inserted_also`` columns."""
        if not rows:
            return
        values_of = self._values_of
        copy_rows(
            session,
            table=self.table.name,
            columns=self._inserted,
            types=self._copy_types,
            rows=((*values_of(row), *also) for row in rows) if also else map(values_of, rows),
        )
