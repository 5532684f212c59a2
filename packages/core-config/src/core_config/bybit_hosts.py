"""Bybit networks and their REST hosts: the one table of Bybit URLs in the tree."""

from enum import StrEnum


class BybitNetwork(StrEnum):
    """A Bybit network. An API key works only on the network it was created for."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"


BYBIT_API_URLS: dict[BybitNetwork, str] = {
    BybitNetwork.MAINNET: "https://api.bybit.com",
    BybitNetwork.TESTNET: "https://api-testnet.bybit.com",
    BybitNetwork.DEMO: "https://api-demo.bybit.com",
}
