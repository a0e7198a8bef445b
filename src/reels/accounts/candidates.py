"""Where candidate accounts come from: related profiles of tracked accounts, owners of top reels under the
configured cat hashtags, and accounts mentioned in tracked captions. Each is recorded with its origin
(`related:<user>`, `hashtag:#<tag>`, `mention:<user>`); an account already known keeps its row."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from reels.records import Account, AccountSnapshot, HashtagPost

# @name in a caption: Instagram usernames are letters, digits, "." and "_", up to 30, not ending in ".".
_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_](?:[A-Za-z0-9._]{0,28}[A-Za-z0-9_])?)")


def related(snapshots: Iterable[AccountSnapshot]) -> dict[str, str]:
    """username → origin, from the related profiles of the given (tracked) accounts' snapshots."""
    return {name: f"related:{s.username}" for s in snapshots for name in s.related}


def hashtag_owners(posts: Iterable[HashtagPost]) -> dict[str, str]:
    """username → origin, the owners of the posts found under hashtags, the most viewed post first."""
    ranked = sorted(posts, key=lambda p: -(p.views or 0))
    return {p.owner: f"hashtag:#{p.hashtag}" for p in reversed(ranked)}  # the top post's tag wins


def mentioned(captions: Iterable[tuple[str, str]]) -> dict[str, str]:
    """username → origin, from (author, caption) pairs of tracked reels; an author never mentions itself."""
    found: dict[str, str] = {}
    for author, caption in captions:
        for name in _MENTION.findall(caption or ""):
            name = name.lower()
            if name != author:
                found.setdefault(name, f"mention:{author}")
    return found


def new_candidates(found: Mapping[str, str], known: Iterable[str], now: datetime) -> list[Account]:
    """A `candidate` row for every found username not already in the accounts table."""
    seen = set(known)
    return [
        Account(name, "candidate", origin, now, f"found as {origin}", now)
        for name, origin in sorted(found.items())
        if name not in seen
    ]


__all__ = ["hashtag_owners", "mentioned", "new_candidates", "related"]
