"""A typed Bybit V5 REST client: signed, sync and async, with retries."""
