"""API tokens for tests that call a real api: a new user with a token of each scope, committed."""

import uuid
from dataclasses import dataclass

from api_service.tokens import hash_token, new_token
from core_config import Settings
from db_core import Database
from db_user import USER_DB, TokenScope, add_api_token, create_user
from test_support.canary import watch


@dataclass(frozen=True)
class Tokens:
    """A committed user with a user-scope token and an operator-scope token."""

    user_id: int
    user: str
    operator: str

    @property
    def user_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user}"}

    @property
    def operator_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator}"}

    def of_scope(self, scope: str) -> str:
        """The token of ``scope`` (``user`` or ``operator``, as a route's security requirement names it)."""
        return {TokenScope.USER: self.user, TokenScope.OPERATOR: self.operator}[TokenScope(scope)]


async def issue_tokens(settings: Settings) -> Tokens:
    """Create a user with one token of each scope, committed (for servers and committing clients)."""
    database = Database(USER_DB, settings, application_name="tests")
    user_token, operator_token = new_token(), new_token()
    watch(user_token, operator_token)  # never in a log line (test_support.canary)
    try:
        async with database.session() as session:
            user = await create_user(session, f"tests-{uuid.uuid4().hex[:8]}@example.com")
            for token, scope in ((user_token, TokenScope.USER), (operator_token, TokenScope.OPERATOR)):
                await add_api_token(
                    session, user_id=user.id, name=f"tests {scope}", token_hash=hash_token(token), scope=scope
                )
    finally:
        await database.dispose()
    return Tokens(user.id, user_token, operator_token)
