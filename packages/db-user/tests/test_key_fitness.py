"""Which keys may be stored (none that moves funds) and which stored keys may place orders."""

from datetime import UTC, datetime, timedelta

import pytest

from db_user import BybitCredential, funds_refusal, trading_refusal

TRADER = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": []}


def credential(
    permissions: dict[str, list[str]], *, read_only: bool = False, expires_at: datetime | None = None
) -> BybitCredential:
    return BybitCredential(
        user_id=1,
        network="testnet",
        api_key="K",
        permissions=permissions,
        read_only=read_only,
        expires_at=expires_at,
    )


@pytest.mark.parametrize(
    "name", ["Withdraw", "AccountTransfer", "SubMemberTransfer", "SubMemberTransferList"]
)
def test_every_wallet_permission_is_refused_by_name(name: str) -> None:
    permissions = {**TRADER, "Wallet": [name]}
    refusal = funds_refusal(permissions)
    assert refusal is not None
    assert f"Wallet.{name}" in refusal
    # A stored one (kept from before) is flagged for orders too, with the same reason.
    assert trading_refusal(credential(permissions)) == refusal


def test_payment_groups_move_funds_too() -> None:
    assert "FiatBitPay.FaitPayOrder" in (funds_refusal({**TRADER, "FiatBitPay": ["FaitPayOrder"]}) or "")
    assert funds_refusal({**TRADER, "Exchange": ["ExchangeHistory"], "Earn": []}) is None


def test_a_trading_key_is_fit_for_its_categories_only() -> None:
    fit = credential(TRADER)
    assert trading_refusal(fit) is None
    assert trading_refusal(fit, category="linear") is None
    assert trading_refusal(fit, category="spot") is None
    refusal = trading_refusal(fit, category="option")
    assert refusal is not None
    assert "option" in refusal
    spot_only = credential({"Spot": ["SpotTrade"]})
    assert "linear" in (trading_refusal(spot_only, category="linear") or "")
    assert "no trade permission" in (trading_refusal(credential({"Wallet": [], "Exchange": []})) or "")


def test_read_only_and_expired_keys_are_unfit() -> None:
    assert "read-only" in (trading_refusal(credential(TRADER, read_only=True)) or "")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    expired = credential(TRADER, expires_at=now - timedelta(seconds=1))
    assert "expired" in (trading_refusal(expired, now=now) or "")
    assert trading_refusal(credential(TRADER, expires_at=now + timedelta(days=1)), now=now) is None
