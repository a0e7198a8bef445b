"""The one retry mechanism (`RetryPolicy.call`) and the stores' conflict retry built on it: pure logic."""

from __future__ import annotations

import random

import pytest

from reels.errors import FetchFailed, InvalidMedia, StorageError, Transient
from reels.retry import RetryPolicy
from reels.storage.commit import CONFLICTS, retry_conflicts


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(
        **{"attempts": 4, "initial_delay_s": 1.0, "max_delay_s": 8.0, **kw}, rng=random.Random(0)
    )


def test_a_transient_error_is_retried_after_a_growing_backoff() -> None:
    slept: list[float] = []
    call = Flaky(FetchFailed("reset"), FetchFailed("reset"))
    assert policy(jitter=0.0).call(call, sleep=slept.append) == "ok"
    assert call.calls == 3 and slept == [1.0, 2.0]


def test_a_permanent_error_is_raised_at_once_and_the_last_transient_one_when_attempts_are_spent() -> None:
    slept: list[float] = []
    with pytest.raises(InvalidMedia):
        policy().call(Flaky(InvalidMedia("not a video")), sleep=slept.append)
    assert slept == []
    last = FetchFailed("fourth")
    call = Flaky(FetchFailed("1"), FetchFailed("2"), FetchFailed("3"), last)
    with pytest.raises(FetchFailed) as caught:
        policy().call(call, sleep=slept.append)
    assert caught.value is last and call.calls == 4 and len(slept) == 3  # no wait after the last


def test_an_error_for_the_whole_run_is_not_retried() -> None:
    class Exhausted(Transient):
        whole_run = True

    with pytest.raises(Exhausted):
        policy().call(Flaky(Exhausted()), sleep=lambda s: pytest.fail("slept"))


def test_the_server_delay_wins_when_longer_and_is_capped() -> None:
    asked = FetchFailed("429")
    asked.retry_after_s = 30.0
    p = policy(jitter=0.0, max_server_delay_s=20.0)
    assert p.delay(0, 5.0) == 5.0 and p.delay(0, 0.5) == 1.0 and p.delay(0, 999.0) == 20.0
    slept: list[float] = []
    p.call(Flaky(asked), sleep=slept.append)
    assert slept == [20.0]


def test_no_backoff_is_longer_than_the_cap_jitter_included() -> None:
    p = RetryPolicy(attempts=20, initial_delay_s=0.5, max_delay_s=8.0, max_server_delay_s=8.0, jitter=0.5)
    delays = [p.delay(n, server) for n in range(20) for server in (None, 3.0, 60.0)]
    assert max(delays) <= 8.0 and min(delays) >= 0.5


def test_before_retry_acts_and_decides_how_long_this_caller_still_sleeps() -> None:
    seen: list[tuple[str, float]] = []

    def hand_over(error: BaseException, delay: float) -> float:
        seen.append((str(error), delay))
        return 0.0  # e.g. the shared rate limiter waits instead

    slept: list[float] = []
    call = Flaky(FetchFailed("a"), FetchFailed("b"), FetchFailed("c"), FetchFailed("d"))
    with pytest.raises(FetchFailed):
        policy(jitter=0.0).call(call, before_retry=hand_over, sleep=slept.append)
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 4.0)]  # not after the last attempt
    assert slept == [0.0, 0.0, 0.0]


def test_retry_if_chooses_what_is_worth_another_attempt() -> None:
    call = Flaky(KeyError("conflict"), KeyError("conflict"))
    assert policy().call(call, retry_if=lambda e: isinstance(e, KeyError), sleep=lambda s: None) == "ok"


def test_a_commit_conflict_is_rerun_then_given_up_as_a_storage_error() -> None:
    class Conflict(Exception):
        pass

    slept: list[float] = []
    call = Flaky(Conflict(), Conflict())
    assert retry_conflicts(call, is_conflict=lambda e: isinstance(e, Conflict), table="t", sleep=slept.append)
    assert len(slept) == 2 and all(0 <= s <= CONFLICTS.max_delay_s for s in slept)
    always = Flaky(*[Conflict() for _ in range(CONFLICTS.attempts)])
    with pytest.raises(StorageError, match=r"table reels: gave up after 8 conflicting commits"):
        retry_conflicts(
            always, is_conflict=lambda e: isinstance(e, Conflict), table="reels", sleep=slept.append
        )
    with pytest.raises(ValueError):  # anything else is the caller's to translate
        retry_conflicts(Flaky(ValueError("disk")), is_conflict=lambda e: False, table="t")
