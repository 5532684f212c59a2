"""The Celery worker and beat: keeps the general database in sync with Bybit."""
