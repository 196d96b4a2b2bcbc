"""Group commit with real threads: every caller gets its own result, batches form under load."""

from __future__ import annotations

import threading
import time

import pytest

from yamlcron.groupcommit import GroupCommit


def test_alone_a_caller_writes_at_once() -> None:
    batches: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        batches.append(items)
        return [i * 2 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(write)
    assert commit.submit(1) == 2
    assert commit.submit(2) == 4
    assert batches == [[1], [2]]


def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    batches: list[list[int]] = []

    def slow_write(items: list[int]) -> list[int]:
        batches.append(items)
        time.sleep(0.05)  # a disk flush, exaggerated
        return [-i for i in items]

    commit: GroupCommit[int, int] = GroupCommit(slow_write)
    results: dict[int, int] = {}

    def call(i: int) -> None:
        results[i] = commit.submit(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: -i for i in range(40)}
    assert sorted(i for batch in batches for i in batch) == list(range(40))
    assert len(batches) < 10  # 40 callers, far fewer flushes


def test_a_failed_write_reaches_every_caller_of_its_batch() -> None:
    def failing(items: list[int]) -> list[int]:
        raise OSError("disk gone")

    commit: GroupCommit[int, int] = GroupCommit(failing)
    with pytest.raises(OSError, match="disk gone"):
        commit.submit(1)
    ok: GroupCommit[int, int] = GroupCommit(lambda items: list(items))
    assert ok.submit(3) == 3
