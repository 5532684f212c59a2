"""Error reports to Sentry from a real ``api-serve`` and a real worker, caught by a local ingest.

Both processes hold canary secrets: a database URL with a password, the master key file (the
API), a user's bearer token and Bybit secret in flight. An unhandled error in each must reach
Sentry with the request id or task id, and no canary anywhere in what was sent.
"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from celery import Celery
from test_support.api_process import ApiProcess
from test_support.scratch import scratch_database
from test_support.telemetry import SentryIngest
from test_support.worker_process import WorkerProcess

from api_service.tokens import hash_token, new_token
from bybit_client.testing import FakeBybit
from core_config import Settings, libpq_url
from db_core import Database, upgrade
from db_user import USER_DB, add_api_token, create_user, generate_key_file

DB_PASSWORD = "canary-db-password-5e1f0b"
BYBIT_SECRET = "canary-bybit-secret-77d2a9c4"
BYBIT_KEY = "CANARYKEY8d31"


def with_password(url: str) -> str:
    """``url`` logging in with the canary password (the test server trusts any password)."""
    return url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


@pytest.fixture
def sentry() -> Iterator[SentryIngest]:
    with SentryIngest() as ingest:
        yield ingest


def assert_no_canary(sent: bytes, canaries: list[str]) -> None:
    assert sent, "nothing reached the ingest"
    for canary in canaries:
        assert canary.encode() not in sent, f"a secret reached Sentry: {canary[:6]}..."


async def _user_with_token(settings: Settings) -> str:
    database = Database(USER_DB, settings, application_name="test-sentry")
    token = new_token()
    try:
        async with database.session() as session:
            user = await create_user(session, "canary@example.com")
            await add_api_token(session, user_id=user.id, name="canary", token_hash=hash_token(token))
    finally:
        await database.dispose()
    return token


def test_an_unhandled_api_error_is_reported_with_its_request_id_and_no_secret(
    worker_settings: Settings, fake_bybit: FakeBybit, sentry: SentryIngest, tmp_path: Path
) -> None:
    key_file = tmp_path / "master.key"
    generate_key_file(key_file)
    master_keys = list(json.loads(key_file.read_text())["keys"].values())
    fake_bybit.add_key(BYBIT_KEY, BYBIT_SECRET)
    with scratch_database("sentry_user") as user_url:
        settings = worker_settings.model_copy(
            update={
                "render_master_key_path": key_file,
                "database_url_user": worker_settings.database_url_user,
            }
        )
        url = with_password(user_url)
        settings = Settings.model_validate(
            {**settings.model_dump(), "database_url_user": url, "render_master_key_path": key_file}
        )
        upgrade(USER_DB, settings, url=url)
        token = asyncio.run(_user_with_token(settings))
        # A table gone from under the API (a botched migration): the write fails, unhandled.
        with psycopg.connect(libpq_url(user_url), autocommit=True) as connection:
            connection.execute("DROP TABLE bybit_credentials CASCADE")  # orders' key is dropped with it
        api = ApiProcess(settings, {"SENTRY_DSN": sentry.dsn}, tmp_path)
        try:
            api.wait_ready()
            answer = httpx.put(
                f"{api.base_url}/v1/me/bybit-credentials",
                json={"api_key": BYBIT_KEY, "api_secret": BYBIT_SECRET},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "sentry-canary-1"},
                timeout=30,
            )
            assert answer.status_code == 500, answer.text
            assert answer.json()["error"]["request_id"] == "sentry-canary-1"
            events = sentry.wait_for_events()
        finally:
            api.stop()
    assert {event["tags"]["request_id"] for event in events} == {"sentry-canary-1"}
    reported = [value["type"] for event in events for value in event["exception"]["values"]]
    assert "ProgrammingError" in reported
    assert b"[Filtered]" in sentry.raw()  # the statement's parameters and the bearer token were there
    assert_no_canary(sentry.raw(), [DB_PASSWORD, BYBIT_SECRET, token, *master_keys, key_file.read_text()])


def test_a_failed_task_is_reported_with_its_task_id_and_no_secret(
    worker_settings: Settings, celery_client: Celery, sentry: SentryIngest
) -> None:
    url = with_password(worker_settings.database_url_general.get_secret_value())
    settings = Settings.model_validate({**worker_settings.model_dump(), "database_url_general": url})
    settings = settings.model_copy(update={"celery_queue": f"{worker_settings.celery_queue}-sentry"})
    with WorkerProcess(settings, extra_env={"SENTRY_DSN": sentry.dsn}) as worker:
        result = celery_client.send_task(
            "sync.klines",
            kwargs={"category": "linear", "symbol": "BTCUSDT", "interval": "7"},
            queue=settings.celery_queue,
        )
        with pytest.raises(Exception, match="unknown interval"):
            result.get(timeout=60)
        events = sentry.wait_for_events()
        output = worker.output()
    assert {event["tags"]["task_id"] for event in events} == {result.id}, output
    assert_no_canary(sentry.raw(), [DB_PASSWORD, url])
