"""The two idempotent writes every projection is made of: append events keyed by
``(owner, seq)``, and overwrite a row only with a version at least as new as the one it holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casebridge.db.models import Base
from casebridge.domain.model import Event


async def append_events(
    session: AsyncSession, model: type[Base], owner_column: str, owner_id: str, events: Sequence[Event]
) -> None:
    """Insert events; one already there (a retried activity) is left as it is."""
    if not events:
        return
    rows = [
        {owner_column: owner_id, "seq": e.seq, "type": e.type, "at": e.at, "actor": e.actor, "data": e.data}
        for e in events
    ]
    await session.execute(insert(model).values(rows).on_conflict_do_nothing(index_elements=[owner_column, "seq"]))


async def upsert_if_newer(session: AsyncSession, model: type[Base], row: dict[str, Any]) -> bool:
    """Insert the row, or overwrite it when ``row["version"]`` is at least the stored version.
    False when a newer snapshot is already there (an older batch arrived late)."""
    table = model.__table__
    upsert = insert(model).values(row)
    statement = upsert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={k: upsert.excluded[k] for k in row if k != "id"},
        where=table.c.version <= upsert.excluded.version,
    ).returning(table.c.id)
    return (await session.execute(statement)).first() is not None
