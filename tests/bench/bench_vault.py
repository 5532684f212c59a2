"""The credential vault: encrypt and decrypt cost per credential, and key rotation throughput.

- Encrypt / decrypt: ``Vault`` (AES-256-GCM, fresh nonce, associated data binding the row)
  beside cryptography's Fernet (AES-128-CBC + HMAC-SHA256), the usual ready-made choice for
  secrets at rest, on the same 40-character secrets.
- Rotation: ``rotate_credentials`` (batches of 500, one transaction each) over 5,000 stored
  credentials in a fresh user database, beside a row-at-a-time rotation (one transaction per
  credential) over the same rows in their own database.
"""

import asyncio
import os
import time
import uuid

from cryptography.fernet import Fernet
from harness import Row, stopwatch
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from test_support.scratch import scratch_database

from core_config import build_settings
from db_core import Database, async_session_scope, upgrade
from db_user import (
    USER_DB,
    BybitCredential,
    CredentialContext,
    MasterKey,
    MasterKeyRing,
    User,
    Vault,
    rotate_credentials,
)

SECRETS = 20_000
CREDENTIALS = 5_000
BATCH = 500


def _ring(*key_ids: str) -> MasterKeyRing:
    return MasterKeyRing({k: MasterKey(k, os.urandom(32)) for k in key_ids}, key_ids[-1])


def crypto_costs() -> tuple[float, float, float, float]:
    """Microseconds per encrypt and per decrypt: ours, then Fernet's."""
    vault = Vault(_ring("k1"))
    fernet = Fernet(Fernet.generate_key())
    secrets = [SecretStr(uuid.uuid4().hex + uuid.uuid4().hex[:8]) for _ in range(SECRETS)]
    contexts = [CredentialContext(n, "testnet", f"KEY{n:08d}") for n in range(SECRETS)]
    with stopwatch() as ours_encrypt:
        sealed = [vault.encrypt(s, c) for s, c in zip(secrets, contexts, strict=True)]
    with stopwatch() as ours_decrypt:
        for box, context in zip(sealed, contexts, strict=True):
            vault.decrypt(box.ciphertext, box.key_id, context)
    with stopwatch() as fernet_encrypt:
        tokens = [fernet.encrypt(s.get_secret_value().encode()) for s in secrets]
    with stopwatch() as fernet_decrypt:
        for token in tokens:
            fernet.decrypt(token)
    per = 1e6 / SECRETS
    return ours_encrypt() * per, ours_decrypt() * per, fernet_encrypt() * per, fernet_decrypt() * per


async def _fill(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
    async with async_session_scope(sessions) as session:
        user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
        await session.flush()
        for n in range(CREDENTIALS):
            context = CredentialContext(user.id, "testnet", f"BENCHKEY{n:06d}")
            box = vault.encrypt(SecretStr(uuid.uuid4().hex), context)
            session.add(
                BybitCredential(
                    user_id=user.id,
                    network="testnet",
                    api_key=context.api_key,
                    secret_ciphertext=box.ciphertext,
                    key_id=box.key_id,
                    read_only=True,
                    permissions={},
                )
            )


async def _row_at_a_time(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
    async with sessions() as session:
        ids = list((await session.scalars(select(BybitCredential.id).order_by(BybitCredential.id))).all())
    for credential_id in ids:
        async with async_session_scope(sessions) as session:
            row = await session.get(BybitCredential, credential_id, with_for_update=True)
            assert row is not None
            box = vault.reseal(row.secret_ciphertext, row.key_id, CredentialContext.of(row))
            row.secret_ciphertext, row.key_id = box.ciphertext, box.key_id


async def _rotation_seconds(url: str, batched: bool) -> float:
    settings = build_settings(environment="test", database_url_user=url)
    upgrade(USER_DB, settings, url=url)
    database = Database(USER_DB, settings, application_name="bench-vault")
    ring = _ring("old", "new")
    old_only = Vault(MasterKeyRing({"old": ring.keys["old"]}, "old"))
    try:
        await _fill(database.async_sessions(), old_only)
        vault = Vault(ring)
        started = time.perf_counter()
        if batched:
            report = await rotate_credentials(database.async_sessions(), vault, batch_size=BATCH)
            assert report.rotated == CREDENTIALS, report
        else:
            await _row_at_a_time(database.async_sessions(), vault)
        return time.perf_counter() - started
    finally:
        await database.dispose()


def run() -> list[Row]:
    ours_encrypt, ours_decrypt, fernet_encrypt, fernet_decrypt = crypto_costs()
    with scratch_database("bench_rotate_rows") as url:
        row_seconds = asyncio.run(_rotation_seconds(url, batched=False))
    with scratch_database("bench_rotate_batches") as url:
        batch_seconds = asyncio.run(_rotation_seconds(url, batched=True))
    fernet = "cryptography Fernet (AES-128-CBC + HMAC)"
    return [
        Row(
            "vault",
            "encrypt us per credential",
            ours_encrypt,
            "us",
            fernet,
            fernet_encrypt,
            "report",
            higher_is_better=False,
        ),
        Row(
            "vault",
            "decrypt us per credential",
            ours_decrypt,
            "us",
            fernet,
            fernet_decrypt,
            "report",
            higher_is_better=False,
        ),
        Row(
            "vault",
            "rotation rows/s",
            CREDENTIALS / batch_seconds,
            "rows/s",
            "one transaction per credential",
            CREDENTIALS / row_seconds,
            "report",
        ),
    ]
