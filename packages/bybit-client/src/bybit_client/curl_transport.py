"""The blocking transport: libcurl (pycurl) handles, each keeping its connection alive between calls.

A handle serves one request at a time, so idle handles wait in a small pool and a thread that
finds none opens its own. Certificates are verified as ``bybit_client.tls`` says.
"""

from collections.abc import Mapping

import pycurl

from bybit_client.core import HttpRequest, HttpResponse, TransportFailure
from bybit_client.tls import UNTRUSTED_CERTIFICATE, CaFile, ca_bundle

# What a curl error code means, for the error message (others show curl's own words and number).
CURL_FAILURES: dict[object, str] = {
    6: "the host name did not resolve (DNS)",  # CURLE_COULDNT_RESOLVE_HOST
    7: "could not connect",  # CURLE_COULDNT_CONNECT
    28: "timed out",  # CURLE_OPERATION_TIMEDOUT
    35: "the TLS handshake failed",  # CURLE_SSL_CONNECT_ERROR
    52: "the server closed the connection without an answer",  # CURLE_GOT_NOTHING
    55: "the connection broke while sending",  # CURLE_SEND_ERROR
    56: "the connection was reset while receiving",  # CURLE_RECV_ERROR
    60: UNTRUSTED_CERTIFICATE,  # CURLE_PEER_FAILED_VERIFICATION
}


def header_lines(headers: Mapping[str, str], method: str) -> list[str]:
    """libcurl's ``Name: value`` lines; POSTs do not wait for a ``100 Continue``."""
    lines = [f"{name}: {value}" for name, value in headers.items()]
    if method != "GET":
        lines.append("Expect:")
    return lines


def parse_headers(lines: list[bytes]) -> dict[str, str]:
    """The last header block of an answer, names lower-cased (a status line starts a new block)."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
        elif line.startswith(b"HTTP/"):
            headers.clear()
    return headers


class CurlTransport:
    """Sends ``HttpRequest``s over kept-alive connections."""

    def __init__(
        self, *, timeout: float, connect_timeout: float, max_connections: int, ca_file: CaFile | None = None
    ) -> None:
        self._ca_bundle = ca_bundle(ca_file)
        self._timeout_ms = max(1, round(timeout * 1000))
        self._connect_timeout_ms = max(1, round(connect_timeout * 1000))
        self._max_idle = max_connections
        self._idle: list[pycurl.Curl] = []

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe in any thread
        handle.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, self._connect_timeout_ms)
        handle.setopt(pycurl.CAINFO, self._ca_bundle)
        handle.unsetopt(pycurl.CAPATH)  # the bundle only, never libcurl's built-in directory
        handle.setopt(pycurl.PROXY, "")  # like the other transports: no proxy from the environment
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        # HTTP/1.1 as the async client speaks: the protocol the fake server tests both with.
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        return handle

    def send(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        # list.pop and list.append are atomic: threads sharing a client never share a handle.
        try:
            handle = self._idle.pop()
        except IndexError:
            handle = self._new_handle()
        lines: list[bytes] = []
        method = request.method
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.HTTPHEADER, header_lines(request.headers, method))
        handle.setopt(pycurl.HEADERFUNCTION, lines.append)
        reusable = True
        if method == "GET":
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            if method != "POST":
                handle.setopt(pycurl.CUSTOMREQUEST, method)
                reusable = False  # the custom verb would stick to the handle
            handle.setopt(pycurl.POSTFIELDS, request.content or b"")
        try:
            body = handle.perform_rb()
            status = handle.getinfo(pycurl.RESPONSE_CODE)
        except pycurl.error as exc:
            handle.close()  # its connection is in an unknown state
            code: object = exc.args[0] if exc.args else None
            said = exc.args[1] if len(exc.args) > 1 else ""
            return request.failed(CURL_FAILURES.get(code) or f"{said or 'failed'} (curl error {code})")
        if reusable and len(self._idle) < self._max_idle:
            self._idle.append(handle)
        else:
            handle.close()
        return HttpResponse(status, parse_headers(lines), body)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
