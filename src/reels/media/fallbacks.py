"""Fallback downloaders for reels whose CDN link is expired or gone: Instaloader, then yt-dlp.

Each is an object with one method, `locate(reel, workdir)`, which returns where the video is:

- `InstaloaderFallback` asks Instagram for the post's current video URL with a saved, logged-in session
  file (never a password). The URL is then fetched by `reels.media.download` through the same checked client,
  policy, validation and content-addressed store as a CDN link.
- `YtDlpFallback` lets yt-dlp (with a cookies file) download the video into `workdir`; every media URL it
  chose is checked against the URL policy first, and `reels.media.download` validates the file and moves
  it into the store.

Both libraries are optional (`pip install 'reels-etl[fallbacks]'`) and imported only when used. Their
errors are translated here: rate limits, login and session problems are `FetchFailed` (transient: the reel
stays `failed` and is retried next run); a post that does not exist is `MediaGone`; a post that is not a
video is `InvalidMedia`. After a rate limit or a dead session a fallback says so once (a log warning)
and stands aside for the rest of the run, so one batch does not hammer Instagram. Credentials are
constructor arguments and never appear in messages.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reels.config import DownloadSettings
from reels.errors import ConfigError, DownloadError, FetchFailed, InvalidMedia, MediaGone
from reels.media.urlpolicy import check_url
from reels.records import Reel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a fallback found the video: a URL still to fetch, or a file it already downloaded."""

    url: str | None = None
    path: Path | None = None


class Fallback(Protocol):
    name: str  # what MediaFile.source_used records

    def locate(self, reel: Reel, workdir: Path) -> Located:
        """The reel's video as a URL or a file in `workdir`; raises DownloadError subclasses."""
        ...


def reel_page(reel: Reel) -> str:
    """The reel's Instagram page (post_id is the shortcode)."""
    return f"https://www.instagram.com/reel/{reel.post_id}/"


class _StandAside:
    """Serializes calls (the libraries keep per-session state) and remembers why to stop for this run."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.reason: str | None = None

    def check(self) -> None:
        if self.reason:
            raise FetchFailed(f"{self.name} skipped for this run: {self.reason}")

    def stop(self, reason: str) -> FetchFailed:
        if self.reason is None:
            self.reason = reason
            log.warning("%s fallback disabled for this run: %s", self.name, reason)
        return FetchFailed(f"{self.name}: {reason}")


class InstaloaderFallback:
    """Instaloader with a session file saved from a logged-in browser (INSTAGRAM_SESSION_FILE).

    The file is a pickled cookie dict (Instaloader's own format): load only a file you made. Raises
    ConfigError at construction when the file does not exist.
    """

    name = "instaloader"

    def __init__(self, session_file: str | Path, settings: DownloadSettings) -> None:
        self._session_file = Path(session_file)
        if not self._session_file.is_file():
            raise ConfigError(
                "INSTAGRAM_SESSION_FILE does not name an existing file; save an Instaloader session "
                "(e.g. instaloader's 615_import_firefox_session.py) or unset it."
            )
        self._settings = settings
        self._state = _StandAside(self.name)
        self._loader: Any = None

    def locate(self, reel: Reel, workdir: Path) -> Located:
        with self._state.lock:
            self._state.check()
            import instaloader
            from instaloader import exceptions as ie

            try:
                loader = self._loader or self._load(instaloader)
            except (OSError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:
                raise self._state.stop(
                    f"INSTAGRAM_SESSION_FILE could not be loaded ({type(exc).__name__}); save it again"
                ) from exc
            try:
                post = instaloader.Post.from_shortcode(loader.context, reel.post_id)
                if not post.is_video:
                    raise InvalidMedia(f"instaloader: post {reel.post_id} is not a video")
                url = post.video_url
            except DownloadError:
                raise
            except (ie.LoginRequiredException, ie.LoginException) as exc:
                raise self._state.stop(
                    "the Instagram session in INSTAGRAM_SESSION_FILE is logged out or expired; "
                    "save a fresh session from a logged-in browser"
                ) from exc
            except ie.AbortDownloadException as exc:
                text = str(exc).lower()
                if '"429 ' in text:
                    reason = "Instagram rate limit (HTTP 429); try again later"
                elif any(w in text for w in ("checkpoint", "challenge", "feedback", "logged out", "401")):
                    reason = (
                        "Instagram challenged or logged out the session in INSTAGRAM_SESSION_FILE; "
                        "open Instagram in that browser, clear the challenge, and save the session again"
                    )
                else:
                    reason = f"Instagram refused further requests ({_short(exc)}); try again later"
                raise self._state.stop(reason) from exc
            except ie.TooManyRequestsException as exc:
                raise self._state.stop("Instagram rate limit (HTTP 429); try again later") from exc
            except ie.QueryReturnedNotFoundException as exc:
                raise MediaGone(f"instaloader: post {reel.post_id} not found (deleted or private)") from exc
            except (ie.ConnectionException, ie.BadResponseException, ie.PostChangedException) as exc:
                raise FetchFailed(f"instaloader: {_short(exc)}") from exc
            except ie.InstaloaderException as exc:
                raise FetchFailed(f"instaloader: {_short(exc)}") from exc
            if not url:
                raise InvalidMedia(f"instaloader: Instagram gave no video URL for {reel.post_id}")
            return Located(url=url)

    def _load(self, instaloader: Any) -> Any:
        loader = instaloader.Instaloader(
            quiet=True,
            download_pictures=False,
            download_videos=False,
            download_video_thumbnails=False,
            download_geotags=False,
            download_comments=False,
            save_metadata=False,
            compress_json=False,
            max_connection_attempts=1,
            request_timeout=self._settings.timeout_s,
            # Abort instead of sleeping for minutes; the reel is retried next run.
            fatal_status_codes=[400, 401, 429],
            iphone_support=False,  # one request per reel; the GraphQL video URL is enough
        )
        # The name only labels the session (Instaloader treats a non-empty name as logged in).
        stem = self._session_file.name
        username = stem.removeprefix("session-") if stem.startswith("session-") else "session"
        loader.load_session_from_file(username, str(self._session_file))
        self._loader = loader
        return loader


class YtDlpFallback:
    """yt-dlp with a Netscape cookies file from a logged-in browser (INSTAGRAM_COOKIES_FILE).

    `params` adds yt-dlp options (tests use it for `nocheckcertificate`). Raises ConfigError at
    construction when the file does not exist.
    """

    name = "yt-dlp"

    def __init__(
        self, cookies_file: str | Path, settings: DownloadSettings, params: Mapping[str, Any] | None = None
    ) -> None:
        self._cookies_file = Path(cookies_file)
        if not self._cookies_file.is_file():
            raise ConfigError(
                "INSTAGRAM_COOKIES_FILE does not name an existing file; export cookies.txt from a "
                "logged-in browser or unset it."
            )
        self._settings = settings
        self._params = dict(params or {})
        self._state = _StandAside(self.name)

    def locate(self, reel: Reel, workdir: Path) -> Located:
        with self._state.lock:
            self._state.check()
            import imageio_ffmpeg
            import yt_dlp

            cookies = workdir / "cookies.txt"  # yt-dlp writes cookies back on close: keep the user's intact
            shutil.copyfile(self._cookies_file, cookies)
            params = {
                "cookiefile": str(cookies),
                "outtmpl": str(workdir / "%(id)s.%(ext)s"),
                "format": "b[ext=mp4][vcodec!=none][acodec!=none]/bv*[ext=mp4]+ba[ext=m4a]/bv*+ba/b",
                "merge_output_format": "mp4",
                "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(),
                "max_filesize": self._settings.max_bytes,
                "socket_timeout": self._settings.timeout_s,
                "retries": 0,
                "extractor_retries": 0,
                "noplaylist": True,
                "cachedir": False,
                "quiet": True,
                "no_warnings": True,
                "noprogress": True,
                "logger": _QuietLogger(),
                **self._params,
            }
            try:
                with yt_dlp.YoutubeDL(params) as ydl:
                    info = ydl.extract_info(reel_page(reel), download=False)
                    if not info:
                        raise FetchFailed("yt-dlp: Instagram sent no media information")
                    for fmt in info.get("requested_formats") or [info]:
                        check_url(str(fmt.get("url", "")), self._settings)
                    ydl.process_info(info)
            except DownloadError:
                raise
            except yt_dlp.utils.DownloadError as exc:
                raise self._translate(exc) from exc
            except yt_dlp.utils.YoutubeDLError as exc:
                raise FetchFailed(f"yt-dlp: {_short(exc)}") from exc
            files = [p for p in workdir.iterdir() if p.suffix in (".mp4", ".m4v", ".mov")]
            if not files:
                raise InvalidMedia("yt-dlp produced no video file (over the size cap, or no video format)")
            return Located(path=max(files, key=lambda p: p.stat().st_size))

    def _translate(self, exc: Exception) -> DownloadError:
        text = str(exc)
        low = text.lower()
        if "rate-limit" in low or "rate limit" in low or "429" in low:
            return self._state.stop("Instagram rate limit; try again later")
        if "cookies" in low and ("no longer valid" in low or "expired" in low):
            return self._state.stop(
                "the cookies in INSTAGRAM_COOKIES_FILE are no longer valid; export them again"
            )
        if "login" in low or "not available" in low or "empty media" in low:
            return FetchFailed(f"yt-dlp: {_short(exc)}")
        if "404" in low or "not found" in low:
            return MediaGone(f"yt-dlp: {_short(exc)}")
        return FetchFailed(f"yt-dlp: {_short(exc)}")


class _QuietLogger:
    """yt-dlp's logger hook: keep its chatter out of the progress bar, keep errors at debug level."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error: %s", msg)


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.removeprefix("ERROR: ")[:200]


def build_fallbacks(
    settings: DownloadSettings, session_file: str | None, cookies_file: str | None
) -> list[Fallback]:
    """The configured fallbacks in `settings.fallbacks` order; one without its credential is left out.

    Raises ConfigError when a credential names a missing file or its library is not installed.
    """
    out: list[Fallback] = []
    for name in settings.fallbacks:
        secret = session_file if name == "instaloader" else cookies_file
        if not secret:
            continue
        module = "instaloader" if name == "instaloader" else "yt_dlp"
        try:
            __import__(module)
        except ImportError as exc:
            raise ConfigError(
                f"The {name} fallback is configured but not installed: pip install 'reels-etl[fallbacks]'."
            ) from exc
        if name == "instaloader":
            out.append(InstaloaderFallback(secret, settings))
        else:
            out.append(YtDlpFallback(secret, settings))
    return out
