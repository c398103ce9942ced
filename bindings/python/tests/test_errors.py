"""Error paths: exceptions carry the library's code and name."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Tuple

import pytest

import evpipe
from conftest import event


def test_unknown_property():
    with pytest.raises(evpipe.ConfigError) as e:
        evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                      no_such_property=1)
    assert e.value.code == 27 and e.value.name == "EVP_ERR_CONF_UNKNOWN"
    assert "no.such.property" in str(e.value)


def test_invalid_value_and_dotted_dict():
    with pytest.raises(evpipe.ConfigError) as e:
        evpipe.Client({"endpoint": "http://127.0.0.1:9", "batch.max.events": 0})
    assert e.value.name == "EVP_ERR_CONF_INVALID" and isinstance(e.value, evpipe.Error)


def test_missing_endpoint_refused_at_new():
    with pytest.raises(evpipe.ConfigError, match="endpoint") as e:
        evpipe.Client(client_id="a", client_secret="s" * 32)
    assert e.value.name == "EVP_ERR_CONF_INVALID"


def test_construction_raises_the_library_code(tmp_path):
    """The client's constructor raises the code the library met, not a guess:
    a spool directory open to other users is EVP_ERR_PERMISSION, one used
    by another client EVP_ERR_STATE, an unreadable schema file EVP_ERR_IO."""
    base = dict(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o755)
    os.chmod(spool, 0o755)
    with pytest.raises(evpipe.Error) as e:
        evpipe.Client(spool_dir=str(spool), **base)
    assert e.value.name == "EVP_ERR_PERMISSION" and "chmod 700" in e.value.reason
    os.chmod(spool, 0o700)
    with evpipe.Client(spool_dir=str(spool), **base) as first:
        with pytest.raises(evpipe.StateError) as e:
            evpipe.Client(spool_dir=str(spool), **base)
        assert "in use by another client" in e.value.reason
        first.close(0)
    with pytest.raises(evpipe.Error) as e:
        evpipe.Client(schema_file=str(tmp_path / "missing.json"), **base)
    assert e.value.name == "EVP_ERR_IO" and "missing.json" in e.value.reason


def test_invalid_event_refused_with_json_path(local):
    schema = os.path.join(os.environ["EVP_SOURCE_DIR"],
                          "examples/schemas/glue-data-catalog-json-schema.json")
    with evpipe.Client(local.config(schema_file=schema)) as c:
        with pytest.raises(evpipe.InvalidEventError) as e:
            c.send(event(platform="amiga"))
        assert e.value.name == "EVP_ERR_INVALID_EVENT" and "/platform" in e.value.reason
        with pytest.raises(evpipe.InvalidEventError) as e:
            c.send(b'{"event_type": ')
        assert e.value.name == "EVP_ERR_JSON"
        with pytest.raises(TypeError):
            c.send(42)  # type: ignore[arg-type]
        assert c.stats()["enqueued"] == 0


def test_wrong_secret_reports_auth(local):
    errors: List[Tuple[evpipe.Error, bool]] = []
    conf = local.config(client_secret="wrong-secret-0123456789abcdef012345")
    with evpipe.Client(conf, on_error=lambda err, retrying: errors.append((err, retrying))) as c:
        fut = c.submit(event())
        c.flush(20)
        assert fut.done()
        with pytest.raises(evpipe.DeliveryError) as e:
            fut.result()
        assert e.value.name == "EVP_ERR_AUTH" and e.value.report.status.name == "FAILED"
    assert errors and errors[0][0].name == "EVP_ERR_AUTH" and errors[0][1] is False


def test_use_after_close():
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32)
    assert c.close(0) == 0
    assert c.closed and c.close() == 0, "closing twice is a no-op"
    for call in (lambda: c.send({}), c.flush, c.poll, c.stats, c.pause, c.resume):
        with pytest.raises(evpipe.StateError) as e:
            call()
        assert e.value.code == 31 and e.value.name == "EVP_ERR_STATE"


def test_close_reports_unsent_as_failed():
    got: List[evpipe.DeliveryReport] = []
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                      on_delivery=got.append)
    c.pause()
    fut = c.submit(event())
    assert c.close(0) == 1
    assert len(got) == 1 and got[0].status == evpipe.DeliveryStatus.FAILED
    assert isinstance(fut.exception(0), evpipe.DeliveryError)


def test_queue_full():
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                      queue_max_events=2)
    c.pause()
    c.send(event())
    c.send(event())
    with pytest.raises(evpipe.QueueFull) as e:
        c.send(event())
    assert e.value.name == "EVP_ERR_QUEUE_FULL"
    c.close(0)


def test_callback_exception_propagates_from_flush():
    def boom(_r: evpipe.DeliveryReport) -> None:
        raise RuntimeError("from the callback")

    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32,
                      on_delivery=boom)
    c.pause()
    c.send(event())
    with pytest.raises(RuntimeError, match="from the callback"):
        c.close(0)
    assert c.closed


def test_missing_library_names_what_was_tried():
    code = "import evpipe\ntry:\n    evpipe.version()\nexcept evpipe.LibraryNotFound as e:\n" \
           "    print(e)\n"
    env = dict(os.environ, EVPIPE_LIBRARY="/nonexistent/libevpipe.so.0.2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=30)
    assert "/nonexistent/libevpipe.so.0.2" in out.stdout and "EVPIPE_LIBRARY" in out.stdout


def test_property_names():
    assert evpipe.property_name("batch_max_events") == "batch.max.events"
    assert evpipe.property_name("fill_event_id") == "fill.event_id"
    assert evpipe.property_name("fill_event_time") == "fill.event_time"
    assert evpipe.property_name("client_secret") == "client.secret"


def test_close_from_own_callback_is_refused():
    results: List[str] = []
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="a", client_secret="s" * 32)

    def cb(_r: evpipe.DeliveryReport) -> None:
        for call in (c.close, c.flush, c.poll):
            try:
                call()
            except evpipe.StateError:
                results.append("refused")

    c.pause()
    c.send(event(), on_delivery=cb)
    assert c.flush(0) == 1
    c.resume()
    assert c.close(0) == 1
    assert results == ["refused"] * 3
