"""The names tasks are sent by: the contract with the API, which sends them without importing us."""

PING = "worker.ping"
SYNC_INSTRUMENTS = "sync.instruments"
SYNC_KLINES = "sync.klines"
