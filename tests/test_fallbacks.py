"""The fallback downloaders through the real Instaloader and yt-dlp, against a fake Instagram on 127.0.0.1.

How the network is faked: at the socket level, under the same `loopback_only` guard as test_download.
`www.instagram.com`, `i.instagram.com` and `scontent.cdninstagram.com` resolve to 127.0.0.1 and port 443
is remapped to a local HTTPS server with a certificate made here, so both libraries run unmodified over
real HTTP and TLS (requests/urllib3). Instaloader verifies the certificate through REQUESTS_CA_BUNDLE;
yt-dlp is given its documented `nocheckcertificate` option. Our own download of the URL Instaloader
returns goes through `download_client` with a stub resolver and an SSL context trusting that certificate.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("instaloader")
pytest.importorskip("yt_dlp")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yt_dlp.extractor.instagram import _id_to_pk

from reels.config import DownloadSettings
from reels.errors import ConfigError
from reels.media.download import download_media
from reels.media.fallbacks import InstaloaderFallback, YtDlpFallback, build_fallbacks
from reels.media.store import MediaStore
from reels.media.transport import download_client
from tests.test_download import NOW, Net, loopback_only, mp4, reel  # noqa: F401

HOSTS = ["www.instagram.com", "i.instagram.com", "instagram.com", "scontent.cdninstagram.com"]
CDN = "https://scontent.cdninstagram.com/o1/v/t16/f2/m86/{code}.mp4?oe=6A000000"
# shortcode → what the fake Instagram does for it
GOOD, PHOTO, RATE, CHALLENGE, GONE = "DdGoodVid01", "DdPhotoOnly", "DdRateLimit", "DdChallenge", "DdNotThere1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (also its own CA) for the fake Instagram hosts: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake instagram")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def instagram(tls: tuple[Path, Path], mp4: bytes) -> Iterator[tuple[int, list[str]]]:  # noqa: F811
    """The fake Instagram + CDN over HTTPS on 127.0.0.1: (port, log of 'METHOD path')."""
    seen: list[str] = []
    by_pk = {str(_id_to_pk(code)): code for code in (GOOD, PHOTO, RATE, CHALLENGE, GONE)}

    def item(code: str) -> dict[str, object]:
        video = code != PHOTO
        return {
            "code": code,
            "pk": str(_id_to_pk(code)),
            "id": f"{_id_to_pk(code)}_9",
            "media_type": 2 if video else 1,
            "taken_at": 1763000000,
            "user": {"pk": "9", "username": "cat", "full_name": "Cat"},
            "video_versions": [{"url": CDN.format(code=code), "width": 48, "height": 64, "type": 101}]
            if video
            else [],
            "has_audio": True,
            "video_duration": 2.0,
            "image_versions2": {"candidates": []},
        }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def answer(self, code: str | None) -> None:
            if code == RATE:
                self.reply(
                    429, b'{"message":"Please wait a few minutes before you try again.","status":"fail"}'
                )
            elif code == CHALLENGE:
                self.reply(400, b'{"message":"checkpoint_required","status":"fail"}')
            elif code == GONE or code is None:
                self.reply(404, b'{"message":"Media not found or unavailable","status":"fail"}')
            elif self.path.startswith("/graphql/query"):
                web_info = {"xdt_api__v1__media__shortcode__web_info": {"items": [item(code)]}}
                self.reply(200, json.dumps({"data": web_info, "status": "ok"}).encode())
            else:
                self.reply(200, json.dumps({"items": [item(code)], "status": "ok"}).encode())

        def do_POST(self) -> None:
            seen.append(f"POST {self.path}")
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            code = next((c for c in (GOOD, PHOTO, RATE, CHALLENGE, GONE) if c in body), None)
            self.answer(code)

        def do_GET(self) -> None:
            seen.append(f"GET {self.path}")
            path = self.path.split("?")[0]
            if path.startswith("/o1/v/"):
                self.reply(200, mp4, "video/mp4")
            elif "/media/" in path and path.endswith("/info/"):
                self.answer(by_pk.get(path.split("/")[-3]))
            else:
                self.reply(404, b"{}")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port, seen
    httpd.shutdown()


@pytest.fixture
def fake_net(
    loopback_only: Net,  # noqa: F811
    instagram: tuple[int, list[str]],
    tls: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Net:
    loopback_only.names.update(dict.fromkeys(HOSTS, "127.0.0.1"))
    loopback_only.ports[443] = instagram[0]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    return loopback_only


# One at a time: a fallback that stands aside after a rate limit makes the outcome depend on order.
SETTINGS = DownloadSettings(
    allowed_hosts=("cdninstagram.com", "127.0.0.1"), retries=0, max_bytes=10**6, concurrency=1
)


SESSION_ID, CSRF = "SESSIONID-8f3a2c", "CSRFTOKEN-41d9b7"  # distinctive, so a leak is found by search


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-catfan"
    path.write_bytes(pickle.dumps({"csrftoken": CSRF, "sessionid": SESSION_ID, "ds_user_id": "1"}))
    return path


@pytest.fixture
def cookies_file(tmp_path: Path) -> Path:
    path = tmp_path / "cookies.txt"
    rows = [
        f".instagram.com\tTRUE\t/\tTRUE\t2000000000\t{k}\t{v}"
        for k, v in (("sessionid", SESSION_ID), ("csrftoken", CSRF))
    ]
    path.write_text("# Netscape HTTP Cookie File\n" + "\n".join(rows) + "\n")
    return path


def run(reels, tmp_path: Path, fallbacks, tls: tuple[Path, Path], settings=SETTINGS):
    store = MediaStore(tmp_path / "media")
    verify = ssl.create_default_context(cafile=str(tls[0]))
    resolver = {h: ["127.0.0.1"] for h in HOSTS}.__getitem__
    with download_client(SETTINGS, resolver=lambda h, p: resolver(h), verify=verify) as client:
        out = download_media(
            reels, client=client, store=store, settings=settings, now=NOW, run_id="r", fallbacks=fallbacks
        )
    return {m.post_id: m for m in out}, store


EXPIRED = NOW - dt.timedelta(hours=1)


def test_instaloader_finds_the_video_of_an_expired_link(
    fake_net, session_file, tmp_path, tls, instagram
) -> None:
    fallback = InstaloaderFallback(session_file, SETTINGS)
    reels = [
        reel(GOOD, "https://scontent.cdninstagram.com/old.mp4", EXPIRED),
        reel(PHOTO, None),
        reel(GONE, "https://scontent.cdninstagram.com/old.mp4", EXPIRED),
    ]
    got, store = run(reels, tmp_path, [fallback], tls)
    assert got[GOOD].status == "ok" and got[GOOD].source_used == "instaloader", got[GOOD]
    assert store.has(got[GOOD].sha256) and got[GOOD].has_audio
    assert got[GOOD].media_url == "https://scontent.cdninstagram.com/old.mp4"  # the scrape's link is kept
    assert got[PHOTO].status == "invalid"
    assert got[GONE].status == "expired" and "not found" in got[GONE].error
    assert any(line.startswith("POST /graphql/query") for line in instagram[1])
    assert fake_net.blocked == []


def test_instaloader_rate_limit_and_challenge_are_transient_and_said_once(
    fake_net,
    session_file,
    tmp_path,
    tls,
    caplog,
    instagram,
) -> None:
    fallback = InstaloaderFallback(session_file, SETTINGS)
    got, _ = run([reel(CHALLENGE, None, EXPIRED), reel(GOOD, None)], tmp_path, [fallback], tls)
    assert got[CHALLENGE].status == "failed" and "challenged" in got[CHALLENGE].error
    assert got[GOOD].status == "failed" and "skipped for this run" in got[GOOD].error  # no second request
    assert sum("disabled for this run" in r.message for r in caplog.records) == 1
    assert SESSION_ID not in got[CHALLENGE].error and CSRF not in got[CHALLENGE].error  # no credential leaks

    fallback = InstaloaderFallback(session_file, SETTINGS)
    got, _ = run([reel(RATE, "https://scontent.cdninstagram.com/x.mp4", EXPIRED)], tmp_path, [fallback], tls)
    assert got[RATE].status == "failed" and "rate limit" in got[RATE].error


def test_yt_dlp_downloads_and_the_file_is_validated_and_stored(fake_net, cookies_file, tmp_path, tls) -> None:
    fallback = YtDlpFallback(cookies_file, SETTINGS, params={"nocheckcertificate": True})
    before = cookies_file.read_text()
    got, store = run([reel(GOOD, None), reel(RATE, None, EXPIRED)], tmp_path, [fallback], tls)
    assert got[GOOD].status == "ok" and got[GOOD].source_used == "yt-dlp", got[GOOD]
    assert store.has(got[GOOD].sha256) and got[GOOD].duration_s == pytest.approx(2.0, abs=0.2)
    assert got[RATE].status == "failed" and "rate" in got[RATE].error.lower()
    assert cookies_file.read_text() == before  # yt-dlp wrote to its own copy
    assert not list((tmp_path / "media" / ".partial").iterdir())
    assert fake_net.blocked == []


def test_fallbacks_in_order_second_when_first_fails(
    fake_net, session_file, cookies_file, tmp_path, tls
) -> None:
    broken = tmp_path / "session-broken"
    broken.write_bytes(b"not a pickle")
    first = InstaloaderFallback(broken, SETTINGS)
    second = YtDlpFallback(cookies_file, SETTINGS, params={"nocheckcertificate": True})
    got, _ = run([reel(GOOD, None, EXPIRED)], tmp_path, [first, second], tls)
    assert got[GOOD].status == "ok" and got[GOOD].source_used == "yt-dlp"


def test_without_fallbacks_an_expired_link_stays_expired(tmp_path, tls) -> None:
    settings = DownloadSettings(fallbacks=("instaloader", "yt-dlp"))
    assert build_fallbacks(settings, None, None) == []
    got, _ = run([reel(GOOD, "https://scontent.cdninstagram.com/x.mp4", EXPIRED)], tmp_path, [], tls)
    assert got[GOOD].status == "expired" and got[GOOD].attempts == 0


def test_build_fallbacks_order_and_missing_files(session_file, cookies_file, tmp_path) -> None:
    both = build_fallbacks(DownloadSettings(), str(session_file), str(cookies_file))
    assert [f.name for f in both] == ["instaloader", "yt-dlp"]
    reverse = build_fallbacks(
        DownloadSettings(fallbacks=("yt-dlp", "instaloader")), str(session_file), str(cookies_file)
    )
    assert [f.name for f in reverse] == ["yt-dlp", "instaloader"]
    assert build_fallbacks(DownloadSettings(fallbacks=()), str(session_file), str(cookies_file)) == []
    with pytest.raises(ConfigError, match="INSTAGRAM_SESSION_FILE"):
        build_fallbacks(DownloadSettings(), str(tmp_path / "nope"), None)
    for fallback in both:  # credentials stay out of anything that could be printed
        assert SESSION_ID not in repr(fallback) and SESSION_ID not in repr(vars(fallback))
