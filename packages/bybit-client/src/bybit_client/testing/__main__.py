"""Run the fake Bybit V5 server outside pytest (benchmarks, manual tries).

``python -m bybit_client.testing [--port P] [--delay S] [--key KEY:SECRET ...]`` prints the base
URL on its first line, then serves until interrupted.
"""

import argparse
import sys

from bybit_client.enums import Network
from bybit_client.testing.app import FakeBybitApp
from bybit_client.testing.exchange import FakeExchange
from bybit_client.testing.server import bind_socket, make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bybit_client.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--network", type=Network, choices=list(Network), default=Network.MAINNET)
    parser.add_argument("--key", action="append", default=[], help="KEY:SECRET of an accepted API key")
    args = parser.parse_args(argv)
    exchange = FakeExchange(network=args.network)
    exchange.delay_seconds = args.delay
    for pair in args.key:
        api_key, _, secret = pair.partition(":")
        exchange.add_key(api_key, secret)
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    server = make_server(FakeBybitApp(exchange))
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
