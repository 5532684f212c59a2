"""A user's own tokens: listed without the tokens themselves, revoked by their user (another's is a
404), and the private headers on every ``/v1/me`` answer, errors included."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api_service.tokens import hash_token

from .conftest import SignedIn, sign_in

PRIVATE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


def private(response: httpx.Response) -> bool:
    return all(response.headers.get(name) == value for name, value in PRIVATE.items())


async def test_a_user_lists_their_own_tokens_and_no_one_elses(
    signed_in: SignedIn, user_session: AsyncSession
) -> None:
    other = await sign_in(signed_in.client, user_session)
    listed = await signed_in.client.get("/v1/me/tokens", headers=signed_in.auth)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [signed_in.token_id]
    assert set(listed.json()["items"][0]) == {
        "id", "name", "scope", "created_at", "expires_at", "last_used_at", "revoked_at",
    }  # fmt: skip
    assert signed_in.token not in listed.text
    assert hash_token(signed_in.token) not in listed.text
    assert other.token_id not in [item["id"] for item in listed.json()["items"]]


async def test_a_user_revokes_their_own_token_and_not_another_ones(
    signed_in: SignedIn, user_session: AsyncSession
) -> None:
    other = await sign_in(signed_in.client, user_session)
    client = signed_in.client
    assert (await client.delete(f"/v1/me/tokens/{other.token_id}", headers=signed_in.auth)).status_code == 404
    assert (await client.get("/v1/me/tokens", headers=other.auth)).status_code == 200  # still works
    own = await client.delete(f"/v1/me/tokens/{signed_in.token_id}", headers=signed_in.auth)
    assert own.status_code == 204
    # Revoked: refused from the next request on, and a second revoke finds nothing.
    assert (await client.get("/v1/me/tokens", headers=signed_in.auth)).status_code == 401
    again = await client.delete(f"/v1/me/tokens/{signed_in.token_id}", headers=other.auth)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "token_not_found"


async def test_every_me_answer_is_private(signed_in: SignedIn) -> None:
    client = signed_in.client
    answers = [
        await client.get("/v1/me/tokens", headers=signed_in.auth),
        await client.get("/v1/me/bybit-credentials", headers=signed_in.auth),
        await client.get("/v1/me/bybit-credentials"),  # a 401 too
        await client.delete("/v1/me/tokens/0", headers=signed_in.auth),  # a 422 too
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 422]
    assert all(private(answer) for answer in answers)
    # Public answers are left to caches as before.
    assert not private(await client.get("/v1/meta"))
