"""ApifySource against a local fake of the Apify API, through the real `apify-client` and its transport."""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reels.accounts.names import normalise_account, read_accounts, write_accounts
from reels.config import ApifySettings
from reels.errors import ConfigError, SourceError
from reels.sources.apify import ApifySource, actor_input
from reels.sources.ingest import parse_items
from tests.fakes.apify_server import FINISHED_AT, FakeApify

ACTOR = "apify/instagram-reel-scraper"
TOKEN = "test-token"
ACCOUNTS = ["whiskerdiaries", "purrfectpals"]


def reel_item(n: int, username: str = "whiskerdiaries") -> dict[str, Any]:
    code = f"DQx{n:06d}"
    return {
        "inputUrl": f"https://www.instagram.com/{username}",
        "type": "Video",
        "shortCode": code,
        "url": f"https://www.instagram.com/p/{code}/",
        "caption": f"cat {n} #catsofinstagram",
        "hashtags": ["catsofinstagram"],
        "videoPlayCount": 1000 + n,
        "likesCount": 10 + n,
        "commentsCount": n,
        "timestamp": "2026-11-03T17:42:09.000Z",
        "ownerUsername": username,
        "productType": "clips",
        "videoUrl": f"https://scontent-fra3-2.cdninstagram.com/o1/v/{code}.mp4?oe=6B0DB876",
    }


ERROR_ROWS = [
    {
        "inputUrl": "https://www.instagram.com/private_kitty_club",
        "error": "no_items",
        "errorDescription": "Empty or private data for provided input",
    },
    {
        "url": "https://www.instagram.com/reel/Gone123/",
        "error": "not_found",
        "errorDescription": "Post does not exist",
    },
    {
        "url": "https://www.instagram.com/p/Restr123/",
        "error": "restricted_page",
        "errorDescription": "Restricted access, only partial data available",
    },
]


@pytest.fixture
def apify() -> Iterator[FakeApify]:
    with FakeApify(token=TOKEN) as server:
        yield server


def settings_for(server: FakeApify | str, **changes: Any) -> ApifySettings:
    """Settings pointing the real client at the fake, with retry delays kept tiny."""
    url = server if isinstance(server, str) else server.url
    values: dict[str, Any] = {
        "api_url": url,
        "max_retries": 2,
        "min_delay_between_retries_ms": 1,
        "timeout_s": 5.0,
        "run_timeout_s": 60,
    }
    return ApifySettings(**(values | changes))


def scrape_all(source: ApifySource) -> list[Any]:
    return list(source.scrapes())


# --- a run ---------------------------------------------------------------------------------------------


def test_a_multi_page_dataset_comes_back_whole_and_in_order(apify: FakeApify) -> None:
    items = [reel_item(n) for n in range(250)]
    apify.add_actor(ACTOR, items=items, running_polls=1, cost_usd=0.26)
    settings = settings_for(apify)
    newer_than = datetime(2026, 11, 2, 23, tzinfo=UTC)
    source = ApifySource(settings, TOKEN, ACCOUNTS, newer_than, page_size=100)

    (scrape,) = scrape_all(source)

    assert scrape.items == items
    assert scrape.source == "apify:RUN001"
    assert scrape.scraped_at == FINISHED_AT and scrape.scraped_at.tzinfo == UTC
    assert source.run is not None and source.run.cost_usd == 0.26 and source.run.dataset_id == "DS001"
    (start,) = apify.calls("start")
    assert start.path == "/v2/actors/apify~instagram-reel-scraper/runs"
    assert start.query == {"memory": "1024", "timeout": "60"}
    assert start.headers["authorization"] == f"Bearer {TOKEN}"
    assert start.body == actor_input(settings, ACCOUNTS, newer_than)
    assert start.body["onlyPostsNewerThan"] == "2026-11-02"
    polls = apify.calls("run")
    assert len(polls) == 2 and all("waitForFinish" in p.query for p in polls)
    pages = [(c.query["offset"], c.query["limit"]) for c in apify.calls("items")]
    assert pages == [("0", "100"), ("100", "100"), ("200", "100"), ("250", "100")]
    # logger=None: no log stream, no status watcher, no actor lookup.
    assert {c.route for c in apify.requests} == {"runs", "start", "run", "items"}  # runs: see _start


def test_error_rows_pass_through_and_ingest_accounts_for_every_item(apify: FakeApify) -> None:
    items = [reel_item(0), ERROR_ROWS[0], reel_item(1), ERROR_ROWS[1], ERROR_ROWS[2], reel_item(2)]
    apify.add_actor(ACTOR, items=items)

    (scrape,) = scrape_all(ApifySource(settings_for(apify), TOKEN, ACCOUNTS))

    assert scrape.items == items
    batch = parse_items(scrape.items, source=scrape.source, scraped_at=scrape.scraped_at, run_id="r1")
    assert len(batch.reels) + len(batch.quarantine) == len(items)
    assert len(batch.reels) == 3 and {q.kind for q in batch.quarantine} == {"error_row"}


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "TIMED-OUT"])
def test_a_run_that_did_not_succeed_raises_with_its_id_and_status(apify: FakeApify, status: str) -> None:
    apify.add_actor(ACTOR, items=[reel_item(0)], status=status, status_message="Instagram blocked us")
    source = ApifySource(settings_for(apify), TOKEN, ACCOUNTS)
    yielded = []

    with pytest.raises(SourceError) as caught:
        yielded.extend(source.scrapes())

    assert yielded == []
    assert "RUN001" in str(caught.value) and status in str(caught.value)
    assert "Instagram blocked us" in str(caught.value)
    assert source.run is not None and source.run.status == status
    assert apify.calls("items") == []


def test_rate_limit_then_server_error_then_success_is_retried(apify: FakeApify) -> None:
    items = [reel_item(n) for n in range(30)]
    apify.add_actor(ACTOR, items=items)
    apify.fail("start", 429, 500)
    apify.fail("items", 503)

    (scrape,) = scrape_all(ApifySource(settings_for(apify), TOKEN, ACCOUNTS, page_size=10))

    assert scrape.items == items
    assert len(apify.calls("start")) == 3 and len(apify.runs) == 1
    offsets = [c.query["offset"] for c in apify.calls("items")]
    assert offsets == ["0", "0", "10", "20", "30"]


def test_server_errors_beyond_the_retries_are_a_source_error(apify: FakeApify) -> None:
    apify.add_actor(ACTOR, items=[reel_item(0)])
    apify.fail("run", 500, 502, 503)

    with pytest.raises(SourceError, match=r"HTTP 503 .* after 3 attempt"):
        scrape_all(ApifySource(settings_for(apify, max_retries=2), TOKEN, ACCOUNTS))


def test_an_invalid_token_is_a_config_error_that_does_not_show_the_token(apify: FakeApify) -> None:
    apify.add_actor(ACTOR, items=[reel_item(0)])
    wrong = "apify_api_wrongTOKEN123"

    with pytest.raises(ConfigError, match="APIFY_TOKEN") as caught:
        scrape_all(ApifySource(settings_for(apify), wrong, ACCOUNTS))

    assert wrong not in str(caught.value)
    assert len(apify.requests) == 1  # a 401 is not retried (the first request, listing runs, gets it)
    assert apify.runs == {}


def test_an_unknown_actor_is_a_config_error(apify: FakeApify) -> None:
    settings = settings_for(apify, actor_id="nobody/no-such-actor")

    with pytest.raises(ConfigError, match=r"no actor 'nobody/no-such-actor'.*\[apify\] actor_id"):
        scrape_all(ApifySource(settings, TOKEN, ACCOUNTS))

    assert apify.requests[0].path == "/v2/actors/nobody~no-such-actor/runs" and not apify.calls("start")


def test_an_input_the_api_rejects_is_a_config_error(apify: FakeApify) -> None:
    apify.add_actor(ACTOR)
    apify.fail("start", (400, "invalid-input", "Field input.resultsLimit must be <= 1000"))

    with pytest.raises(ConfigError, match=r"resultsLimit must be <= 1000"):
        scrape_all(ApifySource(settings_for(apify), TOKEN, ACCOUNTS))


def test_a_refused_connection_is_a_source_error_naming_the_endpoint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()

    with pytest.raises(SourceError, match=r"Cannot reach the Apify API at .*\[apify\] api_url"):
        scrape_all(ApifySource(settings_for(url, max_retries=0), TOKEN, ACCOUNTS))

    assert time.monotonic() - started < 5


def test_an_api_that_does_not_answer_in_time_is_a_source_error(apify: FakeApify) -> None:
    apify.add_dataset("ds1", [reel_item(0)])
    apify.delay("items", 2.0)
    settings = settings_for(apify, timeout_s=0.2, max_retries=0)

    with pytest.raises(SourceError, match=r"did not answer in time.*\[apify\] timeout_s"):
        scrape_all(ApifySource(settings, TOKEN, [], dataset_id="ds1"))


def test_a_large_input_is_gzipped_and_arrives_intact(apify: FakeApify) -> None:
    apify.add_actor(ACTOR, items=lambda run_input: [reel_item(n) for n in range(len(run_input["username"]))])
    accounts = [f"cat_account_number_{n:03d}" for n in range(80)]
    settings = settings_for(apify)

    (scrape,) = scrape_all(ApifySource(settings, TOKEN, accounts))

    (start,) = apify.calls("start")
    assert start.headers.get("content-encoding") == "gzip"
    assert start.body == actor_input(settings, accounts, None)
    assert len(scrape.items) == 80


def test_the_fake_routes_the_legacy_acts_path_and_checks_the_token(apify: FakeApify) -> None:
    apify.add_actor(ACTOR)
    body = gzip.compress(json.dumps({"username": ["cata"]}).encode())

    def post(token: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{apify.url}/v2/acts/apify~instagram-reel-scraper/runs?memory=256",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    status, error = post("wrong")
    assert status == 401 and error["error"]["type"] == "token-not-valid"
    status, run = post(TOKEN)
    assert status == 201 and run["data"]["options"]["memoryMbytes"] == 256
    assert apify.runs[run["data"]["id"]].input == {"username": ["cata"]}


# --- an existing dataset -------------------------------------------------------------------------------


def test_a_dataset_id_reads_that_dataset_without_starting_a_run(apify: FakeApify) -> None:
    items = [reel_item(n) for n in range(5)] + ERROR_ROWS
    modified = datetime(2026, 11, 10, 8, 30, tzinfo=UTC)
    apify.add_dataset("dsOld42", items, modified_at=modified)

    (scrape,) = scrape_all(ApifySource(settings_for(apify), TOKEN, [], dataset_id="dsOld42"))

    assert scrape.items == items
    assert scrape.source == "apify:dataset:dsOld42"
    assert scrape.scraped_at == modified
    assert apify.calls(method="POST") == []
    items_url = "/v2/datasets/dsOld42/items"
    assert [c.path for c in apify.requests] == ["/v2/datasets/dsOld42", items_url, items_url]


def test_an_unknown_dataset_id_is_a_config_error(apify: FakeApify) -> None:
    with pytest.raises(ConfigError, match=r"no dataset 'nope'.*--dataset-id"):
        scrape_all(ApifySource(settings_for(apify), TOKEN, [], dataset_id="nope"))


def test_no_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="APIFY_TOKEN is not set"):
        ApifySource(ApifySettings(), "", ACCOUNTS)


def test_the_token_is_not_in_the_repr() -> None:
    assert "sekrit" not in repr(ApifySource(ApifySettings(), "sekrit", ACCOUNTS))


# --- the actor input -----------------------------------------------------------------------------------


def test_actor_input_without_a_cutoff() -> None:
    settings = ApifySettings(results_limit=12, skip_pinned_posts=True)

    assert actor_input(settings, ["@WhiskerDiaries", "https://www.instagram.com/purrfectpals/"], None) == {
        "username": ["whiskerdiaries", "purrfectpals"],
        "resultsLimit": 12,
        "skipPinnedPosts": True,
    }


@pytest.mark.parametrize(
    ("newer_than", "expected"),
    [
        (datetime(2026, 11, 2, 23, 59, tzinfo=UTC), "2026-11-02"),
        (datetime(2026, 11, 3, 1, 0, tzinfo=timezone(timedelta(hours=3))), "2026-11-02"),  # 22:00 UTC
        (datetime(2026, 11, 2, 6, 0), "2026-11-02"),  # naive = UTC
    ],
)
def test_actor_input_with_a_cutoff_sends_its_utc_date(newer_than: datetime, expected: str) -> None:
    payload = actor_input(ApifySettings(), ACCOUNTS, newer_than)

    assert payload["onlyPostsNewerThan"] == expected
    assert payload["resultsLimit"] == 30 and payload["skipPinnedPosts"] is False


def test_actor_input_needs_an_account() -> None:
    with pytest.raises(ConfigError, match="No Instagram accounts"):
        actor_input(ApifySettings(), [], None)


# --- the accounts file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("whiskerdiaries", "whiskerdiaries"),
        ("@Whisker.Diaries_", "whisker.diaries_"),
        ("https://www.instagram.com/whiskerdiaries/", "whiskerdiaries"),
        ("https://instagram.com/whiskerdiaries?igsh=abc", "whiskerdiaries"),
        ("www.instagram.com/whiskerdiaries", "whiskerdiaries"),
        ("  whiskerdiaries ", "whiskerdiaries"),
        ("51234567890", "51234567890"),
        # The actor accepts a reel's URL in `username` too: kept as it is.
        ("https://www.instagram.com/reel/DQx7KpLmN2a/", "https://www.instagram.com/reel/DQx7KpLmN2a/"),
    ],
)
def test_normalise_account(given: str, expected: str) -> None:
    assert normalise_account(given) == expected


@pytest.mark.parametrize("bad", ["", "@", "not a name", "cats/dogs"])
def test_normalise_account_rejects_what_is_not_an_account(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalise_account(bad)


def test_read_accounts_from_an_actor_input_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            {
                "username": ["@catA", "https://www.instagram.com/catb/", "cata", "catc"],
                "resultsLimit": 30,
                "skipTrialReels": True,
            }
        )
    )

    assert read_accounts(path) == ["cata", "catb", "catc"]


def test_read_accounts_from_a_plain_list_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    assert read_accounts(path) == []
    path.write_text('["catA", "@catb", "catb"]')
    assert read_accounts(path) == ["cata", "catb"]


@pytest.mark.parametrize("text", ["{not json", '"cats"', '{"username": "cats"}', "[1, 2]"])
def test_read_accounts_rejects_other_shapes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(text)

    with pytest.raises(ConfigError, match="accounts"):
        read_accounts(path)


def test_write_accounts_keeps_the_other_keys_of_an_actor_input(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"username": ["cata"], "resultsLimit": 30, "skipTrialReels": True}))

    write_accounts(path, ["cata", "@CatB", "https://www.instagram.com/catc/", "catb"])

    assert json.loads(path.read_text()) == {
        "username": ["cata", "catb", "catc"],
        "resultsLimit": 30,
        "skipTrialReels": True,
    }
    assert [p.name for p in tmp_path.iterdir()] == ["accounts.json"]  # no temporary file left


def test_write_accounts_writes_a_plain_list_for_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "accounts.json"

    write_accounts(path, ["@catA", "cata"])

    assert json.loads(path.read_text()) == ["cata"]
    assert read_accounts(path) == ["cata"]
