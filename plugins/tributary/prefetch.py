"""Work started ahead in a thread: a value being made (``in_thread``) and the next items of an
iterator being read while the caller handles the last one (``prefetched``).

Both are for work that releases the GIL (DuckDB reading from the source, pyarrow encoding
Parquet): on two cores the source's next batch is decoded while the last one is written,
instead of the one thread doing each in turn.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


def in_thread(make: Callable[[], T], *, name: str) -> Future[T]:
    """``make()`` run in a daemon thread of its own; its result (or exception) in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(make())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = 1, *, name: str = "tributary-prefetch") -> Generator[T]:
    """The items of ``items``, read by a thread at most ``depth`` ahead of the caller: while the
    caller handles one item, the thread reads the next (and holds no more than ``depth``).

    An exception of ``items`` is raised here, where the caller reads the item it stopped at.
    Closing this generator early (the caller failed, or stopped reading) stops the thread and
    closes ``items`` in it, so that what ``items`` holds open (a DuckDB, a session) is closed.
    """
    ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
    room = threading.Semaphore(depth)  # a slot per item read and not yet taken by the caller
    stop = threading.Event()

    def read() -> None:
        try:
            while True:
                while not room.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(items, _END)
                ready.put(item)
                if item is _END:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            ready.put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=read, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            room.release()  # the thread reads the next one while this one is handled
            yield item
    finally:
        stop.set()
        room.release()
        thread.join()
