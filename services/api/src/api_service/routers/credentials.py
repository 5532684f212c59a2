"""A user's Bybit API keys: checked with Bybit, stored encrypted (never one that can move funds),
listed masked with whether they are fit for orders, used for balances."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from api_service.audit import Action, audit
from api_service.bybit_access import api_error_for, bybit_client_for
from api_service.dependencies import CurrentUser, ResourcesDep, SettingsDep, UserSession, client_of
from api_service.errors import ApiError, error_responses
from api_service.route_policy import RateLimitGroup, limited
from api_service.schemas import MAX_ID, DecimalString, SecretText, Text, UtcDateTime
from bybit_client import BybitError, Network
from db_user import (
    BybitCredential,
    CredentialContext,
    VaultError,
    delete_bybit_credential,
    funds_refusal,
    get_bybit_credential,
    list_bybit_credentials,
    save_bybit_credential,
    trading_refusal,
)

router = APIRouter(prefix="/v1/me", tags=["account"])


class CredentialIn(BaseModel):
    api_key: str = Field(min_length=6, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    api_secret: SecretText = Field(min_length=6, max_length=128)
    label: Text | None = Field(None, max_length=100)
    network: Network | None = Field(None, description="defaults to the configured network")


class Credential(BaseModel):
    """A stored key as the API shows it: the key masked, the secret never."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    network: Network
    api_key: str
    label: str | None
    permissions: dict[str, Any]
    read_only: bool
    expires_at: UtcDateTime | None = Field(description="when Bybit stops accepting the key (null: never)")
    ips: list[str] = Field(
        description='the addresses Bybit accepts the key from; ["*"]: any (empty: not known, stored '
        "before the service recorded it)"
    )
    created_at: UtcDateTime
    validated_at: UtcDateTime | None
    unfit_reason: str | None = Field(description="why the key may not be used for orders (null: it may)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fit_for_trading(self) -> bool:
        """Whether orders may be placed with the key (else ``unfit_reason`` says why)."""
        return self.unfit_reason is None

    @field_serializer("api_key")
    def _mask(self, api_key: str) -> str:
        return f"{api_key[:4]}…{api_key[-4:]}" if len(api_key) > 10 else f"{api_key[:2]}…"

    @classmethod
    def of(cls, row: BybitCredential) -> "Credential":
        return cls.model_validate({**_columns(row), "unfit_reason": trading_refusal(row)})


def _columns(row: BybitCredential) -> dict[str, Any]:
    return {name: getattr(row, name) for name in Credential.model_fields if name != "unfit_reason"}


class CredentialList(BaseModel):
    items: list[Credential]


class Coin(BaseModel):
    coin: str
    equity: DecimalString | None
    wallet_balance: DecimalString | None
    usd_value: DecimalString | None
    locked: DecimalString | None
    available_to_withdraw: DecimalString | None


class WalletBalance(BaseModel):
    credential_id: int
    network: Network
    account_type: str
    total_equity: DecimalString | None
    total_wallet_balance: DecimalString | None
    total_available_balance: DecimalString | None
    coins: list[Coin]


CredentialId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.put(
    "/bybit-credentials",
    summary="Check a Bybit API key with Bybit, then store it encrypted",
    description=(
        "A key that can move funds (Bybit's Wallet permissions: AccountTransfer, SubMemberTransfer, "
        "SubMemberTransferList, Withdraw; P2P, Bybit Pay, fiat convert, card) is refused with 422 "
        "`key_moves_funds` naming the permission, and nothing is stored. A read-only or expired key is "
        "stored (balances) and shown with `fit_for_trading: false` and why."
    ),
    responses=error_responses(401, 403, 422, 502, 503),
    openapi_extra=limited(RateLimitGroup.CREDENTIAL_WRITES),  # each a signed call to Bybit
)
async def put_credential(
    body: CredentialIn,
    user: CurrentUser,
    session: UserSession,
    resources: ResourcesDep,
    settings: SettingsDep,
    request: Request,
) -> Credential:
    network = body.network or settings.bybit_network
    try:
        async with bybit_client_for(
            settings, network, body.api_key, body.api_secret, resources.bybit_budget
        ) as bybit:
            info = await bybit.api_key_info()
    except BybitError as exc:
        raise api_error_for(exc, network) from None
    refusal = funds_refusal(info.permissions)
    if refusal is not None:
        raise ApiError(422, "key_moves_funds", refusal)
    sealed = resources.vault.encrypt(body.api_secret, CredentialContext(user.id, network.value, body.api_key))
    stored = await save_bybit_credential(
        session,
        user_id=user.id,
        network=network.value,
        api_key=body.api_key,
        secret_ciphertext=sealed.ciphertext,
        key_id=sealed.key_id,
        label=body.label,
        permissions=info.permissions,
        read_only=info.read_only,
        expires_at=info.expires_at,
        ips=info.ips,
        validated_at=datetime.now(UTC),
    )
    audit(
        Action.CREDENTIAL_STORED,
        user_id=user.id,
        credential_id=stored.id,
        network=network.value,
        client=client_of(request),
    )
    return Credential.of(stored)


@router.get(
    "/bybit-credentials",
    summary="The stored keys, masked, each with whether it is fit for orders, its IP binding and expiry",
    responses=error_responses(401, 403, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def list_credentials(user: CurrentUser, session: UserSession) -> CredentialList:
    rows = await list_bybit_credentials(session, user.id)
    return CredentialList(items=[Credential.of(row) for row in rows])


@router.delete(
    "/bybit-credentials/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget a stored key",
    responses=error_responses(401, 403, 404, 422, 503),
    openapi_extra=limited(RateLimitGroup.CREDENTIAL_WRITES),
)
async def delete_credential(
    credential_id: CredentialId, user: CurrentUser, session: UserSession, request: Request
) -> Response:
    if not await delete_bybit_credential(session, user.id, credential_id):
        raise ApiError(404, "credential_not_found", f"you have no stored credential {credential_id}")
    audit(Action.CREDENTIAL_DELETED, user_id=user.id, credential_id=credential_id, client=client_of(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _credential_for(
    session: UserSession, user_id: int, credential_id: int | None, network: Network
) -> BybitCredential:
    if credential_id is not None:
        found = await get_bybit_credential(session, user_id, credential_id)
        if found is None:
            raise ApiError(404, "credential_not_found", f"you have no stored credential {credential_id}")
        return found
    on_network = [row for row in await list_bybit_credentials(session, user_id) if row.network == network]
    if not on_network:
        message = f"no Bybit key stored for {network.value}; PUT /v1/me/bybit-credentials first"
        raise ApiError(404, "credential_not_found", message)
    return on_network[-1]


@router.get(
    "/wallet-balance",
    summary="The unified account's balance, read from Bybit with a stored key",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
    openapi_extra=limited(RateLimitGroup.ACCOUNT),
)
async def wallet_balance(
    user: CurrentUser,
    session: UserSession,
    resources: ResourcesDep,
    settings: SettingsDep,
    request: Request,
    credential_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="default: the newest key of the network")
    ] = None,
    coin: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{1,20}(,[A-Z0-9]{1,20})*$")] = None,
) -> WalletBalance:
    credential = await _credential_for(session, user.id, credential_id, settings.bybit_network)
    network = Network(credential.network)
    audit(
        Action.SECRET_DECRYPTED,
        user_id=user.id,
        credential_id=credential.id,
        purpose="wallet balance",
        client=client_of(request),
    )
    try:
        secret = resources.vault.decrypt(
            credential.secret_ciphertext, credential.key_id, CredentialContext.of(credential)
        )
    except VaultError as exc:
        raise ApiError(409, "credential_unreadable", f"{exc}; store the key again") from None
    # Give the database connection back before waiting on Bybit (seconds, at worst): a slow Bybit
    # must not hold the pool's connections.
    await session.commit()
    try:
        async with bybit_client_for(
            settings, network, credential.api_key, secret, resources.bybit_budget
        ) as bybit:
            balance = await bybit.wallet_balance(coin)
    except BybitError as exc:
        raise api_error_for(exc, network) from None
    # Bybit's balance, field by field under the same names, and the key it was read with.
    return WalletBalance.model_validate(
        {**dict(balance), "credential_id": credential.id, "network": network}, from_attributes=True
    )
