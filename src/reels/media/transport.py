"""The download client's transport: every connection goes to an address that was checked first.

httpx resolves host names inside httpcore, after any URL check could run, so a name that passes the
allow-list could still resolve to 10.0.0.1 or 169.254.169.254 (or re-resolve there between a check and
the connect: DNS rebinding). `CheckedBackend` is an httpcore network backend that resolves the name
itself (with an injectable resolver), passes every resolved address through `urlpolicy.check_address`,
and then connects to exactly one of those checked addresses. TLS still uses the host name: httpcore sends
the origin's name as SNI and verifies the certificate against it, and the Host header is unchanged.

    client = download_client(settings.download)            # production: the system resolver
    client = download_client(settings, resolver=stub)      # tests: {"cdn.test": ["10.0.0.1"]}.get
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence

import httpcore
import httpx

from reels.config import DownloadSettings
from reels.media.urlpolicy import check_address, ip_literal

# host, port → the IP addresses (as text) to try, in order. Raises OSError when the name does not resolve.
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the operating system's resolver (getaddrinfo), duplicates removed."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that connects only to addresses `check_address` accepts.

    Raises `reels.errors.DownloadRefused` (before any packet is sent) when any address the name resolves
    to is refused; httpcore.ConnectError when the name does not resolve or no address answers.
    """

    def __init__(self, settings: DownloadSettings, resolver: Resolver = system_resolver) -> None:
        self._settings = settings
        self._resolver = resolver
        self._tcp = httpcore.SyncBackend()

    def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses for host:port; raises DownloadRefused or httpcore.ConnectError."""
        literal = ip_literal(host)
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = list(self._resolver(host, port))
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not found:
                raise httpcore.ConnectError(f"{host} resolved to no address")
        for address in found:  # all of them: a name with one bad address is not trusted at all
            check_address(host, address, self._settings)
        return found

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.addresses(host, port):
            try:
                return self._tcp.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for downloads")

    def sleep(self, seconds: float) -> None:
        self._tcp.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own HTTP transport (pooling, HTTP/1.1, TLS, error mapping) over a `CheckedBackend`."""

    def __init__(
        self,
        settings: DownloadSettings,
        *,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        super().__init__(verify=verify, limits=limits, trust_env=False)
        ssl_context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        )
        # httpx.HTTPTransport takes no network backend, so its pool is rebuilt with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=CheckedBackend(settings, resolver),
        )


def download_client(
    settings: DownloadSettings,
    *,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
    mounts: Mapping[str, httpx.BaseTransport] | None = None,
) -> httpx.Client:
    """The one shared client for downloads: checked transport, no redirects followed, no env proxies.

    `mounts` adds in-process transports for given URL prefixes (the bundled sample's fictional CDN).
    Redirects are followed by `reels.media.download`, which re-checks every hop's URL; each hop's connection
    is checked here.
    """
    return httpx.Client(
        transport=CheckedTransport(settings, resolver=resolver, verify=verify),
        mounts=dict(mounts or {}),
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "reels-etl/0.1"},
    )
