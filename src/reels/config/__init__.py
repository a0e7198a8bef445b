"""Settings: defaults → TOML file → `REELS_<SECTION>__<KEY>` environment → flags, into one frozen object.

- `settings`: the tree of sections, each a frozen dataclass that checks its values;
- `fields`: which raw scraper field or export header feeds which column (data users may override);
- `load`: the one reader of the config file and the environment, with each key's origin in its errors;
- `secrets`: credentials, from the environment or a Databricks secret scope, kept apart and never printed.

Settings import nothing from the stages: the stages import them.
"""

from reels.config.load import DEFAULT_CONFIG, load
from reels.config.secrets import Secrets, load_secrets
from reels.config.settings import (
    AccountsSettings,
    AdsSettings,
    AnalyzeSettings,
    ApifySettings,
    DownloadSettings,
    GeminiSettings,
    IngestSettings,
    InsightsSettings,
    LabelSettings,
    PathSettings,
    Settings,
    SourceSettings,
    StorageSettings,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AccountsSettings",
    "AdsSettings",
    "AnalyzeSettings",
    "ApifySettings",
    "DownloadSettings",
    "GeminiSettings",
    "IngestSettings",
    "InsightsSettings",
    "LabelSettings",
    "PathSettings",
    "Secrets",
    "Settings",
    "SourceSettings",
    "StorageSettings",
    "load",
    "load_secrets",
]
