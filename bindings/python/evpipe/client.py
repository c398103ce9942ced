"""The event client: ``Client(**config)``, ``send()``, delivery reports.

Threading model: the client is created with ``callbacks.mode=poll``, so the
library's background thread never calls Python for deliveries or errors.
Delivery reports and the error callback run on the Python thread that calls
:meth:`Client.poll`, :meth:`Client.flush` or :meth:`Client.close` (or on the
binding's own Python poller thread with ``poll_thread=True``). Library log
lines are off unless ``log_level`` is given; see :class:`Client`.
"""
from __future__ import annotations

import collections
import ctypes
import enum
import itertools
import json
import logging
import os
import threading
import time
import warnings
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union)

from . import _lib
from ._guard import CallGuard
from .errors import (ERR_INVALID_ARG, ERR_STATE, DeliveryError, Error, StateError, check, make)

log = logging.getLogger("evpipe")

_ERRLEN = 512
Event = Union[Mapping[str, Any], str, bytes]


class DeliveryStatus(enum.IntEnum):
    """The outcome of one event (evp_delivery_status_t)."""

    OK = 0  #: the server accepted the event
    REJECTED = 1  #: the server refused this event for good
    FAILED = 2  #: not delivered: timeout, auth/HTTP error, client closed


@dataclass(frozen=True)
class DeliveryReport:
    """One event's final outcome (a copy of the C report)."""

    event_id: str
    status: DeliveryStatus
    code: int  #: evp_err_t: 0 when delivered
    name: str  #: the code's name, e.g. "EVP_ERR_AUTH"
    reason: str  #: why it was not delivered ("" when delivered)
    latency_us: int
    attempts: int
    http_status: int
    from_spool: bool  #: accepted by an earlier client on the same spool.dir

    @property
    def ok(self) -> bool:
        return self.status == DeliveryStatus.OK

    def error(self) -> Optional[Error]:
        """The failure as an exception (None when delivered)."""
        return None if self.ok else make(self.code, self.reason)


DeliveryCallback = Callable[[DeliveryReport], Any]
ErrorCallback = Callable[[Error, bool], Any]

# syslog numbering (common.h) -> logging levels
_LEVELS = {3: logging.ERROR, 4: logging.WARNING, 5: logging.INFO, 6: logging.INFO,
           7: logging.DEBUG}


def _to_syslog(level: int) -> int:
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    if level >= logging.INFO:
        return 6
    return 7


def property_name(key: str) -> str:
    """The library's property name for a Python keyword: ``batch_max_events``
    → ``batch.max.events``; ``fill_event_id`` → ``fill.event_id``. Dotted
    names are returned unchanged."""
    dotted = key.replace("_", ".")
    return dotted.replace("event.id", "event_id").replace("event.time", "event_time")


def _conf_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _encode(event: Event) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    if isinstance(event, Mapping):
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    raise TypeError(f"an event is a dict, str or bytes, not {type(event).__name__}")


_live: "weakref.WeakSet[_Core]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The library's threads do not exist in the child and its state belongs
    # to the parent: every client inherited is unusable here.
    for core in list(_live):
        core.forked = True
        core.poller = None


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Core:
    """What the C client refers to, kept apart from Client so that a Client
    can be garbage collected (its finalizer closes the core) while the
    ctypes callback objects stay alive exactly as long as the C client."""

    def __init__(self) -> None:
        self.h: Optional[int] = None
        self.pid = os.getpid()
        self.forked = False
        self.closing = False
        self.ids = itertools.count(1)
        self.pending: Dict[int, Union[Future, DeliveryCallback]] = {}
        self.lock = threading.Lock()
        # C calls in progress on h (enter/leave): destroy() waits for them.
        self.guard = CallGuard()
        self.on_delivery: Optional[DeliveryCallback] = None
        self.on_error: Optional[ErrorCallback] = None
        self.logs: Deque[Tuple[int, str]] = collections.deque(maxlen=10000)
        self.raised: List[BaseException] = []
        self.poller: Optional[threading.Thread] = None
        self.poller_stop = threading.Event()
        # Threads inside one of this client's callbacks: the C library
        # refuses evp_client_destroy/evp_flush/evp_poll from there.
        self.in_callback = threading.local()
        self.destroy_deferred = False
        # ctypes callback objects: the C client holds their addresses.
        self.c_delivery = _lib.DELIVERY_CB(self._delivery)
        self.c_error = _lib.ERROR_CB(self._error)
        self.c_log = _lib.LOG_CB(self._log)

    # ---- callbacks, run by evp_poll/evp_flush/evp_client_destroy on the
    # calling Python thread (the log callback excepted: see Client).
    def _delivery(self, _client: int, report: int, _opaque: int) -> None:
        self.in_callback.active = True
        try:
            lib = _lib.lib()
            n = ctypes.c_size_t(0)
            idp = lib.evp_delivery_event_id(report, ctypes.byref(n))
            code = lib.evp_delivery_error(report)
            dr = DeliveryReport(
                event_id=ctypes.string_at(idp, n.value).decode("utf-8", "replace") if idp else "",
                status=DeliveryStatus(lib.evp_delivery_status(report)), code=code,
                name=_lib.text(lib.evp_err2name(code)),
                reason=_lib.text(lib.evp_delivery_reason(report)),
                latency_us=lib.evp_delivery_latency_us(report),
                attempts=lib.evp_delivery_attempts(report),
                http_status=lib.evp_delivery_http_status(report),
                from_spool=bool(lib.evp_delivery_from_spool(report)))
            key = lib.evp_delivery_opaque(report)
            target = None
            if key:
                with self.lock:
                    target = self.pending.pop(key, None)
            if isinstance(target, Future):
                if dr.ok:
                    target.set_result(dr)
                else:
                    target.set_exception(DeliveryError(dr.code, dr.reason, dr))
            elif target is not None:
                target(dr)
            if self.on_delivery is not None:
                self.on_delivery(dr)
        except BaseException as e:  # raised again by poll()/flush()/close()
            self.raised.append(e)
        finally:
            self.in_callback.active = False

    def _error(self, code: int, retrying: int, reason: Optional[bytes], _opaque: int) -> None:
        self.in_callback.active = True
        try:
            err = make(code, _lib.text(reason))
            if self.on_error is not None:
                self.on_error(err, bool(retrying))
            else:
                log.warning("%s%s", err, " (retrying)" if retrying else "")
        except BaseException as e:
            self.raised.append(e)
        finally:
            self.in_callback.active = False

    def _log(self, level: int, msg: Optional[bytes], _opaque: int) -> None:
        # May run on a library thread: only append (deque.append is atomic);
        # the records reach logging from poll()/flush()/close().
        self.logs.append((level, _lib.text(msg)))

    def drain(self) -> None:
        while self.logs:
            level, msg = self.logs.popleft()
            log.log(_LEVELS.get(level, logging.INFO), "%s", msg)
        if self.raised:
            e = self.raised.pop(0)
            self.raised.clear()
            raise e

    def inside_callback(self) -> bool:
        return bool(getattr(self.in_callback, "active", False))

    def usable(self) -> int:
        if self.forked or self.pid != os.getpid():
            raise StateError(ERR_STATE, f"this Client was created in process {self.pid}; a "
                             "forked child cannot use it: create a new Client in the child")
        if self.h is None or self.closing:
            raise StateError(ERR_STATE, "the Client is closed")
        return self.h

    def enter(self) -> int:
        """The C handle, counted as in use until leave(); raises StateError
        when the client is closed, closing, or inherited by a forked child."""
        return self.guard.enter(self._handle)

    def _handle(self) -> int:
        # The hot path: usable() asks the kernel for the pid, a system call
        # per send; the fork handler sets `forked` in a child instead.
        h = self.h
        if h is None or self.closing or self.forked:
            return self.usable()
        return h

    def leave(self) -> None:
        self.guard.leave()

    def _take(self) -> Optional[int]:
        h, self.h = self.h, None
        return h

    def destroy(self, timeout_ms: int) -> int:
        """Stop the poller, then close the C client (serving its last reports)."""
        if self.h is None or self.forked or self.pid != os.getpid():
            # In a forked child: never touch the parent's C state; its memory
            # is left alone (evp_client_destroy documents the same).
            self.h = None
            return 0
        if self.inside_callback():
            # Only reachable from the garbage collector (close() refuses):
            # the poller thread destroys the client once the callback returns.
            self.destroy_deferred = True
            self.closing = True
            return 0
        self.closing = True
        self.poller_stop.set()
        if self.poller is not None and self.poller is not threading.current_thread():
            self.poller.join()
        self.poller = None
        # closing refuses new calls; those in progress end soon (flush and
        # poll wait in slices and stop when they see closing).
        h = self.guard.when_idle(self._take)
        n = _lib.lib().evp_client_destroy(h, timeout_ms)
        _live.discard(self)
        with self.lock:
            left = list(self.pending.values())
            self.pending.clear()
        for f in left:  # events left in a spool (spool_dir) are not reported at close
            if isinstance(f, Future) and not f.done():
                f.set_exception(StateError(ERR_STATE, "client closed"))
        return int(n)

    def poll_loop(self, interval_ms: int) -> None:
        lib = _lib.lib()
        while not self.poller_stop.is_set():
            h = self.h
            if h is None:
                break
            lib.evp_poll(h, interval_ms)
            if self.destroy_deferred:
                self.closing = False
                self.destroy(0)
                break
            try:
                self.drain()
            except BaseException as e:
                log.error("exception in an evpipe callback: %r", e)


def _finalize(core: _Core, name: str) -> None:
    """weakref.finalize target: a Client garbage collected (or still open at
    interpreter exit) without close()."""
    if core.h is None or core.forked or core.pid != os.getpid():
        return
    warnings.warn(f"unclosed {name}: closed without sending what was queued; "
                  "call close() or use 'with'", ResourceWarning, stacklevel=2)
    try:
        core.destroy(0)
        core.drain()
    except BaseException as e:
        log.error("closing a garbage-collected evpipe Client: %r", e)


_tls = threading.local()


def _errbuf() -> Any:
    """This thread's errstr buffer (allocating one per send costs ~15%)."""
    try:
        return _tls.err
    except AttributeError:
        _tls.err = ctypes.create_string_buffer(_ERRLEN)
        return _tls.err


def _send(*args: Any) -> int:
    global _send
    _send = _lib.lib().evp_send  # bound once, on first use (the library loads lazily)
    return int(_send(*args))


def _send_opaque(*args: Any) -> int:
    global _send_opaque
    _send_opaque = _lib.lib().evp_send_opaque
    return int(_send_opaque(*args))


def _sliced(fn: Any, h: int, timeout: Optional[float], core: _Core, done: Any) -> int:
    """fn(h, ms) (evp_flush or evp_poll) for up to ``timeout`` seconds (None:
    no limit), in slices of at most 100 ms, so that a close() on another
    thread is never kept waiting by a wait without limit: the call returns
    (with what fn last said) once the client is closing."""
    if timeout is not None and timeout <= 0:
        return int(fn(h, 0))
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left_ms = 100 if deadline is None else int((deadline - time.monotonic()) * 1000)
        n = int(fn(h, max(0, min(100, left_ms))))
        if n < 0 or done(n) or core.closing or (deadline is not None and left_ms <= 100):
            return n


def _ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return -1
    return max(0, int(timeout * 1000))


class Client:
    """An event client (evp_client_t) in poll mode.

    Configuration: keyword arguments named after the properties of
    docs/CONFIGURATION.md with dots as underscores (``client_id``,
    ``batch_max_events``, ``fill_event_id``), and/or ``config``, a mapping of
    names in either form (``{"client.id": ...}``); keywords win. Values may be str, int, float or
    bool. An unknown name raises :class:`~evpipe.ConfigError`
    (EVP_ERR_CONF_UNKNOWN), a bad value EVP_ERR_CONF_INVALID.

    ``on_delivery(report)`` is called once for every accepted event, and
    ``on_error(error, retrying)`` for connection-level errors (default: a
    warning on the "evpipe" logger). Both run on the thread that calls
    :meth:`poll`, :meth:`flush` or :meth:`close`; with ``poll_thread=True``
    the client starts a Python daemon thread that polls, and they run there.
    An exception raised by a callback propagates out of poll()/flush()/close().

    ``log_level`` (a ``logging`` level) turns on the library's log lines,
    emitted on the "evpipe" logger from poll()/flush()/close(). This is the
    one callback the library may make from its own thread: it only appends
    the line to a bounded queue (ctypes takes the GIL for that), and no user
    code runs there. Off by default.

    A Client belongs to the process that created it: in a forked child every
    method raises :class:`~evpipe.StateError`. A Client dropped without
    close() is closed at garbage collection (or interpreter exit) without
    sending what is still queued, with a ResourceWarning.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None, *,
                 on_delivery: Optional[DeliveryCallback] = None,
                 on_error: Optional[ErrorCallback] = None,
                 poll_thread: bool = False, poll_interval: float = 0.1,
                 log_level: Optional[int] = None, **properties: Any) -> None:
        lib = _lib.lib()
        core = _Core()
        core.on_delivery = on_delivery
        core.on_error = on_error
        self._core = core
        props: Dict[str, str] = {}
        for k, v in (config or {}).items():
            props[property_name(k)] = _conf_value(v)
        for k, v in properties.items():
            props[property_name(k)] = _conf_value(v)
        if "callbacks.mode" in props and props["callbacks.mode"] != "poll":
            raise make(ERR_INVALID_ARG, "the Python binding always uses callbacks.mode=poll")
        props["callbacks.mode"] = "poll"
        if log_level is not None:
            props.setdefault("log.level", str(_to_syslog(log_level)))

        err = ctypes.create_string_buffer(_ERRLEN)
        conf = lib.evp_conf_new()
        if not conf:
            raise MemoryError
        try:
            for name, value in props.items():
                check(lib.evp_conf_set(conf, name.encode(), value.encode(), err, _ERRLEN), err)
            lib.evp_conf_set_delivery_cb(conf, core.c_delivery, None)
            lib.evp_conf_set_error_cb(conf, core.c_error)
            if log_level is not None:
                lib.evp_conf_set_log_cb(conf, core.c_log)
            code = ctypes.c_int(0)
            h = lib.evp_client_create(conf, ctypes.byref(code), err, _ERRLEN)
        except BaseException:
            lib.evp_conf_destroy(conf)
            raise
        if not h:
            lib.evp_conf_destroy(conf)
            raise make(code.value, _lib.text(err.value))
        core.h = h
        _live.add(core)
        self._finalizer = weakref.finalize(self, _finalize, core, repr(self))
        if poll_thread:
            core.poller = threading.Thread(target=core.poll_loop, args=(_ms(poll_interval) or 1,),
                                           name="evpipe-poll", daemon=True)
            core.poller.start()

    # ---- sending
    def send(self, event: Event, on_delivery: Optional[DeliveryCallback] = None) -> None:
        """Validate and queue one event (a dict, serialized as compact JSON,
        or JSON text as str/bytes); never waits for the network.
        ``on_delivery`` (optional) receives this event's report, in addition
        to the client's ``on_delivery``. Raises InvalidEventError (the reason
        gives the JSON path), QueueFull, StateError (closed, forked child)."""
        # The hot path: every lookup here costs per event (bench/bench_python_send.py).
        core = self._core
        t = type(event)
        data = event if t is bytes else event.encode() if t is str else _encode(event)  # type: ignore[union-attr]
        err = _errbuf()
        h = core.enter()
        try:
            if on_delivery is None:
                code = _send(h, data, len(data), err, _ERRLEN)
            else:
                key = next(core.ids)
                core.pending[key] = on_delivery
                code = _send_opaque(h, data, len(data), key, err, _ERRLEN)
                if code:
                    core.pending.pop(key, None)
        finally:
            core.leave()
        if code:
            raise make(code, _lib.text(err.value))

    def submit(self, event: Event) -> "Future[DeliveryReport]":
        """send() returning a :class:`concurrent.futures.Future` that gets the
        event's DeliveryReport when delivered, or a DeliveryError when not.
        The Future completes from poll()/flush()/close() (or the poll thread):
        ``future.result()`` on the only thread that polls would wait forever."""
        fut: "Future[DeliveryReport]" = Future()
        fut.set_running_or_notify_cancel()
        core = self._core
        data = _encode(event)
        key = next(core.ids)
        core.pending[key] = fut
        h = core.enter()
        try:
            code = _send_opaque(h, data, len(data), key, _errbuf(), _ERRLEN)
        finally:
            core.leave()
        if code != 0:
            core.pending.pop(key, None)
            raise make(code, _lib.text(_errbuf().value))
        return fut

    # ---- serving reports
    def poll(self, timeout: Optional[float] = 0) -> int:
        """Serve waiting delivery reports and error callbacks on this thread,
        waiting up to ``timeout`` seconds for one (None: until one comes).
        Returns how many callbacks ran."""
        core = self._core
        h = core.enter()
        try:
            n = _sliced(_lib.lib().evp_poll, h, timeout, core, lambda n: n != 0)
        finally:
            core.leave()
        core.drain()
        if n < 0:
            raise StateError(ERR_STATE, "evp_poll refused (called from a callback?)")
        return int(n)

    def flush(self, timeout: Optional[float] = None) -> int:
        """Send everything now and wait up to ``timeout`` seconds (None: no
        limit) until nothing is pending, serving reports meanwhile. Returns
        the number of events still pending (0: all reported)."""
        core = self._core
        h = core.enter()
        try:
            n = _sliced(_lib.lib().evp_flush, h, timeout, core, lambda n: n <= 0)
        finally:
            core.leave()
        core.drain()
        if n < 0:
            raise StateError(ERR_STATE, "evp_flush refused (called from a callback?)")
        return int(n)

    def close(self, timeout: Optional[float] = 10.0) -> int:
        """Stop accepting events, keep sending up to ``timeout`` seconds, report
        the rest as failed, and free the client. Returns the number of events
        reported undelivered. Closing twice does nothing (returns 0)."""
        core = self._core
        if core.inside_callback():
            raise StateError(ERR_STATE, "close() cannot be called from the client's own callback")
        if core.h is None:
            return 0
        if core.forked or core.pid != os.getpid():
            core.usable()  # raises StateError
        self._finalizer.detach()
        n = core.destroy(_ms(timeout) if timeout is not None else 2**31 - 1)
        core.drain()
        return n

    def pause(self) -> None:
        """Stop starting requests (events are still accepted); see evp_client_pause."""
        if self._call(_lib.lib().evp_client_pause) != 0:
            raise StateError(ERR_STATE, "evp_client_pause failed")

    def resume(self) -> None:
        """Start sending again after pause()."""
        if self._call(_lib.lib().evp_client_resume) != 0:
            raise StateError(ERR_STATE, "evp_client_resume failed")

    def stats(self) -> Dict[str, Any]:
        """The client's counters (evp_client_stats) as a dict."""
        lib = _lib.lib()
        p = self._call(lib.evp_client_stats)
        if not p:
            raise MemoryError
        try:
            stats: Dict[str, Any] = json.loads(ctypes.string_at(p).decode())
            return stats
        finally:
            lib.evp_free(p)

    def fileno(self) -> int:
        """A descriptor readable while reports wait (for selectors / asyncio's
        add_reader); call poll(0) when it is readable. Owned by the client."""
        fd = self._call(_lib.lib().evp_poll_fd)
        if fd < 0:
            raise StateError(ERR_STATE, "evp_poll_fd failed")
        return int(fd)

    def _call(self, fn: Any) -> Any:
        """fn(handle), counted as a call in progress (see _Core.enter)."""
        h = self._core.enter()
        try:
            return fn(h)
        finally:
            self._core.leave()

    @property
    def closed(self) -> bool:
        return self._core.h is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<evpipe.Client {'closed' if self.closed else 'open'} at {id(self):#x}>"


