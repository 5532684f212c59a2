"""Key rotation: re-encrypt every credential under the primary master key, one batch at a time.

Each batch is its own transaction, so the rotation can be killed at any moment and run again: it
continues with the rows still under an older key.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_config import get_logger
from db_core import async_session_scope
from db_user.models import BybitCredential
from db_user.vault import CredentialContext, Vault, VaultError

logger = get_logger(__name__)


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    failed: int
    batches: int
    total: int
    under_primary: int


async def rotate_credentials(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    *,
    batch_size: int = 200,
    on_batch: Callable[[int, int], None] | None = None,
) -> RotationReport:
    """Reseal every credential not under the primary key; ``on_batch(batches, rotated)`` after each."""
    rotated = failed = batches = 0
    last_id = 0
    primary = vault.primary_key_id
    while True:
        async with async_session_scope(sessions) as session:
            rows = (
                await session.scalars(
                    select(BybitCredential)
                    .where(BybitCredential.key_id != primary, BybitCredential.id > last_id)
                    .order_by(BybitCredential.id)
                    .limit(batch_size)
                    # Wait for a row another transaction holds: skipping it would leave it behind.
                    .with_for_update()
                )
            ).all()
            if not rows:
                break
            for row in rows:
                try:
                    sealed = vault.reseal(row.secret_ciphertext, row.key_id, CredentialContext.of(row))
                except VaultError as exc:
                    failed += 1
                    logger.error("credential not rotated", credential_id=row.id, error=str(exc))
                    continue
                row.secret_ciphertext, row.key_id = sealed.ciphertext, sealed.key_id
                rotated += 1
            last_id = rows[-1].id
        batches += 1
        if on_batch is not None:
            on_batch(batches, rotated)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(BybitCredential)) or 0
        under_primary = (
            await session.scalar(
                select(func.count()).select_from(BybitCredential).where(BybitCredential.key_id == primary)
            )
            or 0
        )
    return RotationReport(rotated, failed, batches, total, under_primary)
