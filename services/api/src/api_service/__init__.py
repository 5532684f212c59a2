"""The HTTP API: health, market data, sync tasks, user credentials."""
