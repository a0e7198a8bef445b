"""The download stage against a local HTTP server on 127.0.0.1 serving real small MP4s.

Every test here runs under `loopback_only`: sockets may connect to 127.0.0.1/::1 only, and host names
resolve only through the table a test gives (no DNS query leaves the machine). The download client is the
production one (`download_client`) with a stub resolver, so the connect-time address check is exercised.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from reels.config import DownloadSettings
from reels.errors import DownloadRefused
from reels.media.download import download_media
from reels.media.store import MediaStore
from reels.media.transport import CheckedBackend, download_client
from reels.records import MediaFile, Reel
from tests.factories import make_reel
from tests.videos import make_video

NOW = datetime(2026, 11, 16, tzinfo=UTC)
_LOOPBACK = ("127.0.0.1", "::1")


@dataclass
class Net:
    """What the loopback guard allows: names → 127.0.0.1, and port remaps (e.g. 443 → a test server)."""

    names: dict[str, str] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    blocked: list[object] = field(default_factory=list)  # every refused connect, for assertions


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Net:
    """No test may send a packet anywhere but loopback, nor ask the real DNS anything."""
    net = Net()
    real_socket, real_getaddrinfo = socket.socket, socket.getaddrinfo

    class GuardedSocket(real_socket):  # type: ignore[misc, valid-type]
        def connect(self, address):  # type: ignore[no-untyped-def]
            return super().connect(_allowed(address))

        def connect_ex(self, address):  # type: ignore[no-untyped-def]
            return super().connect_ex(_allowed(address))

    def _allowed(address: object) -> object:
        if isinstance(address, tuple):
            host, port = address[0], address[1]
            if host not in _LOOPBACK:
                net.blocked.append(address)
                raise OSError(101, f"test guard: connect to {host} refused (loopback only)")
            if port in net.ports:
                return (host, net.ports[port], *address[2:])
        return address

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if name in net.names:
            return real_getaddrinfo(net.names[name], port, *args, **kwargs)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in str(name) else socket.AF_INET, str(name))
        except OSError:
            if name not in (None, "localhost"):
                raise socket.gaierror(socket.EAI_NONAME, f"test guard: no DNS for {name}") from None
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", GuardedSocket)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return net


# The stub resolver: what each test name "resolves" to. Only the first two lead anywhere.
ZONE = {
    "cdn.test": ["127.0.0.1"],
    "cdn6.test": ["::1"],
    "private.test": ["10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "loopback.test": ["127.0.0.2"],
    "mixed.test": ["127.0.0.1", "192.168.1.10"],  # one bad address spoils the name
    "mapped.test": ["::ffff:10.0.0.1"],
    "ula.test": ["fd00:ec2::254"],  # AWS IPv6 metadata
    "cgnat.test": ["100.100.100.200"],  # Alibaba metadata, carrier-grade NAT range
    "nat64.test": ["64:ff9b::a9fe:a9fe"],  # 169.254.169.254 through NAT64
    "zero.test": ["0.0.0.0"],
    "oracle.test": ["192.0.0.192"],  # Oracle Cloud metadata
}


def stub_resolver(host: str, port: int) -> list[str]:
    if host not in ZONE:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} not in the test zone")
    return ZONE[host]


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    frames = [np.full((64, 48, 3), i * 8, np.uint8) for i in range(20)]
    return make_video(tmp_path_factory.mktemp("v") / "ok.mp4", frames, 10, "sine=frequency=440").read_bytes()


@dataclass
class Server:
    url: str  # http://127.0.0.1:port
    port: int
    hits: dict[str, int]
    in_flight: list[int]  # [now, peak]
    ipv6: bool  # the same server also answers on [::1] at the same port
    encodings: list[str | None]  # the accept-encoding each gzip-bomb request asked for


@pytest.fixture(scope="module")
def server(mp4: bytes) -> Iterator[Server]:
    hits: dict[str, int] = {}
    in_flight = [0, 0]
    lock = threading.Lock()
    encodings: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def send(self, status: int, body: bytes, kind: str = "video/mp4", length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def reset(self, partial: bytes) -> None:
            """Headers and part of the body, then a TCP reset (SO_LINGER 0)."""
            self.send_response(200)
            self.send_header("content-type", "video/mp4")
            self.send_header("content-length", str(len(mp4)))
            self.end_headers()
            self.wfile.write(partial)
            self.wfile.flush()
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            self.close_connection = True

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            with lock:
                hits[path] = n = hits.get(path, 0) + 1
            port = self.server.server_address[1]
            if path == "/ok.mp4":
                self.send(200, mp4)
            elif path.startswith("/slow"):
                with lock:
                    in_flight[0] += 1
                    in_flight[1] = max(in_flight)
                time.sleep(0.5)
                with lock:
                    in_flight[0] -= 1
                self.send(200, mp4)
            elif path == "/flaky.mp4":
                self.send(503, b"busy", "text/plain") if n == 1 else self.send(200, mp4)
            elif path == "/limited.mp4":
                if n == 1:
                    self.send_response(429)
                    self.send_header("retry-after", "0")
                    self.send_header("content-length", "0")
                    self.end_headers()
                else:
                    self.send(200, mp4)
            elif path == "/reset-once.mp4":
                self.reset(mp4[:500]) if n == 1 else self.send(200, mp4)
            elif path == "/reset.mp4":
                self.reset(mp4[:500])
            elif path == "/expired.mp4":
                self.send(403, b"URL signature expired", "text/plain")
            elif path == "/missing.mp4":
                self.send(404, b"Not Found", "text/plain")
            elif path == "/page.mp4":
                self.send(200, b"<html>login</html>", "text/html")
            elif path == "/garbage.mp4":
                self.send(200, b"\x00" * 4 + b"ftypisom" + b"\x00" * 2000)
            elif path == "/text.mp4":
                self.send(200, b"this is plain text, not a video at all....", "video/mp4")
            elif path == "/truncated.mp4":
                self.send(200, mp4[:1000], length=len(mp4))
                self.close_connection = True
            elif path == "/huge.mp4":
                self.send(200, b"", length=10**9)
                self.close_connection = True
            elif path == "/huge-chunked.mp4":  # no content-length: the streaming cap must stop it
                self.send_response(200)
                self.send_header("content-type", "video/mp4")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                block = mp4[:4096] + b"\x00" * (64 * 1024 - 4096)
                try:
                    for _ in range(40):  # 2.6 MB, over the 1 MB cap
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                self.close_connection = True
            elif path == "/to-private.mp4":
                self.redirect("http://10.0.0.1/x.mp4")
            elif path == "/to-metadata-name.mp4":
                self.redirect(f"http://metadata.test:{port}/ok.mp4")
            elif path == "/to-private-name.mp4":
                self.redirect(f"http://private.test:{port}/ok.mp4")
            elif path == "/to-evil.mp4":
                self.redirect("https://evil.example/x.mp4")
            elif path == "/to-file.mp4":
                self.redirect("file:///etc/passwd")
            elif path == "/to-ok.mp4":
                self.redirect("/ok.mp4")
            elif path == "/to-name.mp4":
                self.redirect(f"http://cdn.test:{port}/ok.mp4")
            elif path == "/loop.mp4":
                self.redirect("/loop.mp4")
            elif path == "/to-malformed.mp4":
                self.redirect("http://[::1/x.mp4")
            elif path == "/to-bad-idna.mp4":
                self.redirect("https://a..fbcdn.net/x.mp4")
            elif path == "/gzip-bomb.mp4":  # 32 MB of zeros in 32 KB: must not be inflated
                with lock:
                    encodings.append(self.headers.get("accept-encoding"))
                body = gzip.compress(mp4[:4096] + b"\x00" * 32_000_000)
                self.send_response(200)
                self.send_header("content-type", "video/mp4")
                self.send_header("content-encoding", "gzip")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif path == "/corrupt-gzip.mp4":
                self.send_response(200)
                self.send_header("content-type", "video/mp4")
                self.send_header("content-encoding", "gzip")
                self.send_header("content-length", "100")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"\xff" * 98)
            elif path == "/trickle.mp4":  # a byte every 0.2 s: the deadline must still hold
                self.send_response(200)
                self.send_header("content-type", "video/mp4")
                self.send_header("content-length", str(len(mp4)))
                self.end_headers()
                try:
                    self.wfile.write(mp4[:64])
                    for byte in mp4[64:200]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
                self.close_connection = True
            else:
                self.send(404, b"?", "text/plain")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_port
    httpd6 = _ipv6_twin(port, Handler)
    yield Server(f"http://127.0.0.1:{port}", port, hits, in_flight, httpd6 is not None, encodings)
    httpd.shutdown()
    if httpd6 is not None:
        httpd6.shutdown()


def _ipv6_twin(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer | None:
    """The same handler on [::1]:port, when this machine has IPv6 loopback; else None."""

    class Server6(ThreadingHTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

    try:
        httpd = Server6(("::1", port), handler)
    except OSError:
        return None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def reel(post_id: str, url: str | None, expires: datetime | None = None) -> Reel:
    return make_reel(post_id, posted_at=NOW, scraped_at=NOW, media_url=url, media_url_expires_at=expires)


SETTINGS = DownloadSettings(
    allowed_hosts=("127.0.0.1", "::1", "test"), allow_http=True, retries=1, backoff_s=0.01, max_bytes=10**6
)


def run(reels: list[Reel], tmp_path: Path, settings: DownloadSettings = SETTINGS) -> dict[str, MediaFile]:
    store = MediaStore(tmp_path / "media")
    with download_client(settings, resolver=stub_resolver) as client:
        results = download_media(reels, client=client, store=store, settings=settings, now=NOW, run_id="r")
    return {m.post_id: m for m in results}


def test_every_case_ends_in_its_status(server: Server, tmp_path: Path, loopback_only: Net) -> None:
    s = server.url
    cases = {
        "ok": (f"{s}/ok.mp4", None, "ok"),
        "by_name": (f"http://cdn.test:{server.port}/ok.mp4", None, "ok"),
        "flaky": (f"{s}/flaky.mp4", None, "ok"),
        "rate_limited": (f"{s}/limited.mp4", None, "ok"),
        "reset_once": (f"{s}/reset-once.mp4", None, "ok"),
        "redirect": (f"{s}/to-ok.mp4", None, "ok"),
        "redirect_name": (f"{s}/to-name.mp4", None, "ok"),
        "oe_past": (f"{s}/ok.mp4", NOW - timedelta(hours=1), "expired"),
        "signature": (f"{s}/expired.mp4", None, "expired"),
        "missing": (f"{s}/missing.mp4", None, "gone"),
        "html": (f"{s}/page.mp4", None, "invalid"),
        "garbage": (f"{s}/garbage.mp4", None, "invalid"),
        "not_video": (f"{s}/text.mp4", None, "invalid"),
        "huge": (f"{s}/huge.mp4", None, "invalid"),
        "huge_chunked": (f"{s}/huge-chunked.mp4", None, "invalid"),
        "truncated": (f"{s}/truncated.mp4", None, "failed"),
        "reset": (f"{s}/reset.mp4", None, "failed"),
        "private": (f"{s}/to-private.mp4", None, "refused"),
        "private_name": (f"{s}/to-private-name.mp4", None, "refused"),
        "host": ("https://evil.example/x.mp4", None, "refused"),
        "loop": (f"{s}/loop.mp4", None, "refused"),
        "nourl": (None, None, "invalid"),
    }
    got = run([reel(name, url, exp) for name, (url, exp, _) in cases.items()], tmp_path)
    assert {k: m.status for k, m in got.items()} == {name: status for name, (_, _, status) in cases.items()}
    for m in got.values():
        assert (m.error is None) == (m.status == "ok"), m
        assert m.source_used == ("cdn" if m.status == "ok" else None)
    ok = got["ok"]
    assert ok.has_audio is True and ok.duration_s == pytest.approx(2.0, abs=0.2)
    assert got["flaky"].attempts == 2 and got["flaky"].sha256 == ok.sha256  # same bytes, one file
    assert got["reset"].attempts == 2 and got["truncated"].attempts == 2  # retried, then failed
    assert got["missing"].attempts == 1 and got["signature"].attempts == 1  # 403/404 not retried
    assert MediaStore(tmp_path / "media").has(ok.sha256)
    assert not list((tmp_path / "media" / ".partial").iterdir())  # no half files left behind
    assert "signature expired" in got["signature"].error
    assert "10.0.0.1" in got["private_name"].error
    assert loopback_only.blocked == []  # refusals happened before any connect


def test_n_slow_videos_take_about_one_latency_with_concurrency_n(server: Server, tmp_path: Path) -> None:
    n = 8
    settings = DownloadSettings(
        allowed_hosts=("127.0.0.1",), allow_http=True, concurrency=n, retries=0, max_bytes=10**6
    )
    server.in_flight[1] = 0
    started = time.monotonic()
    got = run([reel(f"r{i}", f"{server.url}/slow{i}.mp4") for i in range(n)], tmp_path, settings)
    elapsed = time.monotonic() - started
    assert {m.status for m in got.values()} == {"ok"}
    assert server.in_flight[1] == n  # all n requests were at the server at once
    assert elapsed < 0.5 * n * 0.6, elapsed  # sequential would take more than n × 0.5 s


HOSTILE = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://scontent.cdninstagram.com/x.mp4",
    "http://scontent.cdninstagram.com/x.mp4",  # plain http
    "https://127.0.0.1/x.mp4",
    "https://2130706433/x.mp4",  # 127.0.0.1 as one decimal number
    "https://0x7f000001/x.mp4",
    "https://0177.0.0.1/x.mp4",  # octal
    "https://127.1/x.mp4",
    "https://[::1]/x.mp4",
    "https://[::ffff:169.254.169.254]/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://0xa9fea9fe/latest/meta-data/",  # 169.254.169.254 in hex
    "https://10.0.0.1/x.mp4",
    "https://192.168.0.1/x.mp4",
    "https://172.16.0.1/x.mp4",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://0.0.0.0/x.mp4",
    "https://evil.example/x.mp4",
    "https://cdninstagram.com.evil.example/x.mp4",
    "https://user:pw@scontent.cdninstagram.com/x.mp4",
    # What the HTTP client reads is what is checked: parser tricks and names it could not use.
    "https://scontent.cdninstagram.com\\@evil.example/x.mp4",
    "https://scontent.cdninstagram.com%2F@evil.example/x.mp4",
    "https://evil.example#@scontent.cdninstagram.com/x.mp4",
    "https://a..fbcdn.net/x.mp4",
    "https://xn--zz.fbcdn.net/x.mp4",
    "https://scontent.cdninstagram.com:99999/x.mp4",
    "https://scontent.cdninstagram.com\t/x.mp4",
    " https://scontent.cdninstagram.com/x.mp4",
    # Allowed names that resolve to forbidden addresses (stub resolver): refused at connect time.
    "https://private.test/x.mp4",
    "https://metadata.test/latest/meta-data/",
    "https://loopback.test/x.mp4",
    "https://mixed.test/x.mp4",
    "https://mapped.test/x.mp4",
    "https://ula.test/x.mp4",
    "https://cgnat.test/x.mp4",
    "https://nat64.test/x.mp4",
    "https://zero.test/x.mp4",
    "https://oracle.test/x.mp4",
]


def test_hostile_urls_are_all_refused_without_a_packet_sent(tmp_path: Path, loopback_only: Net) -> None:
    settings = DownloadSettings(allowed_hosts=("cdninstagram.com", "fbcdn.net", "test"), retries=0)
    got = run([reel(str(i), url) for i, url in enumerate(HOSTILE)], tmp_path, settings)
    statuses = {HOSTILE[int(k)]: m.status for k, m in got.items()}
    assert statuses == dict.fromkeys(HOSTILE, "refused")
    assert loopback_only.blocked == []


@pytest.mark.parametrize(
    "path",
    ["/to-private.mp4", "/to-private-name.mp4", "/to-metadata-name.mp4", "/to-evil.mp4", "/to-file.mp4"],
)
def test_redirects_to_forbidden_places_are_refused(server: Server, tmp_path: Path, path: str) -> None:
    got = run([reel("r", f"{server.url}{path}")], tmp_path)
    assert got["r"].status == "refused", got["r"].error


def test_the_checked_address_is_the_connected_address(server: Server, tmp_path: Path) -> None:
    """DNS rebinding: a name that first answers 127.0.0.1 and then 10.0.0.1 gets one good connection."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    seen: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        found = next(answers)
        seen.extend(found)
        return found

    settings = DownloadSettings(allowed_hosts=("127.0.0.1", "test"), allow_http=True, retries=0)
    store = MediaStore(tmp_path / "media")
    url = f"http://rebind.test:{server.port}/ok.mp4"
    with download_client(settings, resolver=rebinding) as client:
        assert client.get(url).status_code == 200  # connected to the 127.0.0.1 it checked
        client.close()  # drop the pooled connection: the next request must resolve again
    with download_client(settings, resolver=rebinding) as client:
        results = download_media(
            [reel("r", url)], client=client, store=store, settings=settings, now=NOW, run_id="r"
        )
    assert results[0].status == "refused" and "10.0.0.1" in (results[0].error or "")
    assert seen == ["127.0.0.1", "10.0.0.1"]  # one resolution per connection, checked then used


def test_the_backend_refuses_before_connecting(loopback_only: Net) -> None:
    backend = CheckedBackend(DownloadSettings(allowed_hosts=("test",)), stub_resolver)
    for host in ("private.test", "metadata.test", "mapped.test", "10.0.0.1", "169.254.169.254"):
        with pytest.raises(DownloadRefused):
            backend.connect_tcp(host, 443, timeout=1)
    assert loopback_only.blocked == []


def test_an_ip_literal_listed_is_the_only_way_to_a_private_address() -> None:
    listed = CheckedBackend(DownloadSettings(allowed_hosts=("10.0.0.1", "test")), stub_resolver)
    assert listed.addresses("private.test", 443) == ["10.0.0.1"]
    assert listed.addresses("10.0.0.1", 443) == ["10.0.0.1"]
    with pytest.raises(DownloadRefused):
        listed.addresses("metadata.test", 443)


def test_ipv6_loopback_works_when_listed(server: Server, tmp_path: Path) -> None:
    if not server.ipv6:
        pytest.skip("no IPv6 loopback on this machine")
    got = run([reel("r", f"http://cdn6.test:{server.port}/ok.mp4")], tmp_path)
    assert got["r"].status == "ok", got["r"]


def test_odd_bodies_and_redirects_end_in_their_own_status_and_the_batch_goes_on(
    server: Server, tmp_path: Path
) -> None:
    s = server.url
    cases = {
        "gzip_bomb": (f"{s}/gzip-bomb.mp4", "invalid"),
        "corrupt_gzip": (f"{s}/corrupt-gzip.mp4", "invalid"),
        "to_malformed": (f"{s}/to-malformed.mp4", "refused"),
        "to_bad_idna": (f"{s}/to-bad-idna.mp4", "refused"),
        "ok": (f"{s}/ok.mp4", "ok"),
    }
    got = run([reel(name, url) for name, (url, _) in cases.items()], tmp_path)
    assert {k: m.status for k, m in got.items()} == {k: status for k, (_, status) in cases.items()}
    assert "gzip-encoded" in (got["gzip_bomb"].error or "")
    assert server.encodings and set(server.encodings) == {"identity"}  # video is asked for uncompressed


def test_a_trickling_body_is_cut_off_at_the_deadline(server: Server, tmp_path: Path) -> None:
    settings = DownloadSettings(
        allowed_hosts=("127.0.0.1",), allow_http=True, retries=0, deadline_s=1.0, timeout_s=5.0
    )
    started = time.monotonic()
    got = run([reel("r", f"{server.url}/trickle.mp4")], tmp_path, settings)
    assert got["r"].status == "failed" and "longer than 1 s" in (got["r"].error or "")
    assert time.monotonic() - started < 3  # not the 27 s the trickle would take
