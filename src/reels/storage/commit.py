"""A commit that lost the race with another writer is run again: the one conflict-retry helper of both
stores (Delta's optimistic concurrency: the loser must re-run its whole merge against the new version)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from reels.errors import StorageError
from reels.retry import RetryPolicy

T = TypeVar("T")

# 50 ms doubling to 3 s, with full jitter so two writers that collided do not collide again: about 10 s.
CONFLICTS = RetryPolicy(attempts=8, initial_delay_s=0.05, max_delay_s=3.0, jitter=1.0)


def retry_conflicts(
    commit: Callable[[], T],
    *,
    is_conflict: Callable[[BaseException], bool],
    table: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`commit()`, re-run while it fails with a concurrent-commit conflict. Raises StorageError once the
    attempts are spent; any other error as it is."""
    try:
        return CONFLICTS.call(commit, retry_if=is_conflict, server_delay=lambda _: None, sleep=sleep)
    except Exception as exc:
        if is_conflict(exc):
            raise StorageError(
                f"table {table}: gave up after {CONFLICTS.attempts} conflicting commits; is another run "
                "writing it? Run again when it has finished."
            ) from exc
        raise


__all__ = ["CONFLICTS", "retry_conflicts"]
