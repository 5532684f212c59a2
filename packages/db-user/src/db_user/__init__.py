"""The user database: users, API tokens, encrypted Bybit credentials."""
