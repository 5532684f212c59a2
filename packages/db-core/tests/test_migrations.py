"""The Alembic runner against real PostgreSQL: full cycles, drift, isolation, wrong-database refusal."""

import dataclasses

import psycopg
import pytest

from core_config import Settings, build_settings
from db_core import (
    DatabaseSpec,
    MigrationDriftError,
    WrongDatabaseError,
    check,
    current_status,
    database_spec,
    downgrade,
    head_revisions,
    registered_databases,
    upgrade,
)

NAMES = ["user", "general"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return build_settings(environment="test")


def tables(url: str) -> set[str]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def own_tables(spec: DatabaseSpec) -> set[str]:
    return {spec.version_table, *spec.metadata.tables}


def test_both_databases_are_registered() -> None:
    assert set(registered_databases()) == {"user", "general"}
    assert database_spec("user").version_table == "alembic_version_user"
    assert database_spec("general").version_table == "alembic_version_general"


@pytest.mark.parametrize("name", NAMES)
def test_the_specs_head_revision_is_the_head_of_its_scripts(name: str) -> None:
    # Readiness compares the stored revision with head_revision without loading Alembic.
    spec = database_spec(name)
    assert head_revisions(spec) == (spec.head_revision,)


def test_check_refuses_a_head_revision_behind_the_scripts(settings: Settings) -> None:
    spec = dataclasses.replace(database_spec("user"), head_revision="0001")
    with pytest.raises(MigrationDriftError, match=r"head_revision=.0001. .*head is 0003"):
        check(spec, settings)


def test_a_database_not_yet_migrated_has_no_revision(empty_database_url: str, settings: Settings) -> None:
    status = current_status(database_spec("general"), settings, url=empty_database_url)
    assert status.reachable
    assert status.current == ()
    assert not status.at_head


@pytest.mark.parametrize("name", NAMES)
def test_upgrade_downgrade_upgrade(name: str, empty_database_url: str, settings: Settings) -> None:
    spec = database_spec(name)
    upgrade(spec, settings, url=empty_database_url)
    assert tables(empty_database_url) == own_tables(spec)
    assert current_status(spec, settings, url=empty_database_url).at_head

    downgrade(spec, settings, "base", url=empty_database_url)
    assert tables(empty_database_url) == {spec.version_table}
    assert current_status(spec, settings, url=empty_database_url).current == ()

    upgrade(spec, settings, url=empty_database_url)
    status = current_status(spec, settings, url=empty_database_url)
    assert status.at_head
    assert status.current == head_revisions(spec)


@pytest.mark.parametrize("name", NAMES)
def test_no_drift_between_models_and_migrations(
    name: str, request: pytest.FixtureRequest, settings: Settings
) -> None:
    url = request.getfixturevalue(f"{name}_database_url")
    check(database_spec(name), settings, url=url)  # raises MigrationDriftError on any difference


@pytest.mark.parametrize("name", NAMES)
def test_each_database_holds_only_its_own_tables(
    name: str, request: pytest.FixtureRequest, settings: Settings
) -> None:
    url = request.getfixturevalue(f"{name}_database_url")
    spec = database_spec(name)
    assert tables(url) == own_tables(spec)
    other = next(s for s in registered_databases().values() if s.name != name)
    assert not tables(url) & own_tables(other)


@pytest.mark.parametrize(("name", "other"), [("user", "general"), ("general", "user")])
def test_migrating_the_wrong_database_is_refused_and_applies_nothing(
    name: str, other: str, empty_database_url: str, settings: Settings
) -> None:
    upgrade(database_spec(other), settings, url=empty_database_url)
    before = tables(empty_database_url)

    with pytest.raises(WrongDatabaseError) as caught:
        upgrade(database_spec(name), settings, url=empty_database_url)

    message = str(caught.value)
    assert f"the {name} database's migrations" in message
    assert f"the {other} database's tables" in message
    assert database_spec(name).url_variable in message
    assert tables(empty_database_url) == before  # not even the version table was created


def test_a_changed_model_is_reported_as_drift(empty_database_url: str, settings: Settings) -> None:
    spec = database_spec("general")
    upgrade(spec, settings, url=empty_database_url)
    with psycopg.connect(empty_database_url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute("ALTER TABLE klines ADD COLUMN stray integer")
    with pytest.raises(MigrationDriftError, match="general"):
        check(spec, settings, url=empty_database_url)
