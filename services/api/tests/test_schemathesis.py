"""A property-based run over the OpenAPI document against a real ``api-serve`` process.

Requests generated from the document (seeded, so a failure reproduces) go to every operation with
a real token of the scope each operation's security requirement names (the operator's on public
routes, where it is ignored): no answer is a server
error, every status answered is one the document lists for that operation, and every body matches
the documented schema and content type.
"""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_support.tokens import Tokens

from api_service.route_policy import required_scopes
from core_config import Settings
from db_core import Database
from db_user import USER_DB, halts_in_force, lift_halt

from .conftest import ServedApi, api_environment, served_apis

Case = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


@schemathesis.check
def no_internal_error(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case) -> None:
    """No 500. A documented 503 (a dependency down, as the stream is here) is an answer, not a bug:
    the status check below holds it to the document."""
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.formatted_path}: {response.text[:300]}")


CHECKS = [
    no_internal_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(api_settings: Settings) -> Iterator[ServedApi]:
    with served_apis(1, lambda port: api_environment(api_settings, port)) as (api,):
        yield api


def operations(base_url: str) -> list[tuple[Operation, bool, str]]:
    """Each operation, whether it takes any input (else no invalid request can be made), and the
    token scope it requires (``operator`` for a public one)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here, as it should
        spec = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        scopes = required_scopes(spec)
        takes_input = bool(spec.get("parameters") or spec.get("requestBody"))
        found.append((operation, takes_input, scopes[0] if scopes else "operator"))
    return found


def check_operation(
    operation: Operation, mode: GenerationMode, base_url: str, headers: dict[str, str]
) -> None:
    """Hypothesis over one operation's generated requests, seeded."""

    @given(case=operation.as_strategy(mode))
    @seed(20261201)
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    answers_as_documented()


def test_every_operation_answers_as_documented(served: ServedApi, tokens: Tokens) -> None:
    checked = []
    for operation, takes_input, scope in operations(served.base_url):
        headers = {"Authorization": f"Bearer {tokens.of_scope(scope)}"}
        modes = (
            [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if takes_input else [GenerationMode.POSITIVE]
        )
        for mode in modes:
            check_operation(operation, mode, served.base_url, headers)
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /v1/market/sync" in checked
    assert "PUT /v1/me/bybit-credentials" in checked
    assert "POST /v1/trading/halts" in checked


@pytest.fixture(autouse=True)
def no_halt_left(api_settings: Settings) -> Iterator[None]:
    """The run halts trading (for everyone, too): every halt in force is lifted after it, so that
    the tests that follow on this database trade."""
    yield
    asyncio.run(_lift_every_halt(api_settings))


async def _lift_every_halt(settings: Settings) -> None:
    database = Database(USER_DB, settings, application_name="tests")
    try:
        async with database.session() as session:
            for halt in await halts_in_force(session):
                await lift_halt(session, user_id=halt.user_id, by="tests")
    finally:
        await database.dispose()
