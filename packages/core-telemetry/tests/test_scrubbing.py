"""What an error report may carry: the process's secrets, URL passwords, bearer tokens and statement
parameters are masked wherever they appear in the event."""

from core_config import build_settings
from core_telemetry.errors import FILTERED, Scrubber, secret_values


def test_the_secrets_of_the_settings_and_the_passwords_inside_their_urls_are_known() -> None:
    settings = build_settings(
        database_url_user="postgresql://app:s3cret%2Fpw@db.internal:5432/users",
        redis_url="redis://:redis-pass-123@cache.internal:6379/0",
        sentry_dsn="https://abc123@o1.ingest.example/42",
    )
    values = secret_values(settings)
    assert {"s3cret%2Fpw", "s3cret/pw", "redis-pass-123"} <= set(values)
    assert settings.database_url_user.get_secret_value() in values
    assert all(isinstance(value, str) for value in values)


def test_every_string_of_an_event_is_scrubbed() -> None:
    scrubber = Scrubber(["master-key-material-XYZ", "short"])
    event = {
        "message": "could not use master-key-material-XYZ",
        "exception": {
            "values": [
                {
                    "value": (
                        "(psycopg.errors.UndefinedTable) relation does not exist\n"
                        "[SQL: INSERT INTO t (api_key) VALUES (%(api_key)s)]\n"
                        "[parameters: {'api_key': 'USERKEY123'}]\n(Background on this error at: ...)"
                    )
                }
            ]
        },
        "breadcrumbs": [{"message": "GET redis://user:hunter2@cache:6379/0 with Bearer tok_abcdef123"}],
        "count": 3,
    }
    scrubbed = scrubber.walk(event)
    text = repr(scrubbed)
    for secret in ("master-key-material-XYZ", "USERKEY123", "hunter2", "tok_abcdef123"):
        assert secret not in text
    assert (
        scrubbed["breadcrumbs"][0]["message"]
        == f"GET redis://user:{FILTERED}@cache:6379/0 with Bearer {FILTERED}"
    )
    assert "relation does not exist" in text  # what went wrong still shows
    assert "short" not in scrubber._secrets  # too short to replace safely: it would mask words
    assert scrubbed["count"] == 3
