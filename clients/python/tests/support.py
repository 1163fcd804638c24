"""Shared helpers: import path, repository paths, directory layouts like kubelet's."""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Dict, Mapping, Optional

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # clients/python
REPO_ROOT = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
VECTORS_DIR = os.path.join(REPO_ROOT, "tests", "vectors")
EXAMPLE_APP = os.path.join(PACKAGE_ROOT, "examples", "app.py")

# Tests run without installing the package.
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)


def file_bytes(content: Any) -> bytes:
    """A vector file: strings byte for byte, anything else as JSON."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    return json.dumps(content, ensure_ascii=False).encode("utf-8")


def write_plain(directory: str, files: Mapping[str, Any]) -> None:
    for name, content in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(file_bytes(content))


class KubeletDir:
    """A directory laid out and updated the way kubelet's AtomicWriter does it: every
    version in a timestamped `..YYYY_MM_DD_hh_mm_ss.nnnnnnnnn` directory, `..data`
    pointing at it (replaced atomically by renaming a new symlink over it), and one
    symlink per key through `..data`."""

    def __init__(self, path: str):
        self.path = path
        self.version = 0
        self.current: Optional[str] = None
        self.keys: set = set()

    def publish(self, files: Mapping[str, Any]) -> str:
        self.version += 1
        stamp = f"..2026_11_21_10_{self.version // 60:02d}_{self.version % 60:02d}.{self.version:09d}"
        real = os.path.join(self.path, stamp)
        os.mkdir(real)
        write_plain(real, files)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))  # the atomic switch
        for name in files:
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        for name in self.keys - set(files):
            os.unlink(os.path.join(self.path, name))
        self.keys = set(files)
        if self.current:
            shutil.rmtree(os.path.join(self.path, self.current))
        self.current = stamp
        return stamp


def lay_out(directory: str, files: Mapping[str, Any], layout: str = "plain") -> None:
    if layout == "plain":
        write_plain(directory, files)
    elif layout == "kubelet":
        KubeletDir(directory).publish(files)
    else:
        raise ValueError(f"unknown layout {layout!r}")


def load_vectors() -> Dict[str, Dict[str, Any]]:
    out = {}
    for name in sorted(os.listdir(VECTORS_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(VECTORS_DIR, name), encoding="utf-8") as f:
                out[name] = json.load(f)
    return out


T0 = "2027-01-15T08:00:00Z"


def document(entries, namespace="apps", index=0, count=1, exemptions=None, revocations=None) -> Dict[str, Any]:
    out = {
        "format": "interdict.dev/blocklist/v1",
        "namespace": namespace,
        "shard": {"count": count, "index": index},
        "entries": list(entries),
    }
    if exemptions:  # rendered only when there are some, as the operator does
        out["exemptions"] = list(exemptions)
    if revocations:
        out["revocations"] = list(revocations)
    return out


def user_ban(id_, subject, mode="Suspend", frm=T0, until=None, reason="spam", **extra) -> Dict[str, Any]:
    entry = {"id": id_, "kind": "UserBan", "subject": subject, "mode": mode, "from": frm, "reason": reason}
    if until:
        entry["until"] = until
    entry.update(extra)
    return entry


def feature_block(id_, subject, features, scopes=(), frm=T0, until=None, reason="abuse", **extra):
    entry = {"id": id_, "kind": "FeatureBlock", "subject": subject, "features": list(features),
             "from": frm, "reason": reason}
    if scopes:
        entry["scopes"] = [{"kind": k, "name": n} for k, n in scopes]
    if until:
        entry["until"] = until
    entry.update(extra)
    return entry
