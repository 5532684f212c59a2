"""Which certificates the Bybit clients trust: one policy for the sync and the async transport.

Both verify Bybit's certificate against one PEM bundle: certifi's (Mozilla's list, the same on
every machine and in every image) unless the caller names another file, such as a company's
TLS-inspecting proxy CA or a test's private CA. The system's store is never consulted, so a client
trusts the same set wherever it runs.
"""

import os
import ssl
from functools import lru_cache

import certifi

CaFile = str | os.PathLike[str]
# How both transports report a certificate the policy does not trust.
UNTRUSTED_CERTIFICATE = "the server's TLS certificate is not trusted"


def ca_bundle(ca_file: CaFile | None = None) -> str:
    """The path of the PEM bundle to trust: ``ca_file``, or certifi's when None."""
    return certifi.where() if ca_file is None else os.fspath(ca_file)


def ssl_context(ca_file: CaFile | None = None) -> ssl.SSLContext:
    """A client context verifying hosts against ``ca_bundle(ca_file)`` only; one per bundle, shared."""
    return _context_for(ca_bundle(ca_file))


@lru_cache(maxsize=16)
def _context_for(bundle: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=bundle)
