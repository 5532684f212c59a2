"""Bybit's API key permissions as ``/v5/user/query-api`` lists them: which ones let a key place
orders in a category, and which ones move funds (withdrawals, transfers, payments).

Source: ``docs/v5/user/apikey-info.mdx`` of bybit-exchange/docs (commit 072c197, 2026-07-24). A key's
``permissions`` is an object of groups, each a list of names, e.g.
``{"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]}``.
"""

from collections.abc import Mapping, Sequence

from bybit_client.enums import Category

# (group, name) pairs any one of which lets a key place and cancel orders of the category. Options
# covers options and USDC perpetuals (linear); Derivatives is the unified account's derivatives.
ORDER_PERMISSIONS: Mapping[Category, tuple[tuple[str, str], ...]] = {
    Category.LINEAR: (
        ("ContractTrade", "Order"),
        ("Derivatives", "DerivativesTrade"),
        ("Options", "OptionsTrade"),
    ),
    Category.INVERSE: (("ContractTrade", "Order"), ("Derivatives", "DerivativesTrade")),
    Category.SPOT: (("Spot", "SpotTrade"),),
    Category.OPTION: (("Options", "OptionsTrade"), ("Derivatives", "DerivativesTrade")),
}

# Groups whose every permission moves funds out of the account or between accounts: Wallet
# (AccountTransfer, SubMemberTransfer, SubMemberTransferList, Withdraw), P2P orders, Bybit Pay, fiat
# convert and the Bybit card. A name Bybit adds to one of these later moves funds too.
FUNDS_GROUPS: Mapping[str, str] = {
    "Wallet": "withdrawal and transfer",
    "FiatP2P": "P2P trading",
    "FiatBitPay": "Bybit Pay",
    "FiatConvertBroker": "fiat conversion",
    "BitCard": "Bybit card",
}


def funds_permissions(permissions: Mapping[str, Sequence[str]]) -> list[str]:
    """The permissions of ``permissions`` that move funds, as ``Group.Name`` (``Wallet.Withdraw``),
    in Bybit's order; empty for a key that cannot move funds."""
    return [
        f"{group}.{name}" for group, names in permissions.items() if group in FUNDS_GROUPS for name in names
    ]


def may_trade(permissions: Mapping[str, Sequence[str]], category: Category | None = None) -> bool:
    """Whether ``permissions`` let a key place orders in ``category`` (in any category when None).
    A read-only key cannot, whatever it lists: check ``readOnly`` as well."""
    categories = list(ORDER_PERMISSIONS) if category is None else [Category(category)]
    return any(
        name in permissions.get(group, ()) for each in categories for group, name in ORDER_PERMISSIONS[each]
    )
