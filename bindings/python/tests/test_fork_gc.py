"""Fork and garbage-collection safety."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings
from typing import List

import pytest

import evpipe
from conftest import event


def _child(fn) -> int:
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            code = fn()
        except BaseException as e:  # noqa: BLE001
            print("child:", repr(e), file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_forked_child_gets_state_error_and_parent_still_delivers(local):
    got: List[evpipe.DeliveryReport] = []
    c = evpipe.Client(local.config(), on_delivery=got.append, poll_thread=True)

    def in_child() -> int:
        for call in (lambda: c.send(event()), c.flush, c.poll, c.stats, c.close):
            try:
                call()
                return 2
            except evpipe.StateError as e:
                if "forked child" not in str(e):
                    return 3
        # A new client in the child works.
        with evpipe.Client(local.config()) as c2:
            f = c2.submit(event())
            c2.flush(20)
            if not f.result().ok:
                return 4
        return 0

    assert _child(in_child) == 0
    e = event()
    c.send(e)
    assert c.flush(20) == 0
    c.close()
    assert [r.event_id for r in got] == [e["event_id"]]


def test_gc_of_inherited_client_in_child_does_not_crash():
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                      log_level=10)
    c.send(event())

    def in_child() -> int:
        global_ref = [c]
        global_ref.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ResourceWarning either: not ours to close
            gc.collect()
        return 0

    assert _child(in_child) == 0
    c.close(0)


def test_dropped_client_warns_and_reports(recwarn):
    got: List[evpipe.DeliveryReport] = []
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32)
    c.pause()
    c.send(event(), on_delivery=got.append)  # only the C side refers to this callback's slot
    del c
    gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in recwarn.list)
    assert len(got) == 1 and got[0].status == evpipe.DeliveryStatus.FAILED


def test_many_clients_dropped_without_close_survive_gc():
    for _ in range(20):
        c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                          poll_thread=True, poll_interval=0.01,
                          on_delivery=lambda r: None, log_level=10)
        c.send(event())
        with pytest.warns(ResourceWarning):
            del c
            gc.collect()


def test_interpreter_exit_with_open_client_does_not_hang():
    code = ("import evpipe\n"
            "c = evpipe.Client(endpoint='http://127.0.0.1:9', client_id='a', client_secret='s'*32,"
            " poll_thread=True, log_level=10, on_delivery=lambda r: print('report', r.name))\n"
            "c.send({'event_type': 'x', 'app_id': 'y'})\n")
    out = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", code],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "report EVP_ERR_STATE" in out.stdout and "ResourceWarning" in out.stderr
