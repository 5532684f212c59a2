"""Run the fake Bybit V5 server outside pytest (benchmarks, manual tries).

``python -m bybit_client.testing [--port P] [--ws-port P] [--delay S] [--rate-limit N] [--seed N]
[--uid-limit-scale X] [--market-tick S] [--key KEY:SECRET ...]`` prints
the REST base URL on its first line and the WebSocket base URL on its second, then serves until
interrupted.
"""

import argparse
import asyncio
import sys

from bybit_client.enums import Network
from bybit_client.testing.app import FakeBybitApp
from bybit_client.testing.exchange import FakeExchange
from bybit_client.testing.server import bind_socket, make_server, serve
from bybit_client.testing.streams import FakeStreams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bybit_client.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--kline-tick", type=float, default=1.0, help="seconds between kline pushes")
    parser.add_argument(
        "--burst-on-subscribe", type=int, default=0, help="pushes sent at once after each public subscribe"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--rate-limit", type=int, default=50, help="the limit signed answers announce (X-Bapi-Limit)"
    )
    parser.add_argument("--network", type=Network, choices=list(Network), default=Network.MAINNET)
    parser.add_argument("--key", action="append", default=[], help="KEY:SECRET of an accepted API key")
    parser.add_argument("--seed", type=int, default=0, help="seed of every id, fill and fault draw")
    parser.add_argument(
        "--uid-limit-scale",
        type=float,
        default=1.0,
        help="multiplies Bybit's per-account limits (0: none; a benchmark raises them out of its way)",
    )
    parser.add_argument(
        "--market-tick",
        type=float,
        default=0.0,
        help="seconds between random price steps (0: prices stay put)",
    )
    args = parser.parse_args(argv)
    exchange = FakeExchange(network=args.network, seed=args.seed)
    exchange.delay_seconds = args.delay
    exchange.rate_limit = args.rate_limit
    exchange.uid_limits.scale = args.uid_limit_scale
    exchange.market_tick_seconds = args.market_tick
    for pair in args.key:
        api_key, _, secret = pair.partition(":")
        exchange.add_key(api_key, secret)
    sock = bind_socket(args.host, args.port)
    ws_sock = bind_socket(args.host, args.ws_port)
    host, port = sock.getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    print(f"ws://{host}:{ws_sock.getsockname()[1]}", flush=True)
    streams = FakeStreams(exchange)
    streams.kline_tick_seconds = args.kline_tick
    streams.burst_on_subscribe = args.burst_on_subscribe
    server = make_server(FakeBybitApp(exchange))
    # The loop uvicorn would choose (uvloop when installed), as FakeBybit's thread runs: on the
    # default loop a keep-alive client gets about 22 answers a second.
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(serve(server, sock, streams, ws_sock))
    sys.exit(0)


if __name__ == "__main__":
    main()
