"""Which URLs the downloader may fetch: https only, allow-listed hosts, never a private address.

Checked before every request and again at every redirect hop. An IP literal is refused unless it is listed
in `allowed_hosts` itself (that is how tests and proxies reach 127.0.0.1), whatever notation it is written
in: dotted, decimal, hex, octal or IPv6.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from reels.config import DownloadSettings
from reels.errors import DownloadRefused


def check_url(url: str, settings: DownloadSettings) -> None:
    """Return if the URL may be fetched; raise DownloadRefused saying why not."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise DownloadRefused(f"malformed URL: {exc}") from exc
    allowed_schemes = ("https", "http") if settings.allow_http else ("https",)
    if parts.scheme not in allowed_schemes:
        raise DownloadRefused(f"scheme {parts.scheme!r} is not allowed (only {' or '.join(allowed_schemes)})")
    if not host:
        raise DownloadRefused("URL has no host")
    if parts.username or parts.password:
        raise DownloadRefused("URL carries credentials")
    listed = {h.lower().rstrip(".") for h in settings.allowed_hosts}
    address = ip_literal(host)
    if address is not None:
        if str(address) in listed or host in listed:
            return
        raise DownloadRefused(f"IP address {address} is not an allowed host")
    if not any(host == h or host.endswith("." + h) for h in listed):
        raise DownloadRefused(f"host {host} is not in the allowed hosts ({', '.join(sorted(listed))})")


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host string denotes by itself, in any notation resolvers accept, else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        # inet_aton accepts the legacy forms (2130706433, 0x7f.1, 017700000001) that resolvers also accept.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
