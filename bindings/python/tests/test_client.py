"""The client end to end against `evpipe local`: what is sent lands in the
lake exactly once, and every accepted event gets exactly one report."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from typing import List

import evpipe
from conftest import event


def test_send_dict_str_bytes_land_in_lake_exactly_once(local):
    reports: List[evpipe.DeliveryReport] = []
    sent = []
    with evpipe.Client(local.config(), on_delivery=reports.append) as c:
        for i in range(300):
            e = event(properties={"i": i})
            sent.append(e["event_id"])
            if i % 3 == 0:
                c.send(e)
            elif i % 3 == 1:
                c.send(json.dumps(e))
            else:
                c.send(json.dumps(e).encode())
        assert c.flush(30) == 0
        stats = c.stats()
    assert sorted(r.event_id for r in reports) == sorted(sent)
    assert all(r.ok and r.code == 0 and r.name == "EVP_OK" for r in reports)
    assert stats["delivered"] == 300 and stats["enqueued"] == 300
    assert local.stop() == 0
    ids = local.lake_event_ids()
    assert sorted(ids) == sorted(sent), "each event exactly once in the lake"


def test_filled_event_id_reported(local):
    got: List[evpipe.DeliveryReport] = []
    with evpipe.Client(local.config()) as c:
        c.send({"event_type": "py_fill", "app_id": "py"}, on_delivery=got.append)
        c.flush(30)
    assert len(got) == 1 and got[0].ok and len(got[0].event_id) == 36
    assert local.stop() == 0
    assert local.lake_event_ids() == [got[0].event_id]


def test_futures_and_per_event_callbacks(local):
    per_event: List[evpipe.DeliveryReport] = []
    with evpipe.Client(local.config()) as c:
        futs = [c.submit(event()) for _ in range(20)]
        c.send(event(), on_delivery=per_event.append)
        assert all(isinstance(f, Future) for f in futs)
        c.flush(30)
        assert all(f.done() and f.result().ok for f in futs)
        assert len({f.result().event_id for f in futs}) == 20
    assert len(per_event) == 1 and per_event[0].ok


def test_poll_serves_reports_on_calling_thread(local):
    threads = set()
    seen: List[str] = []

    def on_delivery(r: evpipe.DeliveryReport) -> None:
        threads.add(threading.get_ident())
        seen.append(r.event_id)

    with evpipe.Client(local.config(), on_delivery=on_delivery) as c:
        e = event()
        c.send(e)
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            c.poll(0.1)
        assert seen == [e["event_id"]]
        assert threads == {threading.get_ident()}
        assert c.poll(0) == 0


def test_poll_thread_completes_futures(local):
    main = threading.get_ident()
    where = []
    with evpipe.Client(local.config(), poll_thread=True, poll_interval=0.02,
                       on_delivery=lambda r: where.append(threading.current_thread().name)) as c:
        fut = c.submit(event())
        rep = fut.result(timeout=20)  # completed by the binding's poller thread
        assert rep.ok and rep.attempts >= 1 and rep.http_status == 200
    assert where == ["evpipe-poll"] and threading.get_ident() == main


def test_pause_resume_and_stats(local):
    with evpipe.Client(local.config(), linger_ms=0) as c:
        c.pause()
        f = c.submit(event())
        time.sleep(0.3)
        assert c.poll(0) == 0 and not f.done(), "paused: nothing sent"
        s = c.stats()
        assert isinstance(s, dict) and s["enqueued"] == 1
        c.resume()
        assert f.result if c.flush(20) == 0 else False
        assert f.result().ok


def test_logs_reach_python_logging(local, caplog):
    import logging
    caplog.set_level(logging.DEBUG, logger="evpipe")
    with evpipe.Client(local.config(), log_level=logging.DEBUG) as c:
        c.send(event())
        c.flush(20)
    assert any(r.name == "evpipe" for r in caplog.records), "library log lines in logging"


def test_fileno_becomes_readable(local):
    import select
    with evpipe.Client(local.config()) as c:
        c.send(event())
        r, _, _ = select.select([c.fileno()], [], [], 20)
        assert r and c.poll(0) == 1
