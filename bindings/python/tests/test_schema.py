"""Schema: compile, validate, error paths."""
from __future__ import annotations

import threading

import pytest

import evpipe

SCHEMA = {"type": "object", "required": ["a"],
          "properties": {"a": {"type": "integer", "minimum": 1},
                         "b": {"$ref": "https://example.test/b.json"}}}
B = {"type": "array", "items": {"type": "string"}}


def test_valid_and_invalid_with_paths():
    s = evpipe.Schema(SCHEMA, resources={"https://example.test/b.json": B})
    assert s.validate({"a": 2, "b": ["x"]}) == [] and s.is_valid('{"a": 1}')
    errs = s.validate({"a": 0, "b": ["x", 3]}, max_errors=10)
    assert len(s.validate({"a": 0, "b": ["x", 3]}, max_errors=1)) == 1
    got = {(e.instance_path, e.keyword) for e in errs}
    assert ("/a", "minimum") in got and ("/b/1", "type") in got
    assert all(e.schema_path and e.message for e in errs)
    assert s.validate(b"{}")[0].keyword == "required"


def test_bad_schema_and_bad_json():
    with pytest.raises(evpipe.Error) as e:
        evpipe.Schema({"type": 12})
    assert e.value.name == "EVP_ERR_SCHEMA_INVALID"
    with pytest.raises(evpipe.Error) as e:
        evpipe.Schema({"$ref": "https://nowhere.test/x.json"})
    assert e.value.name == "EVP_ERR_SCHEMA_REF"
    with pytest.raises(evpipe.Error) as e:
        evpipe.Schema("{not json")
    assert e.value.name == "EVP_ERR_JSON"
    with pytest.raises(evpipe.InvalidEventError) as e:
        evpipe.Schema(SCHEMA, resources={"https://example.test/b.json": B}).validate("[1,")
    assert e.value.name == "EVP_ERR_JSON"


def test_threads_share_a_schema():
    s = evpipe.Schema({"type": "integer"})
    bad = []

    def work(v: int) -> None:
        for _ in range(500):
            if s.is_valid(str(v)) != (v >= 0) or s.is_valid('"x"'):
                bad.append(v)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


def test_closed_schema():
    s = evpipe.Schema(True)
    s.close()
    with pytest.raises(evpipe.StateError):
        s.validate(1)
