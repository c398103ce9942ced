"""Calls in progress on a C handle, so that it is freed only when none runs.

ctypes releases the GIL for the duration of a foreign call: without this,
close() on one thread could free a handle (evp_client_destroy,
evp_schema_destroy) while another thread is still inside evp_flush,
evp_send or evp_schema_validate on it.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class CallGuard:
    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._calls = 0

    def enter(self, handle: Callable[[], T]) -> T:
        """``handle()`` (which raises when the object is closed), counted as
        in use until leave()."""
        with self._cv:
            h = handle()
            self._calls += 1
            return h

    def leave(self) -> None:
        with self._cv:
            self._calls -= 1
            if not self._calls:
                self._cv.notify_all()

    def when_idle(self, take: Callable[[], T]) -> T:
        """Wait until no call is in progress, then ``take()`` (which makes the
        handle unavailable to enter()) before any new call can start."""
        with self._cv:
            while self._calls:
                self._cv.wait()
            return take()
