"""Group commit with real threads: items come back in order, batches form under load.

InlineCommit, which writes on the caller's thread, keeps the same promises where it can.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from yamlcron.errors import StoreError
from yamlcron.scheduler.groupcommit import GroupCommit, InlineCommit, pace
from yamlcron.scheduler.parts import utc_now
from yamlcron.scheduler.pool import WorkerPool


@pytest.fixture
def group_commit() -> Iterator[Callable[..., GroupCommit[Any, Any]]]:
    """GroupCommit, closed after the test so that its writer thread ends with it."""
    made: list[GroupCommit[Any, Any]] = []

    def make(*args: Any, **kwargs: Any) -> GroupCommit[Any, Any]:
        made.append(GroupCommit(*args, **kwargs))
        return made[-1]

    yield make
    for commit in made:
        commit.close(5)


def test_alone_an_item_is_written_at_once_and_reported(
    group_commit: Callable[..., GroupCommit[Any, Any]],
) -> None:
    batches: list[list[int]] = []
    reported: list[tuple[int, int | None, BaseException | None]] = []

    def write(items: list[int]) -> list[int]:
        batches.append(items)
        return [i * 2 for i in items]

    commit: GroupCommit[int, int] = group_commit(write, lambda *r: reported.append(r))
    commit.put(1)
    assert commit.flush(5)
    commit.put(2)
    assert commit.flush(5)
    assert batches == [[1], [2]]
    assert reported == [(1, 2, None), (2, 4, None)]


def test_items_put_during_a_write_share_the_next_one(
    group_commit: Callable[..., GroupCommit[Any, Any]],
) -> None:
    batches: list[list[int]] = []
    writing, release = threading.Event(), threading.Event()
    reported: dict[int, int | None] = {}

    def slow_write(items: list[int]) -> list[int]:
        batches.append(items)
        writing.set()
        release.wait(5)  # a disk flush, held until every other item has arrived
        return [-i for i in items]

    commit: GroupCommit[int, int] = group_commit(
        slow_write, lambda item, result, error: reported.__setitem__(item, result)
    )
    commit.put(0)
    assert writing.wait(5)
    threads = [threading.Thread(target=commit.put, args=(i,)) for i in range(1, 40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    release.set()
    assert commit.flush(5)
    assert reported == {i: -i for i in range(40)}
    assert batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 40))  # 39 items, one more flush
    assert len(batches) == 2


def test_a_failed_write_reaches_every_item_of_its_batch_and_the_writer_goes_on(
    group_commit: Callable[..., GroupCommit[Any, Any]],
) -> None:
    failing = threading.Event()
    failing.set()
    reported: list[tuple[int, int | None, str | None]] = []

    def write(items: list[int]) -> list[int]:
        if failing.is_set():
            failing.clear()
            raise StoreError("disk gone")
        return list(items)

    commit: GroupCommit[int, int] = group_commit(
        write,
        lambda item, result, error: reported.append(
            (item, result, None if error is None else str(error))
        ),
    )
    commit.put(1)
    assert commit.flush(5)
    commit.put(3)
    assert commit.flush(5)
    assert reported == [(1, None, "disk gone"), (3, 3, None)]


def test_worker_pool_runs_everything_and_survives_a_failing_task() -> None:
    pool = WorkerPool(4, utc_now)
    done: list[int] = []
    lock = threading.Lock()
    finished = threading.Semaphore(0)

    def task(i: int) -> None:
        try:
            if i == 3:
                raise RuntimeError("a bug in one task")
            with lock:
                done.append(i)
        finally:
            finished.release()

    for i in range(100):
        pool.submit(lambda i=i: task(i))  # type: ignore[misc]
    for _ in range(100):
        assert finished.acquire(timeout=5)
    pool.shutdown()
    assert sorted(done) == [i for i in range(100) if i != 3]


def test_close_writes_what_is_queued_and_ends_the_thread() -> None:
    written: list[int] = []

    def write(items: list[int]) -> list[None]:
        written.extend(items)
        return [None] * len(items)

    commit: GroupCommit[int, None] = GroupCommit(write, lambda *r: None, name="closing")
    for i in range(10):
        commit.put(i)
    commit.close(5)
    assert written == list(range(10))
    for _ in range(100):
        if not any(t.name == "closing" for t in threading.enumerate()):
            break
        threading.Event().wait(0.01)
    assert not any(t.name == "closing" for t in threading.enumerate())


def test_settled_hears_each_batch_once_after_its_items(
    group_commit: Callable[..., GroupCommit[Any, Any]],
) -> None:
    events: list[object] = []
    writing, release = threading.Event(), threading.Event()

    def write(items: list[int]) -> list[int]:
        writing.set()
        release.wait(5)
        return items

    commit: GroupCommit[int, int] = group_commit(
        write, lambda item, *_: events.append(item), settled=lambda items: events.append(items)
    )
    commit.put(0)
    assert writing.wait(5)
    for i in range(1, 4):
        commit.put(i)
    release.set()
    assert commit.flush(5)
    assert events == [0, [0], 1, 2, 3, [1, 2, 3]]


@pytest.fixture(params=["group", "inline"])
def committer(
    request: pytest.FixtureRequest, group_commit: Callable[..., GroupCommit[Any, Any]]
) -> Callable[..., Any]:
    """Either committer: both keep the same promises."""
    return group_commit if request.param == "group" else InlineCommit


def test_a_write_with_too_few_results_settles_every_item_and_the_writer_goes_on(
    committer: Callable[..., Any],
) -> None:
    # A store bug: the batch's items hear of it as an error, and none is left unsettled.
    reported: list[tuple[int, int | None, str | None]] = []
    settled: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        return items[1:] if items == [1] else items

    commit = committer(
        write,
        lambda item, result, error: reported.append((item, result, error and str(error))),
        settled=settled.append,
    )
    commit.put(1)
    assert commit.flush(5)
    commit.put(2)
    assert commit.flush(5)
    assert reported == [(1, None, "0 results written for 1 items"), (2, 2, None)]
    assert settled == [[1], [2]]


def test_a_failing_report_or_settle_loses_no_item(committer: Callable[..., Any]) -> None:
    reported: list[int] = []
    settled: list[list[int]] = []

    def done(item: int, result: int | None, error: BaseException | None) -> None:
        if item == 1:
            raise RuntimeError("a bug in a report")
        reported.append(item)

    def settle(items: list[int]) -> None:
        settled.append(items)
        if items == [2]:
            raise RuntimeError("a bug in settling")

    commit = committer(lambda items: items, done, settled=settle)
    for item in (1, 2, 3):
        commit.put(item)
        assert commit.flush(5)
    assert reported == [2, 3]
    assert settled == [[1], [2], [3]]


def test_a_bug_in_write_is_raised_settled_and_a_new_writer_takes_the_next_batches(
    group_commit: Callable[..., GroupCommit[Any, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    # Only StoreError is the store saying it failed; anything else is a bug of ours, not
    # an error to report to every item as if the disk were full.
    settled: list[list[int]] = []
    reported: list[tuple[int, int | None]] = []

    def write(items: list[int]) -> list[int]:
        if items == [1]:
            raise RuntimeError("a bug in write")
        return items

    commit: GroupCommit[int, int] = group_commit(
        write, lambda item, result, error: reported.append((item, result)), settled=settled.append
    )
    commit.put(1)
    assert commit.flush(5)
    commit.put(2)
    assert commit.flush(5)
    assert reported == [(2, 2)]
    assert settled == [[1], [2]]  # never left counted as running
    assert "the writer thread yamlcron-recorder died; starting another" in caplog.text
    with pytest.raises(RuntimeError, match="a bug in write"):
        InlineCommit(write, lambda *r: None).put(1)


def test_a_write_waits_out_the_linger_after_the_last_only() -> None:
    assert pace(last=10.0, now=10.004, linger=0.01) == pytest.approx(0.006)
    assert pace(last=10.0, now=10.01, linger=0.01) == 0.0
    assert pace(last=10.0, now=70.0, linger=0.01) == 0.0  # alone: written at once
    assert pace(last=10.0, now=10.004, linger=0.0) == 0.0
