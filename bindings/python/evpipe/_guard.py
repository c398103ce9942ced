"""Calls in progress on a C handle, so that it is freed only when none runs.

ctypes releases the GIL for the duration of a foreign call: without this,
close() on one thread could free a handle (evp_client_destroy,
evp_schema_destroy) while another thread is still inside evp_flush,
evp_send or evp_schema_validate on it.

It is on send()'s path, so it takes no lock: list.append() and list.pop()
are atomic under the GIL. The order makes it safe: a call first registers,
then reads the object's state; close first marks the object closed (so
that handle() raises), then waits until no call is registered, then takes
the handle.
"""
from __future__ import annotations

import time
from typing import Any, Callable, List, TypeVar

T = TypeVar("T")


class CallGuard:
    def __init__(self) -> None:
        self._inflight: List[Any] = []

    def enter(self, handle: Callable[[], T]) -> T:
        """``handle()`` (which raises when the object is closed or closing),
        counted as in use until leave()."""
        self._inflight.append(None)
        try:
            return handle()
        except BaseException:
            self._inflight.pop()
            raise

    def leave(self) -> None:
        self._inflight.pop()

    def when_idle(self, take: Callable[[], T]) -> T:
        """Once the object is marked closed (handle() raises), wait until no
        call is in progress, then ``take()`` the handle."""
        while self._inflight:
            time.sleep(0.001)
        return take()
