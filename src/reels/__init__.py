"""reels-etl: scrape cat Reels, label virality per account, download and analyze videos, explain what wins.

The library is the product; the `reels` command is a thin shell over it. The stages are the functions of
`reels.pipeline` (ingest, label, download, analyze, insights, report), each over a `reels.pipeline.Job`.
"""

from reels.config import Secrets, Settings, load, load_secrets
from reels.errors import ConfigError, ReelsError

__all__ = ["ConfigError", "ReelsError", "Secrets", "Settings", "load", "load_secrets"]
