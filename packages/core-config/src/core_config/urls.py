"""Validation and normalisation of service URLs (PostgreSQL, Redis, Bybit).

Every function raises ``ValueError`` with a message that never repeats the URL, since URLs carry
passwords.
"""

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

POSTGRES_DRIVER_SCHEME = "postgresql+psycopg"
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg3"}
_REDIS_SCHEMES = {"redis", "rediss", "redis+socket"}


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def normalise_postgres_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver scheme, as SQLAlchemy needs it.

    Render hands out ``postgres://`` and ``postgresql://`` URLs; both mean the same server.
    """
    scheme = _scheme(url)
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError("not a PostgreSQL URL (expected postgresql://user:password@host/db)")
    rest = url.split("://", 1)[1]
    parts = urlsplit(f"{POSTGRES_DRIVER_SCHEME}://{rest}")
    if not parts.path.strip("/"):
        raise ValueError("the PostgreSQL URL names no database (add /<database> after the host)")
    return urlunsplit(parts)


def libpq_url(url: str) -> str:
    """The ``postgresql://`` form of a (normalised) PostgreSQL URL, as psycopg and libpq take it."""
    return url.replace(f"{POSTGRES_DRIVER_SCHEME}://", "postgresql://", 1)


def database_name(url: str) -> str:
    """The database a PostgreSQL URL points at."""
    return urlsplit(url).path.strip("/")


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def on_local_port(url: str, port: int) -> str:
    """``url`` with its port replaced by ``port`` (its host, credentials and path kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"{userinfo}@{parts.hostname}" if userinfo else str(parts.hostname)
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def mask_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def check_redis_url(url: str) -> str:
    """Accept ``redis://``, ``rediss://`` and ``redis+socket://`` URLs."""
    if _scheme(url) not in _REDIS_SCHEMES:
        raise ValueError("not a Redis URL (expected redis://, rediss:// or redis+socket://)")
    return url


def check_base_url(url: str, *, scheme: Literal["http", "ws"], allow_plain: bool) -> str:
    """Accept a secure base URL (``https://``, ``wss://``; the plain ``http://``, ``ws://`` only when
    allowed); drop a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in {scheme, f"{scheme}s"} or not parts.netloc:
        raise ValueError(f"not a {scheme}s:// or {scheme}:// URL")
    if parts.scheme == scheme and not allow_plain:
        raise ValueError(
            f"must be {scheme}s:// (plain {scheme}:// is allowed only when ENVIRONMENT is local or test)"
        )
    return url.rstrip("/")
