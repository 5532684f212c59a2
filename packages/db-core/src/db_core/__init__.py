"""Shared PostgreSQL plumbing for the database packages: engines, sessions, Alembic, test fixtures."""
