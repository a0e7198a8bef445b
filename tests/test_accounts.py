"""Accounts end to end through `reels`: profiles into `account_snapshots` (followers into the labels),
`reels accounts discover` (candidates, their reasons, the actor inputs sent) and `reels accounts rotate`,
against the local fake Apify serving the reel, profile and hashtag scrapers in their item formats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reels.cli import cli
from reels.storage import Cond
from reels.storage.delta import DeltaStore
from reels.storage.tables import ACCOUNT_SNAPSHOTS, ACCOUNTS, REELS, RUNS, SCRAPES
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_actors import World

TOKEN = "apify_api_test_token"
REEL, PROFILE, HASHTAG = (
    "apify/instagram-reel-scraper",
    "apify/instagram-profile-scraper",
    "apify/instagram-hashtag-scraper",
)


@pytest.fixture
def world() -> World:
    w = World(datetime.now(UTC))
    w.account(
        "loafmode",
        followers=52_000,
        related=["purrfectpals", "dogdaily"],
        captions=["Loaf o'clock with @MeowMeowStudio #catsofinstagram", "Sunbeam secured 😺"],
    )
    w.account("purrfectpals", followers=80_000, views=40_000, related=["loafmode"])
    w.account("dogdaily", followers=90_000, bio="Dogs all day", captions=["Good boy at the park #dogs"])
    w.account("meowmeowstudio", private=True)
    w.account("kittycorner", followers=15_000, views=30_000, hashtags=["catreels"])
    w.account("sleepycat", last_post_days_ago=90, hashtags=["catreels"])
    w.account("tinycat", followers=300, hashtags=["catreels"])
    w.tagged["catreels"].append("ghostcat")  # under the hashtag, but its profile is gone
    w.accounts["ghostcat"] = w.accounts["tinycat"]  # (the hashtag scraper still shows its old reel)
    return w


@pytest.fixture
def apify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[FakeApify]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.json").write_text(json.dumps({"username": ["loafmode"]}))

    def profiles(run_input: dict[str, Any]) -> list[dict[str, Any]]:
        return [p for p in world.profiles(run_input) if p.get("username") != "ghostcat"] + [
            {
                "inputUrl": "https://www.instagram.com/ghostcat",
                "error": "not_found",
                "errorDescription": "Page not found",
            }
            for n in run_input["usernames"]
            if n == "ghostcat"
        ]

    with FakeApify(token=TOKEN) as server:
        server.add_actor(REEL, items=world.reels, cost_usd=0.10)
        server.add_actor(PROFILE, items=profiles, cost_usd=0.02)
        server.add_actor(HASHTAG, items=world.hashtag_posts, cost_usd=0.05)
        yield server


def reels(server: FakeApify, *args: str, **env: str) -> Result:
    base = {
        "APIFY_TOKEN": TOKEN,
        "REELS_APIFY__API_URL": server.url,
        "REELS_APIFY__MIN_DELAY_BETWEEN_RETRIES_MS": "1",
        "REELS_ACCOUNTS__HASHTAGS": "catreels",
        "REELS_ACCOUNTS__HASHTAGS_PER_RUN": "1",
        "GEMINI_API_KEY": "",
    }
    return CliRunner().invoke(cli, list(args), env=base | env)


def table(spec: Any) -> dict[str, dict[str, Any]]:
    return {r["username"]: r for r in DeltaStore(Path("lakehouse")).read(spec).to_pylist()}


def inputs(server: FakeApify, actor: str) -> list[Any]:
    key = actor.replace("/", "~")
    return [c.body for c in server.calls("start", "POST") if key in c.path]


def test_profiles_follow_every_apify_ingest_and_followers_reach_the_labels(apify: FakeApify) -> None:
    result = reels(apify, "ingest", "--source", "apify")
    assert result.exit_code == 0, result.output
    assert "profiles  ok 1" in result.output
    assert inputs(apify, PROFILE) == [{"usernames": ["loafmode"], "includeAboutSection": False}]
    (snap,) = DeltaStore(Path("lakehouse")).read(ACCOUNT_SNAPSHOTS).to_pylist()
    assert snap["followers"] == 52_000 and snap["related"] == ["purrfectpals", "dogdaily"]
    assert (
        snap["recent_posts"] == 12
        and snap["recent_reels"] == 9
        and snap["posts_per_week"] == pytest.approx(3.5)
    )
    assert table(ACCOUNTS)["loafmode"]["followers"] == 52_000

    assert reels(apify, "label").exit_code == 0
    labelled = (
        DeltaStore(Path("lakehouse")).read(REELS, where=[Cond("username", "=", "loafmode")]).to_pylist()
    )
    assert labelled and all(r["views_per_follower"] is not None for r in labelled)
    breakout = max(labelled, key=lambda r: r["views"])
    assert breakout["views_per_follower"] == pytest.approx(breakout["views"] / 52_000)


def test_a_failing_profile_actor_never_stops_the_reel_scrape(apify: FakeApify) -> None:
    apify.add_actor(PROFILE, status="FAILED", status_message="blocked")
    result = reels(apify, "ingest", "--source", "apify")
    assert result.exit_code == 0, result.output
    assert "profile scrape failed" in result.output and "ended FAILED" in result.output
    assert DeltaStore(Path("lakehouse")).count(REELS) == 12


def test_discover_finds_scores_and_excludes_with_reasons(apify: FakeApify) -> None:
    assert reels(apify, "ingest", "--source", "apify").exit_code == 0
    result = reels(apify, "accounts", "discover")
    assert result.exit_code == 0, result.output
    accounts = table(ACCOUNTS)
    origin = {n: a["origin"] for n, a in accounts.items()}
    assert origin == {
        "loafmode": "file",
        "purrfectpals": "related:loafmode",
        "dogdaily": "related:loafmode",
        "meowmeowstudio": "mention:loafmode",
        "kittycorner": "hashtag:#catreels",
        "sleepycat": "hashtag:#catreels",
        "tinycat": "hashtag:#catreels",
        "ghostcat": "hashtag:#catreels",
    }
    status = {n: a["status"] for n, a in accounts.items()}
    assert status == {
        "loafmode": "core",
        "purrfectpals": "candidate",
        "kittycorner": "candidate",
        "dogdaily": "excluded",
        "meowmeowstudio": "excluded",
        "sleepycat": "excluded",
        "tinycat": "excluded",
        "ghostcat": "excluded",
    }
    assert accounts["dogdaily"]["reason"].startswith("not a cat account: 0 of ")
    assert accounts["meowmeowstudio"]["reason"] == "private account: its reels cannot be scraped"
    assert accounts["sleepycat"]["reason"].startswith("inactive: last post 90 days ago")
    assert accounts["tinycat"]["reason"] == "too small: 300 followers (< 1,000)"
    assert accounts["ghostcat"]["reason"].startswith("not_found: the profile does not exist")
    # The inputs sent: the hashtag's reels, the candidates' profiles, then a trial of the best two.
    assert inputs(apify, HASHTAG) == [{"hashtags": ["catreels"], "resultsType": "reels", "resultsLimit": 30}]
    candidates = inputs(apify, PROFILE)[-1]["usernames"]
    assert sorted(candidates) == sorted(set(origin) - {"loafmode"})
    trial = inputs(apify, REEL)[-1]
    assert trial == {
        "username": ["kittycorner", "purrfectpals"],  # the best first: more views per follower
        "resultsLimit": 12,
        "skipPinnedPosts": False,
    }
    for name in ("purrfectpals", "kittycorner"):
        signals = json.loads(accounts[name]["signals"])
        assert signals["trial_reels"] == 12 and signals["cat_share"] == 1.0
        assert 0 < accounts[name]["score"] <= 1
    # Paid runs are on the ledger with what they were for; the run is recorded with what it cost.
    purposes = sorted(r["purpose"] for r in DeltaStore(Path("lakehouse")).read(SCRAPES).to_pylist())
    assert purposes == ["candidate-profiles", "hashtags", "profiles", "reels", "trial"]
    run = [
        r for r in DeltaStore(Path("lakehouse")).read(RUNS).to_pylist() if r["command"] == "accounts discover"
    ]
    assert run[0]["status"] == "ok"
    # Discovering again asks nothing already answered: no new profile or trial run for known candidates.
    starts = len(apify.calls("start", "POST"))
    assert reels(apify, "accounts", "discover").exit_code == 0
    assert len(apify.calls("start", "POST")) == starts + 1  # only this week's hashtag scrape


def test_a_failing_hashtag_actor_leaves_the_other_sources(apify: FakeApify) -> None:
    apify.add_actor(HASHTAG, status="FAILED")
    assert reels(apify, "ingest", "--source", "apify").exit_code == 0
    result = reels(apify, "accounts", "discover")
    assert result.exit_code == 0, result.output
    assert "hashtag scrape failed" in result.output
    assert {"purrfectpals", "dogdaily", "meowmeowstudio"} <= set(table(ACCOUNTS))


def test_rotate_fills_the_explore_slots_and_retires_what_went_private(apify: FakeApify, world: World) -> None:
    assert reels(apify, "ingest", "--source", "apify").exit_code == 0
    assert reels(apify, "accounts", "discover").exit_code == 0
    before = table(ACCOUNTS)
    dry = reels(apify, "accounts", "rotate", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing written" in dry.output
    assert "purrfectpals: candidate → explore: rotated in: score" in dry.output
    assert table(ACCOUNTS) == before

    done = reels(apify, "accounts", "rotate")
    assert done.exit_code == 0, done.output
    status = {n: a["status"] for n, a in table(ACCOUNTS).items()}
    assert status["purrfectpals"] == status["kittycorner"] == "explore"
    listed = reels(apify, "accounts").stdout
    assert [line.split()[:2] for line in listed.splitlines()] == [
        ["loafmode", "core"],
        ["kittycorner", "explore"],
        ["purrfectpals", "explore"],
    ]
    # The next scrape asks for the explore accounts too; loafmode's profile has gone private since.
    world.accounts["loafmode"].private = True
    for actor in apify.actors.values():
        actor.finished_at += timedelta(days=7)  # a week later
    assert reels(apify, "ingest", "--source", "apify").exit_code == 0
    assert inputs(apify, REEL)[-1]["username"] == ["loafmode", "kittycorner", "purrfectpals"]
    rotated = reels(apify, "accounts", "rotate")
    assert "loafmode: core → retired: went private" in rotated.output
    assert table(ACCOUNTS)["loafmode"]["retired_at"] is not None


def test_discover_without_a_token_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["accounts", "discover"], env={"APIFY_TOKEN": ""})
    assert result.exit_code == 2
    assert "set APIFY_TOKEN" in result.output and "Traceback" not in result.output


def test_the_scheduled_job_discovers_and_rotates_once_per_period(apify: FakeApify) -> None:
    assert reels(apify, "ingest", "--source", "apify").exit_code == 0
    assert reels(apify, "accounts", "discover", "--if-due").exit_code == 0
    starts = len(apify.calls("start", "POST"))
    again = reels(apify, "accounts", "discover", "--if-due")
    assert again.exit_code == 0 and "not due: `reels accounts discover` ran at" in again.output
    assert len(apify.calls("start", "POST")) == starts  # nothing paid
    assert "rotated in" in reels(apify, "accounts", "rotate", "--if-due").output
    assert "not due" in reels(apify, "accounts", "rotate", "--if-due").output
