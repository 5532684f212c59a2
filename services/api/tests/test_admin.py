"""``api-admin`` run for real: users, tokens, the master key file, and a rotation killed midway."""

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select
from sqlalchemy.orm import Session

from api_service.tokens import hash_token, is_well_formed
from core_config import Settings
from db_user import ApiToken, BybitCredential, CredentialContext, User, Vault, load_master_keys

from .conftest import SealCredential

API_ADMIN = Path(sys.executable).with_name("api-admin")


def admin(settings: Settings, *args: str, key_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL_USER": settings.database_url_user.get_secret_value(),
        "DATABASE_URL_GENERAL": settings.database_url_general.get_secret_value(),
        "RENDER_MASTER_KEY_PATH": str(key_file or settings.render_master_key_path),
    }
    return subprocess.run(
        [str(API_ADMIN), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def db(api_settings: Settings) -> Iterator[Session]:
    engine = create_engine(api_settings.database_url_user.get_secret_value())
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.mark.timeout(300)  # a dozen api-admin processes, each a full start, on a busy machine
def test_users_and_tokens_lifecycle(api_settings: Settings, db: Session) -> None:
    email = f"ops-{uuid.uuid4().hex[:8]}@Example.com"
    created = admin(api_settings, "users", "create", "--email", email)
    assert created.returncode == 0, created.stderr
    # Which database it wrote to, said first: host, port and name, never a password.
    where = make_url(api_settings.database_url_user.get_secret_value())
    assert created.stderr.splitlines()[0] == (
        f"api-admin: user database {where.host}:{where.port}/{where.database}"
    )
    again = admin(api_settings, "users", "create", "--email", email.lower())
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == f"api-admin: a user with email {email.lower()} exists already"

    issued = admin(api_settings, "tokens", "issue", "--email", email, "--name", "laptop")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert issued.stdout == f"{token}\n"  # the token alone, once
    assert token.startswith("bbt_")
    assert is_well_formed(token)
    stored = db.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
    assert stored.name == "laptop"
    # The defaults: user scope, and an expiry TOKEN_LIFETIME_DAYS (90) days out.
    assert stored.scope == "user"
    assert stored.expires_at is not None
    assert timedelta(days=89, hours=23) < stored.expires_at - stored.created_at <= timedelta(days=90)
    assert token not in str(db.scalars(select(ApiToken.token_hash)).all())  # only the hash is kept
    # The issue is on record, the token named by its id, never by itself.
    issue_line = next(line for line in issued.stderr.splitlines() if "operator.command" in line)
    assert f"token_id={stored.id}" in issue_line
    assert "command='tokens issue'" in issue_line
    assert token not in issued.stderr
    assert token.removeprefix("bbt_") not in issued.stderr
    forever = admin(
        api_settings, "tokens", "issue", "--email", email, "--name", "ci", "--expires-in", "never"
    )
    assert forever.returncode == 0, forever.stderr
    stored_forever = db.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(forever.stdout.strip()))
    ).one()
    assert stored_forever.expires_at is None

    operator = admin(
        api_settings, "tokens", "issue", "--email", email, "--name", "ops", "--scope", "operator",
        "--expires-in", "90d",
    )  # fmt: skip
    assert operator.returncode == 0, operator.stderr
    stored_operator = db.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(operator.stdout.strip()))
    ).one()
    assert stored_operator.scope == "operator"
    assert stored_operator.expires_at is not None
    lifetime = stored_operator.expires_at - stored_operator.created_at
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)
    bad = admin(api_settings, "tokens", "issue", "--email", email, "--name", "x", "--expires-in", "soon")
    assert bad.returncode == 2
    assert "not a duration" in bad.stderr

    listed = admin(api_settings, "tokens", "list", "--email", email)
    assert f"{stored.id}\tlaptop\tuser\tactive until " in listed.stdout
    assert f"{stored_operator.id}\tops\toperator\tactive until " in listed.stdout
    assert token not in listed.stdout
    revoked = admin(api_settings, "tokens", "revoke", "--email", email, "--id", str(stored.id))
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in admin(api_settings, "tokens", "list", "--email", email).stdout
    twice = admin(api_settings, "tokens", "revoke", "--email", email, "--id", str(stored.id))
    assert twice.returncode == 1

    nobody = admin(api_settings, "tokens", "issue", "--email", "nobody@example.com", "--name", "x")
    assert nobody.returncode == 1
    assert "no user with email nobody@example.com" in nobody.stderr

    disabled = admin(api_settings, "users", "disable", "--email", email)
    assert disabled.returncode == 0, disabled.stderr
    db.expire_all()
    assert db.scalars(select(User).where(User.id == stored.user_id)).one().disabled_at is not None
    assert admin(api_settings, "users", "disable", "--email", email).returncode == 1


def test_master_key_generate_and_add(api_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    generated = admin(api_settings, "master-key", "generate", "--path", str(path))
    assert generated.returncode == 0, generated.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    first = load_master_keys(path, strict_permissions=True)
    assert admin(api_settings, "master-key", "generate", "--path", str(path)).returncode == 2
    added = admin(api_settings, "master-key", "add", "--path", str(path))
    assert added.returncode == 0, added.stderr
    second = load_master_keys(path, strict_permissions=True)
    assert second.primary_id != first.primary_id
    assert set(second.keys) == {first.primary_id, second.primary_id}
    assert path.stat().st_mode & 0o777 == 0o600
    for material in (k.material for k in second.keys.values()):
        assert material.hex() not in generated.stdout + added.stdout


@pytest.mark.timeout(300)  # several api-admin processes, each a full start, on a busy machine
def test_master_key_remove_refuses_the_primary_and_keys_in_use(
    api_settings: Settings, db: Session, tmp_path: Path, seal_credential: SealCredential
) -> None:
    key_file = tmp_path / "master.key"
    assert admin(api_settings, "master-key", "generate", "--path", str(key_file)).returncode == 0
    old = load_master_keys(key_file, strict_permissions=True)
    assert admin(api_settings, "master-key", "add", "--path", str(key_file)).returncode == 0
    new_primary = load_master_keys(key_file, strict_permissions=True).primary_id

    def remove(key_id: str) -> subprocess.CompletedProcess[str]:
        return admin(api_settings, "master-key", "remove", "--path", str(key_file), "--id", key_id)

    primary = remove(new_primary)
    assert primary.returncode != 0
    assert primary.stderr.strip().splitlines() == [
        f"api-admin: {new_primary} is the primary key of {key_file}; add a new primary key first"
    ]
    unknown = remove("no-such-key")
    assert unknown.returncode != 0
    assert len(unknown.stderr.strip().splitlines()) == 1

    user = User(email=f"remove-{uuid.uuid4().hex[:8]}@example.com")
    db.add(user)
    db.flush()
    # Sealed under the old key, now a secondary one.
    db.add(seal_credential(Vault(old), user.id, "REMOVEKEY", "old-secret"))
    db.commit()
    try:
        in_use = remove(old.primary_id)
        assert in_use.returncode != 0
        assert in_use.stderr.strip().splitlines()[-1] == (
            f"api-admin: credentials still use key {old.primary_id}; run 'api-admin vault rotate' first"
        )
        assert set(load_master_keys(key_file, strict_permissions=True).keys) == {old.primary_id, new_primary}
    finally:
        db.delete(db.get(User, user.id))
        db.commit()

    removed = remove(old.primary_id)  # its last credential is gone
    assert removed.returncode == 0, removed.stderr
    after = load_master_keys(key_file, strict_permissions=True)
    assert (after.primary_id, set(after.keys)) == (new_primary, {new_primary})
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert old.primary.material.hex() not in removed.stdout + removed.stderr


def test_rotation_killed_midway_then_rerun(
    api_settings: Settings, db: Session, tmp_path: Path, seal_credential: SealCredential
) -> None:
    key_file = tmp_path / "master.key"
    assert admin(api_settings, "master-key", "generate", "--path", str(key_file)).returncode == 0
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    user = User(email=f"rotate-{uuid.uuid4().hex[:8]}@example.com")
    db.add(user)
    db.flush()
    secrets = {}
    for n in range(600):
        api_key = f"ROTATEKEY{n:04d}"
        secrets[api_key] = f"secret-{n}-{uuid.uuid4().hex}"
        db.add(seal_credential(vault, user.id, api_key, secrets[api_key]))
    db.commit()
    assert admin(api_settings, "master-key", "add", "--path", str(key_file)).returncode == 0
    new_key = load_master_keys(key_file, strict_permissions=True).primary_id

    def mine() -> list[BybitCredential]:
        db.expire_all()
        return list(db.scalars(select(BybitCredential).where(BybitCredential.user_id == user.id)))

    env_command = [str(API_ADMIN), "vault", "rotate", "--batch-size", "5"]
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL_USER": api_settings.database_url_user.get_secret_value(),
        "DATABASE_URL_GENERAL": api_settings.database_url_general.get_secret_value(),
        "RENDER_MASTER_KEY_PATH": str(key_file),
    }
    process = subprocess.Popen(env_command, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("batch 1:")  # it is under way: kill it now
    process.send_signal(signal.SIGKILL)
    process.wait()
    halfway = sum(row.key_id == new_key for row in mine())
    assert 0 < halfway < 600

    rerun = admin(api_settings, "vault", "rotate", "--batch-size", "50", key_file=key_file)
    assert rerun.returncode == 0, rerun.stderr
    assert f"rotated {600 - halfway}, failed 0" in rerun.stdout
    rows = mine()
    assert len(rows) == 600
    assert {row.key_id for row in rows} == {new_key}
    document = json.loads(key_file.read_text())
    document["keys"] = {new_key: document["keys"][new_key]}  # the old key leaves the file
    key_file.write_text(json.dumps(document))
    new_only = Vault(load_master_keys(key_file, strict_permissions=True))
    for row in rows:
        plain = new_only.decrypt(row.secret_ciphertext, row.key_id, CredentialContext.of(row))
        assert plain.get_secret_value() == secrets[row.api_key]
    db.delete(db.get(User, user.id))
    db.commit()
