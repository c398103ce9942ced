"""Fixtures: an `evpipe local` server per test that needs one, and a reader
of its Parquet lake.

Environment (set by tests/scripts/test_bindings_python.sh, or by hand):
  EVP_CLI         the evpipe tool (build/evpipe)
  EVP_SOURCE_DIR  the libevpipe source tree (for the event schema and the
                  lake reader, tests/node with its node_modules)
  EVPIPE_LIBRARY  the libevpipe.so.0.2 to test
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest

import evpipe

if os.environ.get("EVPIPE_TEST_INSTALLED"):
    # The script test installs the package into a venv: test that copy, not
    # the source tree.
    assert "site-packages" in evpipe.__file__, f"evpipe imported from {evpipe.__file__}"

CLIENT_ID = "py-app"
SECRET = "py-secret-0123456789abcdef0123456789"


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"${name} is not set (run tests/scripts/test_bindings_python.sh)")
    return v


@dataclass
class Local:
    url: str
    data: Path
    proc: "subprocess.Popen[bytes]"
    log: Path

    def config(self, **extra: object) -> dict:
        conf = {"endpoint": self.url, "client_id": CLIENT_ID, "client_secret": SECRET,
                "audience": "events", "linger_ms": 5}
        conf.update(extra)
        return conf

    def stop(self) -> int:
        """SIGTERM: the server flushes its lake and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

    def lake_event_ids(self) -> List[str]:
        """Every event_id in the lake (Parquet, read with hyparquet)."""
        nodedir = Path(_env("EVP_SOURCE_DIR")) / "tests" / "node"
        script = """
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.parquet') ? [join(d, e.name)] : []);
let ids = [];
for (const f of walk(process.argv.at(-1))) {
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(f), compressors,
                                          columns: ['event_id'] });
  ids = ids.concat(rows.map((r) => r.event_id));
}
console.log(JSON.stringify(ids));
"""
        events = self.data / "events"
        if not events.exists():
            return []
        out = subprocess.run(["node", "--input-type=module", "-", str(events)], input=script,
                             capture_output=True, text=True, cwd=nodedir, timeout=60)
        assert out.returncode == 0, f"lake reader failed: {out.stderr}"
        ids: List[str] = json.loads(out.stdout)
        return ids


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    cli = _env("EVP_CLI")
    src = Path(_env("EVP_SOURCE_DIR"))
    data = tmp_path / "data"
    (data / "secrets").mkdir(parents=True)
    clients = data / "secrets" / "clients.json"
    clients.write_text(json.dumps([{"client_id": CLIENT_ID, "client_secret": SECRET,
                                    "audiences": ["events"]}]))
    clients.chmod(0o600)
    log = tmp_path / "local.err"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [cli, "local", "--listen", "127.0.0.1:0", "--data", str(data), "--schema",
             str(src / "examples/schemas/glue-data-catalog-json-schema.json"), "--clients",
             str(clients), "--fsync", "never"],
            stdout=subprocess.DEVNULL, stderr=err)
    url = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not url:
        m = re.search(r'"msg":"listening","url":"([^"]*)"', log.read_text(errors="replace"))
        if m:
            url = m.group(1)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    if not url:
        proc.kill()
        pytest.fail(f"evpipe local did not start: {log.read_text(errors='replace')[-2000:]}")
    srv = Local(url, data, proc, log)
    yield srv
    srv.stop()


def event(**fields: object) -> dict:
    """A valid event of the lake's schema with a fresh event_id."""
    e = {"event_id": str(uuid.uuid4()), "event_type": "py_test", "app_id": "py",
         "properties": {"n": 1}}
    e.update(fields)
    return e
