import dataclasses
import re
import tomllib
import typing
from pathlib import Path

import pytest

from reels import config
from reels.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_example_file_loads_and_equals_the_defaults() -> None:
    assert config.load(ROOT / "reels.example.toml", environ={}) == config.Settings()


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    toml = tmp_path / "reels.toml"
    toml.write_text('[download]\nconcurrency = 3\ntimeout_s = 5\n[apify]\napi_url = "http://file"\n')
    env = {"REELS_DOWNLOAD__CONCURRENCY": "7", "REELS_APIFY__API_URL": "http://env"}
    flags = {"apify": {"api_url": "http://flag"}}
    s = config.load(toml, environ=env, overrides=flags)
    assert s.download.timeout_s == 5.0  # file over default
    assert s.download.concurrency == 7  # environment over file
    assert s.apify.api_url == "http://flag"  # flag over environment
    assert s.download.max_bytes == 200_000_000  # default kept


def test_environment_list_and_bool() -> None:
    env = {"REELS_DOWNLOAD__ALLOWED_HOSTS": "127.0.0.1, example.test", "REELS_DOWNLOAD__ALLOW_HTTP": "true"}
    s = config.load(None, environ=env)
    assert s.download.allowed_hosts == ("127.0.0.1", "example.test")
    assert s.download.allow_http is True


def test_unset_flags_do_not_override(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[paths]\nlake = "elsewhere"\n')
    assert config.load(toml, environ={}, overrides={"paths": {"lake": None}}).paths.lake == Path("elsewhere")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[download]\nconcurrency = 0\n", {}, "[download] concurrency must be greater than 0"),
        ('[download]\nconcurrency = "many"\n', {}, "[download] concurrency (from"),
        ("[download]\nspeed = 1\n", {}, "Unknown key [download] speed"),
        ("[nonsense]\na = 1\n", {}, "Unknown config section [nonsense]"),
        (
            "",
            {"REELS_DOWNLOAD__ALLOW_HTTP": "maybe"},
            "[download] allow_http (from environment) must be true or false",
        ),
        ("", {"REELS_ANALYZE__ANALYZER": "magic"}, "[analyze] analyzer must be auto, gemini or local"),
        ("not toml = = 1", {}, "is not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    toml = tmp_path / "reels.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(toml, environ=env)
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", environ={})


def test_secrets_from_environment_and_dotenv_never_in_repr(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("APIFY_TOKEN=from-file\nGEMINI_API_KEY=key-from-file\n")
    secrets = config.load_secrets({"GEMINI_API_KEY": "key-from-env"}, dotenv=dotenv)
    assert secrets.apify_token == "from-file"
    assert secrets.gemini_api_key == "key-from-env"  # the environment wins over .env
    assert "key-from-env" not in repr(secrets) and "from-file" not in repr(secrets)


def test_ingest_field_overrides_are_checked(tmp_path: Path) -> None:
    toml = tmp_path / "reels.toml"
    toml.write_text('[ingest]\nfields = {views = "videoViewCount", bogus = "x"}\n')
    with pytest.raises(ConfigError, match=r"\[ingest\] fields: unknown column 'bogus'"):
        config.load(toml, environ={})


def test_the_example_config_documents_every_key() -> None:
    """Every settings key is in reels.example.toml: set to its default, or commented out when unset."""
    text = (ROOT / "reels.example.toml").read_text(encoding="utf-8")
    example = tomllib.loads(text)
    missing = []
    for section in dataclasses.fields(config.Settings):
        cls = typing.get_type_hints(config.Settings)[section.name]
        for key in (f.name for f in dataclasses.fields(cls)):
            commented = re.search(rf"^# {key} = ", text, re.M)
            if key not in example.get(section.name, {}) and not commented:
                missing.append(f"[{section.name}] {key}")
    assert missing == []
