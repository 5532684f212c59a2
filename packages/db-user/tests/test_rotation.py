"""Key rotation: interrupted midway, run again, every row decrypts under the new key."""

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db_core import async_session_factory, async_session_scope
from db_user import (
    BybitCredential,
    CredentialContext,
    User,
    Vault,
    add_primary_key,
    create_user,
    generate_key_file,
    load_master_keys,
    rotate_credentials,
    save_bybit_credential,
)

ROWS = 45


class RotationKilledError(Exception):
    """Stands for the rotation process dying between two batches."""


EMAIL = f"rotation-{uuid.uuid4().hex[:8]}@example.com"


@pytest_asyncio.fixture(loop_scope="session")
async def committed_sessions(user_engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit (rotation commits batch by batch); this test's rows are removed after."""
    sessions = async_session_factory(user_engine)
    yield sessions
    async with async_session_scope(sessions) as session:
        await session.execute(delete(User).where(User.email == EMAIL))


def drop_all_keys_but_primary(key_file: Path) -> None:
    document = json.loads(key_file.read_text())
    document["keys"] = {document["primary"]: document["keys"][document["primary"]]}
    key_file.write_text(json.dumps(document))


async def test_rotation_killed_midway_then_rerun(
    committed_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    key_file = tmp_path / "master.key"
    generate_key_file(key_file)
    old_vault = Vault(load_master_keys(key_file, strict_permissions=True))
    secrets = {}
    async with async_session_scope(committed_sessions) as session:
        user = await create_user(session, EMAIL)
        for n in range(ROWS):
            context = CredentialContext(user.id, "testnet", f"KEY-{n}")
            secrets[context.api_key] = f"secret-{n}-{uuid.uuid4().hex}"
            sealed = old_vault.encrypt(SecretStr(secrets[context.api_key]), context)
            await save_bybit_credential(
                session,
                user_id=user.id,
                network="testnet",
                api_key=context.api_key,
                secret_ciphertext=sealed.ciphertext,
                key_id=sealed.key_id,
                read_only=True,
            )
        user_id = user.id

    new_key = add_primary_key(key_file)
    vault = Vault(load_master_keys(key_file, strict_permissions=True))

    def stop_after_two_batches(batches: int, _: int) -> None:
        if batches == 2:
            raise RotationKilledError

    with pytest.raises(RotationKilledError):
        await rotate_credentials(committed_sessions, vault, batch_size=10, on_batch=stop_after_two_batches)

    async def mine() -> list[BybitCredential]:
        async with committed_sessions() as session:
            query = select(BybitCredential).where(BybitCredential.user_id == user_id)
            return list((await session.scalars(query)).all())

    halfway = await mine()
    assert sum(row.key_id == new_key for row in halfway) == 20  # two committed batches

    report = await rotate_credentials(committed_sessions, vault, batch_size=10)
    assert report.rotated == ROWS - 20
    rows = await mine()
    assert len(rows) == ROWS  # nothing lost, nothing duplicated
    assert {row.key_id for row in rows} == {new_key}
    # The old key may now leave the file: every row decrypts with the new key alone.
    drop_all_keys_but_primary(key_file)
    new_only_ring = load_master_keys(key_file, strict_permissions=True)
    assert list(new_only_ring.keys) == [new_key]
    new_only = Vault(new_only_ring)
    for row in rows:
        plain = new_only.decrypt(row.secret_ciphertext, row.key_id, CredentialContext.of(row))
        assert plain.get_secret_value() == secrets[row.api_key]

    again = await rotate_credentials(committed_sessions, vault, batch_size=10)
    assert again.rotated == 0
