import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reels.config.fields import field_map
from reels.sources.file import read_items
from reels.sources.ingest import link_expiry, parse_items

T = datetime(2026, 11, 16, 6, tzinfo=UTC)


def reel_item(**changes: Any) -> dict[str, Any]:
    item = {
        "inputUrl": "https://www.instagram.com/whiskerdiaries",
        "id": "3751928374650192837",
        "type": "Video",
        "shortCode": "DQx7KpLmN2a",
        "caption": "He heard the treat bag 😹 #catsofinstagram",
        "hashtags": ["catsofinstagram"],
        "url": "https://www.instagram.com/p/DQx7KpLmN2a/",
        "commentsCount": 412,
        "likesCount": 58213,
        "videoViewCount": 301877,
        "videoPlayCount": 1294410,
        "timestamp": "2026-11-03T17:42:09.000Z",
        "ownerUsername": "whiskerdiaries",
        "productType": "clips",
        "videoDuration": 14.533,
        "videoUrl": "https://scontent-fra3-2.cdninstagram.com/o1/v/AQM.mp4?stp=dst-mp4&oe=690DB876&_nc_sid=10d13b",
        "musicInfo": {"artist_name": "whiskerdiaries", "song_name": "Original audio"},
        "isPinned": False,
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not DROP}


DROP = object()


def parse(items: list[Any]):  # type: ignore[no-untyped-def]
    return parse_items(items, source="test", scraped_at=T, run_id="r1")


def test_a_good_item_becomes_a_typed_reel() -> None:
    (reel,) = parse([reel_item()]).reels
    assert reel.post_id == "DQx7KpLmN2a"
    assert reel.views == 1294410 and reel.views_field == "videoPlayCount"
    assert reel.posted_at == datetime(2026, 11, 3, 17, 42, 9, tzinfo=UTC)
    assert reel.media_url_expires_at == datetime(2025, 11, 7, 9, 14, 30, tzinfo=UTC)
    assert reel.music == "whiskerdiaries - Original audio"


def test_hidden_likes_become_null_not_zero() -> None:
    (reel,) = parse([reel_item(likesCount=-1)]).reels
    assert reel.likes is None


def test_views_fall_back_and_record_the_field() -> None:
    (reel,) = parse([reel_item(videoPlayCount=DROP)]).reels
    assert (reel.views, reel.views_field) == (301877, "videoViewCount")
    (reel,) = parse([reel_item(videoPlayCount=DROP, videoViewCount=DROP)]).reels
    assert (reel.views, reel.views_field) == (None, None)


# (item, quarantine kind, words of the reason)
ODD_ITEMS: list[tuple[Any, str, str]] = [
    (
        {
            "inputUrl": "https://www.instagram.com/private_kitty",
            "error": "no_items",
            "errorDescription": "Empty or private data for provided input",
        },
        "error_row",
        "no_items",
    ),
    (
        {
            "url": "https://www.instagram.com/reel/abc/",
            "error": "not_found",
            "errorDescription": "Post does not exist",
        },
        "error_row",
        "not_found",
    ),
    (
        {"url": "https://www.instagram.com/p/xyz/", "error": "restricted_page", "description": "71 likes"},
        "error_row",
        "restricted_page",
    ),
    (reel_item(shortCode=DROP), "invalid", "missing shortCode"),
    (reel_item(shortCode=""), "invalid", "missing shortCode"),
    (reel_item(shortCode="bad code!"), "invalid", "not an Instagram shortcode"),
    (reel_item(shortCode=12345678901), "invalid", "shortCode must be a string"),
    (reel_item(ownerUsername=DROP), "invalid", "missing ownerUsername"),
    (reel_item(timestamp=DROP), "invalid", "timestamp"),
    (reel_item(timestamp="last tuesday"), "invalid", "not an ISO-8601 timestamp"),
    (reel_item(timestamp="2026-11-03T17:42:09"), "invalid", "no time zone"),
    (reel_item(timestamp=1730000000), "invalid", "timestamp"),
    (reel_item(videoPlayCount="1.2M"), "invalid", "videoPlayCount must be a whole number"),
    (reel_item(videoPlayCount=-5), "invalid", "must not be negative"),
    (reel_item(videoPlayCount=12.5), "invalid", "whole number"),
    (reel_item(videoPlayCount=True), "invalid", "whole number"),
    (reel_item(likesCount=-2), "invalid", "likesCount must not be negative"),
    (reel_item(commentsCount=-1), "invalid", "commentsCount must not be negative"),
    (reel_item(commentsCount="many"), "invalid", "commentsCount"),
    (reel_item(videoDuration="long"), "invalid", "videoDuration"),
    (reel_item(hashtags="cats"), "invalid", "hashtags must be a list"),
    (reel_item(isPinned="yes"), "invalid", "isPinned must be true or false"),
    (reel_item(musicInfo="song"), "invalid", "musicInfo must be an object"),
    (reel_item(type="Image"), "invalid", "not a reel"),
    (reel_item(type="Sidecar"), "invalid", "not a reel"),
    (reel_item(caption=["list"]), "invalid", "caption must be a string"),
    (reel_item(videoUrl=42), "invalid", "videoUrl must be a string"),
    ("just a string", "invalid", "not a JSON object"),
    (None, "invalid", "not a JSON object"),
    ([1, 2], "invalid", "not a JSON object"),
]


@pytest.mark.parametrize(("item", "kind", "reason"), ODD_ITEMS)
def test_odd_items_are_quarantined_with_their_reason(item: Any, kind: str, reason: str) -> None:
    batch = parse([item])
    assert batch.reels == []
    (q,) = batch.quarantine
    assert q.kind == kind
    assert reason in q.reason
    assert json.loads(q.raw) == item  # kept whole


ODD_BUT_USABLE: list[dict[str, Any]] = [
    reel_item(caption=DROP),
    reel_item(caption=""),
    reel_item(hashtags=DROP),
    reel_item(musicInfo=DROP),
    reel_item(isPinned=True),
    reel_item(likesCount=-1),
    reel_item(videoUrl=DROP),
    reel_item(videoUrl="https://cdn.example/x.mp4?oe=zz"),  # unreadable expiry: unknown, not an error
    reel_item(type=DROP, productType=DROP),
    reel_item(videoPlayCount=0),
    reel_item(timestamp="2026-11-03T19:42:09+02:00"),
]


@pytest.mark.parametrize("item", ODD_BUT_USABLE)
def test_odd_but_usable_items_become_reels(item: dict[str, Any]) -> None:
    batch = parse([item])
    assert len(batch.reels) == 1 and batch.quarantine == []


def test_nothing_is_lost_and_duplicates_are_quarantined() -> None:
    items = [o[0] for o in ODD_ITEMS] + ODD_BUT_USABLE[:1] + [reel_item(shortCode="OtherCode01"), reel_item()]
    batch = parse(items)
    assert len(batch.reels) + len(batch.quarantine) == len(items)
    assert [q.kind for q in batch.quarantine].count("duplicate") == 1
    assert len(batch.snapshots) == len(batch.reels)


def test_error_rows_are_counted_per_input() -> None:
    batch = parse([ODD_ITEMS[0][0], ODD_ITEMS[0][0], reel_item()])
    assert batch.errors_by_input == {("https://www.instagram.com/private_kitty", "no_items"): 2}


def test_link_expiry() -> None:
    assert link_expiry("https://x/y.mp4?oe=690DB876") == datetime(2025, 11, 7, 9, 14, 30, tzinfo=UTC)
    assert link_expiry("https://x/y.mp4") is None
    assert link_expiry(None) is None


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_file_formats_give_the_same_reels(tmp_path: Path, suffix: str) -> None:
    items = [reel_item(), reel_item(shortCode="OtherCode01", likesCount=-1, hashtags=["a", "b"])]
    path = tmp_path / f"items{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(items))
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(i) for i in items) + "\nnot json\n")
    else:
        columns = [
            "shortCode",
            "ownerUsername",
            "timestamp",
            "videoPlayCount",
            "likesCount",
            "commentsCount",
            "hashtags/0",
            "hashtags/1",
            "musicInfo/song_name",
            "isPinned",
            "videoDuration",
        ]
        lines = [",".join(columns)]
        lines.append(
            "DQx7KpLmN2a,whiskerdiaries,2026-11-03T17:42:09.000Z,1294410,58213,412,catsofinstagram,,x,false,14.533"
        )
        lines.append("OtherCode01,whiskerdiaries,2026-11-03T17:42:09.000Z,1294410,-1,412,a,b,x,false,14.533")
        path.write_text("\n".join(lines) + "\n")
    batch = parse(read_items(path))
    assert {r.post_id: r.likes for r in batch.reels} == {"DQx7KpLmN2a": 58213, "OtherCode01": None}
    assert next(r for r in batch.reels if r.post_id == "OtherCode01").hashtags == ["a", "b"]
    if suffix == ".jsonl":
        assert batch.quarantine[0].reason.startswith("item is not a JSON object")


def test_the_field_map_is_data_that_config_can_change() -> None:
    fields = field_map({"views": "videoViewCount", "username": "owner"})
    item = reel_item(ownerUsername=DROP, owner="renamed_cat")
    (reel,) = parse_items([item], source="t", scraped_at=T, run_id="r", fields=fields).reels
    assert (reel.views, reel.views_field, reel.username) == (301877, "videoViewCount", "renamed_cat")
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        field_map({"nope": "x"})
