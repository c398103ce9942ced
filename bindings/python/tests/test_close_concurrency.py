"""Closing while other threads are inside the binding, and Schema workspaces (defects the review of issue 15 found)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# close() on one thread while another thread is inside flush() (docs/python.md:
# "send(), submit(), stats(), pause() and resume() may be called from any
# thread ... flush() and poll() waiting do not block other Python threads").
# ctypes drops the GIL for evp_flush(); close() then runs
# evp_client_destroy(), which frees the C client while evp_flush() still runs
# on it: a use-after-free (ASan: heap-use-after-free in
# evp__client_call_delivery called from evp_flush; without ASan, SIGSEGV).
# The other bindings hold a read lock around every call and take the write
# lock in close (Java, Go): close waits for the flush.
_CLOSE_DURING_FLUSH = textwrap.dedent("""
    import threading, time
    import evpipe

    entered = threading.Event()
    order = []

    def on_delivery(report):
        if threading.current_thread().name == "flusher":
            entered.set()
            time.sleep(1.0)  # close() runs on the main thread meanwhile

    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="review",
                      client_secret="s" * 32, audience="events",
                      message_timeout_ms=50, on_delivery=on_delivery)
    for _ in range(3):
        c.send('{"event_type":"a","app_id":"b"}')

    def flusher():
        try:
            c.flush(timeout=5)
            order.append("flush returned")
        except evpipe.StateError:
            order.append("flush refused")

    t = threading.Thread(target=flusher, name="flusher")
    t.start()
    assert entered.wait(5), "no report was served by flush()"
    c.close(timeout=0)
    order.append("close returned")
    t.join()
    print(order)
    assert order[0].startswith("flush"), f"close() returned while flush() ran: {order}"
""")


def test_close_while_another_thread_flushes_waits_instead_of_freeing() -> None:
    out = subprocess.run([sys.executable, "-c", _CLOSE_DURING_FLUSH], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, (f"exit {out.returncode} (-11: SIGSEGV, the C client freed "
                                 f"under evp_flush)\n{out.stdout}\n{out.stderr[-3000:]}")


def test_schema_frees_the_workspace_of_every_thread_that_validated() -> None:
    """Schema keeps one evp_schema_ctx_t per thread in a threading.local whose
    __del__ frees only the context of the thread that happens to run it: the
    contexts of other threads (a thread pool, short-lived request threads)
    are never destroyed. Counted by wrapping the two C functions."""
    import gc
    import threading

    import evpipe
    from evpipe import _lib

    lib = _lib.lib()
    counts = {"new": 0, "destroy": 0}
    real_new, real_destroy = lib.evp_schema_ctx_new, lib.evp_schema_ctx_destroy

    def counting_new():  # type: ignore[no-untyped-def]
        counts["new"] += 1
        return real_new()

    def counting_destroy(h):  # type: ignore[no-untyped-def]
        counts["destroy"] += 1
        return real_destroy(h)

    lib.evp_schema_ctx_new, lib.evp_schema_ctx_destroy = counting_new, counting_destroy
    try:
        schema = evpipe.Schema('{"type":"object","required":["a"]}')

        def use() -> None:
            assert schema.validate({}) and schema.is_valid({"a": 1})

        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        use()  # and the main thread
        schema.close()
        del schema, use
        gc.collect()
        assert counts["new"] >= 9  # one per thread at least (per call is fine)
        assert counts["destroy"] == counts["new"], f"{counts}: contexts leaked"
    finally:
        lib.evp_schema_ctx_new, lib.evp_schema_ctx_destroy = real_new, real_destroy


def test_close_does_not_wait_forever_for_a_flush_without_limit() -> None:
    """close() waits for the calls in progress on other threads; a flush()
    without a limit on an unreachable server must then give way (it waits
    in slices and returns once the client is closing), or close() and a
    shutdown that calls it would hang."""
    import threading
    import time

    import evpipe

    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="review", client_secret="s" * 32,
                      audience="events")
    c.send('{"event_type":"a","app_id":"b"}')
    result = []
    t = threading.Thread(target=lambda: result.append(c.flush(None)), daemon=True)
    t.start()
    time.sleep(0.3)
    closed = []
    closer = threading.Thread(target=lambda: closed.append(c.close(0)), daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() waited for a flush() without a limit"
    assert closed == [1]  # the event is reported failed at close
    t.join(5)
    assert not t.is_alive(), "flush() without a limit kept running after close()"
    assert result == [1]
