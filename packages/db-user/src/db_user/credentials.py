"""Bybit credentials of a user. The secret arrives here already encrypted (ciphertext + key id)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, distinct, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.models import BybitCredential


async def save_bybit_credential(
    session: AsyncSession,
    *,
    user_id: int,
    network: str,
    api_key: str,
    secret_ciphertext: bytes,
    key_id: str,
    label: str | None = None,
    permissions: dict[str, Any] | None = None,
    read_only: bool,
    expires_at: datetime | None = None,
    ips: list[str] | None = None,
    validated_at: datetime | None = None,
) -> BybitCredential:
    """Add a credential, or replace the one with the same (user, network, api_key); return it."""
    values: dict[str, Any] = {
        "secret_ciphertext": secret_ciphertext,
        "key_id": key_id,
        "label": label,
        "permissions": permissions or {},
        "read_only": read_only,
        "expires_at": expires_at,
        "ips": ips or [],
        "validated_at": validated_at or datetime.now(UTC),
    }
    statement = (
        insert(BybitCredential)
        .values(user_id=user_id, network=network, api_key=api_key, **values)
        .on_conflict_do_update(constraint="uq_bybit_credentials_user_id_network_api_key", set_=values)
        .returning(BybitCredential)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one()


async def list_bybit_credentials(session: AsyncSession, user_id: int) -> list[BybitCredential]:
    """A user's credentials, oldest first."""
    query = select(BybitCredential).where(BybitCredential.user_id == user_id).order_by(BybitCredential.id)
    return list((await session.scalars(query)).all())


async def get_bybit_credential(
    session: AsyncSession, user_id: int, credential_id: int
) -> BybitCredential | None:
    """One credential, only when it belongs to ``user_id``."""
    query = select(BybitCredential).where(
        BybitCredential.id == credential_id, BybitCredential.user_id == user_id
    )
    return (await session.scalars(query)).one_or_none()


async def delete_bybit_credential(session: AsyncSession, user_id: int, credential_id: int) -> bool:
    """Delete one of the user's credentials; False when there was none."""
    result = await session.execute(
        delete(BybitCredential)
        .where(BybitCredential.id == credential_id, BybitCredential.user_id == user_id)
        .returning(BybitCredential.id)
    )
    return result.scalar_one_or_none() is not None


async def credential_key_ids(session: AsyncSession) -> set[str]:
    """The ids of the master keys stored credentials are encrypted under (one query)."""
    return set((await session.scalars(select(distinct(BybitCredential.key_id)))).all())
