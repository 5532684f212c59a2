"""Bybit networks and their REST and WebSocket hosts: the one table of Bybit URLs in the tree."""

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

# Public market streams (``/v5/public/{category}``); demo trading reads mainnet's market data.
BYBIT_STREAM_URLS: dict[BybitNetwork, str] = {
    BybitNetwork.MAINNET: "wss://stream.bybit.com",
    BybitNetwork.TESTNET: "wss://stream-testnet.bybit.com",
    BybitNetwork.DEMO: "wss://stream.bybit.com",
}
