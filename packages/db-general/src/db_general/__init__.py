"""The general database: instruments, klines, sync runs."""
