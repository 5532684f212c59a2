"""A user's own API tokens: listed (never the token itself, only its id, name and dates) and revoked.

Tokens are issued by an operator (``api-admin tokens issue``); a user who suspects one leaked
revokes it here without waiting for anyone. Another user's token is a 404, as one that never was.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict

from api_service.audit import Action, audit
from api_service.dependencies import CurrentUser, UserSession, client_of
from api_service.errors import ApiError, error_responses
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import MAX_ID, UtcDateTime
from db_user import list_api_tokens, revoke_api_token

router = APIRouter(prefix="/v1/me", tags=["account"])


class Token(BaseModel):
    """A token as its user sees it: what it is called and when it was made, used, ends."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scope: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class TokenList(BaseModel):
    items: list[Token]


TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get(
    "/tokens",
    summary="Your API tokens, revoked and expired ones included (never the tokens themselves)",
    responses=error_responses(401, 403, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def list_tokens(user: CurrentUser, session: UserSession) -> TokenList:
    return TokenList(items=[Token.model_validate(row) for row in await list_api_tokens(session, user.id)])


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of your tokens: it is refused from now on (the one you call with too)",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def revoke_token(
    token_id: TokenId, user: CurrentUser, session: UserSession, request: Request
) -> Response:
    if not await revoke_api_token(session, token_id, user_id=user.id):
        raise ApiError(404, "token_not_found", f"you have no active token {token_id}")
    audit(Action.TOKEN_REVOKED, user_id=user.id, token_id=token_id, by="its user", client=client_of(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
