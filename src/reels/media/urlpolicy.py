"""Which URLs the downloader may fetch: https only, allow-listed hosts, never a private address.

Two checks, both pure:

- `check_url`, before every request and again at every redirect hop: scheme, host on the allow-list, no
  credentials. An IP literal is refused unless it is listed in `allowed_hosts` itself (that is how tests
  and proxies reach 127.0.0.1), whatever notation it is written in: dotted, decimal, hex, octal or IPv6.
- `check_address`, at connect time, on every address a host name resolved to (`reels.media.transport` calls it
  and then connects to exactly the address it checked): nothing private, loopback, link-local (cloud
  metadata), carrier-grade NAT, multicast, reserved or unspecified, including IPv4 hidden inside IPv6
  (mapped, NAT64, 6to4, Teredo), unless that very address is listed in `allowed_hosts`.

The address classes come from the stdlib's `ipaddress`; no kept library guards httpx's connections this
way (`advocate` wraps requests only and is unmaintained), hence these few functions.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

from reels.config import DownloadSettings
from reels.errors import DownloadRefused


def check_url(url: str | httpx.URL, settings: DownloadSettings) -> httpx.URL:
    """The URL as the HTTP client will read it, if it may be fetched; else DownloadRefused saying why.

    Parsed by httpx itself, so the scheme, host and port checked are exactly those the client connects to
    (a backslash, an `@` or a `#` cannot make the two parsers disagree), and the host must encode as a
    domain name the client can use.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.host.rstrip(".").lower()
        parsed.raw_host  # noqa: B018 - raises on a name that is not valid IDNA
        port = parsed.port
    except (httpx.InvalidURL, UnicodeError, ValueError, TypeError) as exc:
        raise DownloadRefused(f"malformed URL: {exc}") from exc
    allowed_schemes = ("https", "http") if settings.allow_http else ("https",)
    if parsed.scheme not in allowed_schemes:
        raise DownloadRefused(
            f"scheme {parsed.scheme!r} is not allowed (only {' or '.join(allowed_schemes)})"
        )
    if not host:
        raise DownloadRefused("URL has no host")
    if parsed.userinfo:
        raise DownloadRefused("URL carries credentials")
    if port is not None and not 0 < port < 65536:
        raise DownloadRefused(f"malformed URL: port {port} is out of range")
    listed = {h.lower().rstrip(".") for h in settings.allowed_hosts}
    address = ip_literal(host)
    if address is not None:
        if str(address) in listed or host in listed:
            return parsed
        raise DownloadRefused(f"IP address {address} is not an allowed host")
    if any(not label for label in host.split(".")):
        raise DownloadRefused(f"malformed URL: host {host!r} has an empty label")
    if not any(host == h or host.endswith("." + h) for h in listed):
        raise DownloadRefused(f"host {host} is not in the allowed hosts ({', '.join(sorted(listed))})")
    return parsed


def check_address(host: str, address: str, settings: DownloadSettings) -> None:
    """Return if `host`'s resolved `address` may be connected to; raise DownloadRefused saying why not."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError as exc:
        raise DownloadRefused(f"{host} resolved to {address!r}, which is not an IP address") from exc
    listed = {h.lower().rstrip(".") for h in settings.allowed_hosts}
    if str(ip) in listed:
        return
    for inner in _embedded(ip):
        if not inner.is_global or inner.is_multicast or any(inner in net for net in _ALSO_REFUSED):
            raise DownloadRefused(
                f"{host} resolves to {ip}, a private, loopback, link-local or reserved address; "
                "list that address in [download] allowed_hosts only if it is really meant to be reached"
            )


def _embedded(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address itself plus any IPv4 address it carries (mapped, NAT64, 6to4, Teredo)."""
    out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            out.append(ip.ipv4_mapped)
        if ip.sixtofour:
            out.append(ip.sixtofour)
        if ip.teredo:
            out.extend(ip.teredo)
        if ip in _NAT64:
            out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose ranges that some Python versions' `is_global` still calls global (192.0.0.192 is the
# Oracle Cloud metadata address).
_ALSO_REFUSED = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("64:ff9b:1::/48"))


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
