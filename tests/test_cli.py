"""The `reels` command's surface: exit statuses, one-sentence errors, and stages run alone."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reels.cli import cli
from reels.storage.delta import DeltaStore
from reels.storage.tables import QUARANTINE, REELS, RUNS


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray reels.toml or .env from the developer's folder
    for name in ("APIFY_TOKEN", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_lists_every_command() -> None:
    out = invoke("--help").output
    for name in ("run", "ingest", "label", "download", "analyze", "insights", "report", "status"):
        assert name in out


def test_status_on_an_empty_lake(workdir: Path) -> None:
    result = invoke("status")
    assert result.exit_code == 0
    assert "none yet" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ingest", "--source", "apify"], {}, "APIFY_TOKEN"),
        (["ingest", "--source", "nope.json"], {}, "no such file"),
        (["analyze", "--analyzer", "gemini"], {}, "GEMINI_API_KEY"),
        (["status", "--config", "missing.toml"], {}, "does not exist"),
        (["status"], {"REELS_DOWNLOAD__CONCURRENCY": "-1"}, "[download] concurrency must be greater than 0"),
        (["label", "--analyzer", "magic"], {}, "Invalid value"),
        (["insights"], {"REELS_INSIGHTS__PLAYBOOK": "gemini"}, "GEMINI_API_KEY"),
        (["run"], {"REELS_INSIGHTS__PLAYBOOK": "gemini"}, "GEMINI_API_KEY"),
        (["insights"], {"REELS_INSIGHTS__FDR": "1.5"}, "[insights] fdr must be between 0 and 1"),
        (["insights"], {"REELS_INSIGHTS__MIN_ACCOUNTS": "1"}, "min_accounts must be at least 2"),
    ],
)
def test_configuration_errors_exit_2_with_one_sentence(
    workdir: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("items.json", "{not json", "not valid JSON"),
        ("items.json", '{"a": 1}', "must hold a JSON array"),
        ("items.csv", "title,likes\nmy cat,3\nhis cat,4\n", "None of the 2 items of items.csv is a reel"),
        ("items.jsonl", b"\xff\xfe\x00garbage", "not UTF-8 text"),
        ("items.txt", "x", "use .json, .jsonl or .csv"),
    ],
)
def test_a_source_file_that_cannot_be_used_exits_2_with_what_to_fix(
    workdir: Path, name: str, content: str | bytes, message: str
) -> None:
    path = workdir / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(cli, ["ingest", "--source", name])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output and "Errno" not in result.output


def test_paths_of_the_wrong_kind_and_a_dataset_without_a_token_exit_2(workdir: Path) -> None:
    (workdir / "afile").write_text("x")
    (workdir / "afolder").mkdir()
    cases = [
        (["status", "--lake", "afile"], "--lake afile is a file"),
        (["report", "--report", "afolder"], "--report afolder is a folder"),
        (["ingest", "--dataset-id", "abc"], "--dataset-id reads an Apify dataset: set APIFY_TOKEN"),
        (["ingest", "--dataset-id", "abc", "--source", "sample"], "drop --source sample or --dataset-id"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not (workdir / "lakehouse").exists()  # nothing was loaded anywhere


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("reels, version ")


def test_ingest_and_label_from_a_file_quarantine_bad_items(workdir: Path) -> None:
    good = {
        "shortCode": "AbCdEfGhIjK",
        "ownerUsername": "loaf",
        "timestamp": "2026-11-01T00:00:00.000Z",
        "videoPlayCount": 5000,
        "likesCount": -1,
        "commentsCount": 3,
        "type": "Video",
    }
    items = [good, {"error": "no_items", "inputUrl": "https://www.instagram.com/x"}, {"shortCode": "?"}]
    (workdir / "items.json").write_text(json.dumps(items))
    result = invoke("ingest", "--source", "items.json")
    assert result.exit_code == 0, result.output
    assert "items 3" in result.output and "quarantined 2" in result.output
    assert invoke("label").exit_code == 0
    store = DeltaStore(workdir / "lakehouse")
    (reel,) = store.read(REELS).to_pylist()
    assert reel["likes"] is None and reel["virality_label"] == "insufficient_data"
    assert store.read(QUARANTINE).num_rows == 2
    assert [r["status"] for r in store.read(RUNS).to_pylist()] == ["ok", "ok"]


def test_piped_output_gets_a_progress_line_on_a_timer(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from reels.cli.session import _progress_lines

    with _progress_lines("analyze (gemini)", 10, every_s=0.1) as advance:
        advance(3)
        time.sleep(0.35)  # nothing finishes meanwhile: the lines still come
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(line.startswith("analyze (gemini): 3/10 after ") for line in lines)
