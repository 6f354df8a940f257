"""Reading ahead in a thread (tributary.prefetch): the same items in the same order, the source's
error where the caller reads, and the source closed however the caller stops."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from tributary.prefetch import in_thread, prefetched


class Source:
    """A generator's life, seen from outside: what it yielded, whether it was closed, and in
    which thread it ran."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.closed = False
        self.threads: set[str] = set()

    def items(self) -> Generator[int]:
        try:
            for i in range(self.count):
                self.threads.add(threading.current_thread().name)
                if i == self.fail_at:
                    raise ValueError(f"item {i} is broken: ünïcode 'quoted'")
                yield i
        finally:
            self.closed = True


def test_every_item_comes_in_order_read_by_another_thread() -> None:
    source = Source(1000)
    assert list(prefetched(source.items(), depth=3)) == list(range(1000))
    assert source.closed
    assert source.threads == {"tributary-prefetch"}


def test_the_sources_error_is_raised_where_the_caller_reads() -> None:
    source = Source(10, fail_at=4)
    seen = []
    with pytest.raises(ValueError, match="item 4 is broken: ünïcode 'quoted'"):
        for item in prefetched(source.items()):
            seen.append(item)
    assert seen == [0, 1, 2, 3]
    assert source.closed


def test_a_caller_that_stops_early_closes_the_source_and_the_thread() -> None:
    source = Source(1_000_000)
    before = threading.active_count()
    items = prefetched(source.items(), depth=2, name="tributary-test-prefetch")
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert source.closed  # what the source holds open (a DuckDB, a session) is let go
    assert threading.active_count() == before
    assert not [t for t in threading.enumerate() if t.name == "tributary-test-prefetch"]


def test_no_items_is_an_empty_read() -> None:
    source = Source(0)
    assert list(prefetched(source.items())) == []
    assert source.closed


def test_in_thread_hands_over_the_result_or_the_error() -> None:
    assert (
        in_thread(lambda: threading.current_thread().name, name="tributary-make").result(5)
        == "tributary-make"
    )

    def broken() -> None:
        raise RuntimeError("no extension")

    with pytest.raises(RuntimeError, match="no extension"):
        in_thread(broken, name="tributary-make").result(5)
