"""A minimal PEP 517 / PEP 660 build backend for the evpipe package.

Standard library only, so pip can build the package without downloading
anything (pyproject.toml: requires = [], backend-path = ["_build"]). It knows
exactly one layout: the pure-Python package directory ``evpipe/`` next to
pyproject.toml, metadata from pyproject's [project] table (static fields:
name, version, description, readme, requires-python, dependencies,
classifiers, urls). Wheels are ``py3-none-any``: the binding loads
libevpipe at run time with ctypes, so there is nothing to compile.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import re
import time
import zipfile
from typing import Any, Dict, List, Mapping, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "evpipe"
# Fixed timestamp for reproducible archives (zip cannot store before 1980).
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _project() -> Dict[str, Any]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return _project_fallback(raw.decode("utf-8"))
    project: Dict[str, Any] = tomllib.loads(raw.decode("utf-8"))["project"]
    return project


def _project_fallback(text: str) -> Dict[str, Any]:
    """Read [project] and [project.urls] without tomllib: only the forms this
    package's pyproject.toml uses (strings, arrays of strings, one-line
    inline tables of strings)."""
    project: Dict[str, Any] = {}
    table: Optional[Dict[str, Any]] = None
    pending = ""
    for line in text.splitlines():
        line = pending + line.split(" #")[0].strip() if not line.lstrip().startswith("#") else ""
        if line.startswith("["):
            name = line.strip("[]")
            table = project if name == "project" else \
                project.setdefault("urls", {}) if name == "project.urls" else None
            continue
        if table is None or "=" not in line:
            continue
        if line.count("[") > line.count("]"):
            pending = line + " "
            continue
        pending = ""
        key, value = (x.strip() for x in line.split("=", 1))
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
        if value.startswith("["):
            table[key] = strings
        elif value.startswith("{"):
            table[key] = dict(zip(re.findall(r"(\w+)\s*=", value), strings))
        else:
            table[key.strip('"')] = strings[0] if strings else value
    return project


def _dist(project: Mapping[str, Any]) -> Tuple[str, str]:
    # Wheel file names use the normalized name with "_" (PEP 427 / 503).
    name = str(project["name"]).replace("-", "_").replace(".", "_").lower()
    return name, str(project["version"])


def _metadata(project: Mapping[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}",
             f"Version: {project['version']}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lic = project.get("license", {})
    if isinstance(lic, dict) and "text" in lic:
        lines.append(f"License: {lic['text']}")
    for c in project.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    for label, url in project.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def _package_files() -> List[str]:
    """The package's files, relative to ROOT, sorted (no caches)."""
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if not f.endswith((".pyc", ".pyo")):
                out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return out


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


class _Wheel:
    def __init__(self, directory: str, name: str, version: str) -> None:
        self.basename = f"{name}-{version}-py3-none-any.whl"
        self.dist_info = f"{name}-{version}.dist-info"
        self.path = os.path.join(directory, self.basename)
        self.zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records: List[str] = []

    def add(self, arcname: str, data: bytes) -> None:
        info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        self.records.append(_record_line(arcname, data))

    def finish(self, project: Mapping[str, Any]) -> str:
        self.add(f"{self.dist_info}/METADATA", _metadata(project).encode())
        self.add(f"{self.dist_info}/WHEEL",
                 b"Wheel-Version: 1.0\nGenerator: evpipe_build\nRoot-Is-Purelib: true\n"
                 b"Tag: py3-none-any\n")
        record = f"{self.dist_info}/RECORD"
        self.records.append(f"{record},,")
        info = zipfile.ZipInfo(record, date_time=_EPOCH)
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, "\n".join(self.records) + "\n")
        self.zip.close()
        return self.basename


# ---- PEP 517 hooks

def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(
        config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    project = _project()
    w = _Wheel(wheel_directory, *_dist(project))
    for rel in _package_files():
        with open(os.path.join(ROOT, rel), "rb") as f:
            w.add(rel.replace(os.sep, "/"), f.read())
    return w.finish(project)


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                   metadata_directory: Optional[str] = None) -> str:
    """PEP 660: a wheel holding only a .pth file that puts this directory on
    sys.path, so edits to evpipe/ take effect without reinstalling."""
    project = _project()
    name, version = _dist(project)
    w = _Wheel(wheel_directory, name, version)
    w.add(f"__editable__.{name}-{version}.pth", (ROOT + "\n").encode())
    return w.finish(project)


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = _project()
    name, version = _dist(project)
    base = f"{name}-{version}"
    files = ["pyproject.toml", "README.md", "_build/evpipe_build.py"] + _package_files()
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.mktime(_EPOCH + (0, 0, -1)))
            tar.addfile(info, io.BytesIO(data))
        add("PKG-INFO", _metadata(project).encode())
        for rel in files:
            with open(os.path.join(ROOT, rel), "rb") as f:
                add(rel.replace(os.sep, "/"), f.read())
    return base + ".tar.gz"
