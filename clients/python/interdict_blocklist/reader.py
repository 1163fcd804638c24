"""Reading blocklist documents and directories (`interdict::core::document`,
`interdict::reader`).

A directory is read as an application pod sees a mounted ConfigMap: every file whose
name starts with `blocklist` and ends with `.json` is a document (shards merge), in
name order; every other file (`suspended-*.txt`, kubelet's `..data`, ...) is ignored.
Parsing is as strict as the Rust reader's: a document that the Rust reader refuses
is refused here too, and unknown fields are ignored by both. A document's optional
`exemptions` and `revocations` (added within v1; absent means none) merge across
shards like entries.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

from ._time import parse_time
from .model import (
    FEATURE_BLOCK,
    SILENCE,
    SUBJECT_KINDS,
    SUSPEND,
    USER_BAN,
    Contents,
    Entry,
    Exemption,
    Revocation,
    Scope,
)

#: The `format` every v1 document carries. Readers refuse any other value.
FORMAT_V1 = "interdict.dev/blocklist/v1"
#: Data key of the JSON document in an unsharded blocklist.
DOCUMENT_KEY = "blocklist.json"

PathLike = Union[str, "os.PathLike[str]"]


class BlocklistError(Exception):
    """A blocklist directory or document that cannot be used. `path` names the file
    (or directory) at fault; `kind` is `dir` (cannot list the directory), `empty` (no
    `blocklist*.json`), `file` (cannot read a document) or `document` (malformed
    document or unknown format), like the Rust `ReadError` variants."""

    def __init__(self, message: str, path: Optional[str] = None, kind: str = "document"):
        super().__init__(message)
        self.path = path
        self.kind = kind


class DocumentError(ValueError):
    """A document that is not a valid format v1 blocklist."""


@dataclass(frozen=True)
class Document:
    format: str
    namespace: str
    shard_index: int
    shard_count: int
    entries: Tuple[Entry, ...]
    exemptions: Tuple[Exemption, ...] = ()
    revocations: Tuple[Revocation, ...] = ()


def is_document_file(name: str) -> bool:
    """`blocklist*.json`, never kubelet's `..*` names."""
    return name.startswith("blocklist") and name.endswith(".json") and not name.startswith("..")


# --------------------------------------------------------------------------- JSON


class _Object(dict):
    """A JSON object that remembers its member count and repeated keys (serde refuses
    a repeated known field; a subject must have exactly one member)."""

    __slots__ = ("members", "repeated")


def _object_hook(pairs: List[Tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.members = len(pairs)
    obj.repeated = set()
    for key, value in pairs:
        if key in obj:
            obj.repeated.add(key)
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise DocumentError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_hook, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise DocumentError(f"not a blocklist document: {e}") from None
    except RecursionError:
        raise DocumentError("not a blocklist document: recursion limit exceeded") from None


# --------------------------------------------------------------------------- fields


def _struct(value: Any, what: str, known: Sequence[str]) -> _Object:
    if not isinstance(value, _Object):
        raise DocumentError(f"{what}: expected an object, got {_type(value)}")
    for key in known:
        if key in value.repeated:
            raise DocumentError(f"{what}: duplicate field `{key}`")
    return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _required(obj: _Object, key: str, what: str) -> Any:
    if key not in obj:
        raise DocumentError(f"{what}: missing field `{key}`")
    return obj[key]


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"{what}: expected a string, got {_type(value)}")
    return value


def _opt_string(obj: _Object, key: str, what: str) -> Optional[str]:
    value = obj.get(key)
    return None if value is None else _string(value, f"{what}.{key}")


def _time(value: Any, what: str):
    try:
        return parse_time(_string(value, what))
    except ValueError as e:
        raise DocumentError(f"{what}: {e}") from None


def _opt_time(obj: _Object, key: str, what: str):
    value = obj.get(key)
    return None if value is None else _time(value, f"{what}.{key}")


def _u32(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise DocumentError(f"{what}: expected an unsigned 32-bit integer, got {value!r}")
    return value


def _list(obj: _Object, key: str, what: str) -> list:
    if key not in obj:
        return []
    value = obj[key]
    if not isinstance(value, list):
        raise DocumentError(f"{what}.{key}: expected an array, got {_type(value)}")
    return value


_ENTRY_FIELDS = (
    "id", "kind", "subject", "mode", "features", "scopes", "from", "until", "reason",
    "message", "revokeSessionsBefore", "appealInstructions",
)


def _subject(obj: _Object, what: str) -> Tuple[str, str]:
    """`{"userId": "123"}`: exactly one member, a known kind, a string value."""
    subject = _required(obj, "subject", what)
    if not isinstance(subject, _Object) or subject.members != 1:
        raise DocumentError(f"{what}.subject: expected exactly one of {', '.join(SUBJECT_KINDS)}")
    ((subject_kind, subject_value),) = subject.items()
    if subject_kind not in SUBJECT_KINDS:
        raise DocumentError(f"{what}.subject: unknown subject kind {subject_kind!r}")
    return subject_kind, _string(subject_value, f"{what}.subject.{subject_kind}")


def parse_entry(value: Any, what: str = "entry") -> Entry:
    """One entry of a document (a JSON value already decoded)."""
    obj = _struct(value, what, _ENTRY_FIELDS)
    entry_id = _string(_required(obj, "id", what), f"{what}.id")
    what = f"entry {entry_id!r}"
    kind = _string(_required(obj, "kind", what), f"{what}.kind")
    if kind not in (USER_BAN, FEATURE_BLOCK):
        raise DocumentError(f"{what}: unknown kind {kind!r}, expected UserBan or FeatureBlock")
    subject_kind, subject_value = _subject(obj, what)
    mode = obj.get("mode")
    if mode is not None and mode not in (SUSPEND, SILENCE):
        raise DocumentError(f"{what}.mode: expected Suspend or Silence, got {mode!r}")
    features = tuple(
        _string(f, f"{what}.features[{i}]") for i, f in enumerate(_list(obj, "features", what))
    )
    scopes = []
    for i, s in enumerate(_list(obj, "scopes", what)):
        sw = f"{what}.scopes[{i}]"
        s = _struct(s, sw, ("kind", "name"))
        scopes.append(
            Scope(
                _string(_required(s, "kind", sw), f"{sw}.kind"),
                _string(_required(s, "name", sw), f"{sw}.name"),
            )
        )
    return Entry(
        id=entry_id,
        kind=kind,
        subject_kind=subject_kind,
        subject_value=subject_value,
        mode=mode,
        features=features,
        scopes=tuple(scopes),
        from_=_time(_required(obj, "from", what), f"{what}.from"),
        until=_opt_time(obj, "until", what),
        reason=_string(_required(obj, "reason", what), f"{what}.reason"),
        message=_opt_string(obj, "message", what),
        revoke_sessions_before=_opt_time(obj, "revokeSessionsBefore", what),
        appeal_instructions=_opt_string(obj, "appealInstructions", what),
    )


_EXEMPTION_FIELDS = ("id", "subject", "until")


def parse_exemption(value: Any, what: str = "exemption") -> Exemption:
    """One exemption of a document (a JSON value already decoded): `id`, `subject`
    and an optional `until`; unknown fields are ignored."""
    obj = _struct(value, what, _EXEMPTION_FIELDS)
    exemption_id = _string(_required(obj, "id", what), f"{what}.id")
    what = f"exemption {exemption_id!r}"
    subject_kind, subject_value = _subject(obj, what)
    return Exemption(
        id=exemption_id,
        subject_kind=subject_kind,
        subject_value=subject_value,
        until=_opt_time(obj, "until", what),
    )


_REVOCATION_FIELDS = ("id", "subject", "before", "until")


def parse_revocation(value: Any, what: str = "revocation") -> Revocation:
    """One revocation of a document (a JSON value already decoded): `id`, `subject`,
    `before` and `until`, all required; unknown fields are ignored."""
    obj = _struct(value, what, _REVOCATION_FIELDS)
    revocation_id = _string(_required(obj, "id", what), f"{what}.id")
    what = f"revocation {revocation_id!r}"
    subject_kind, subject_value = _subject(obj, what)
    return Revocation(
        id=revocation_id,
        subject_kind=subject_kind,
        subject_value=subject_value,
        before=_time(_required(obj, "before", what), f"{what}.before"),
        until=_time(_required(obj, "until", what), f"{what}.until"),
    )


def parse_document(text: str) -> Document:
    """A format v1 document. Raises `DocumentError` on malformed JSON, another format
    (`interdict.dev/blocklist/v2`, ...) or a missing/ill-typed field."""
    data = _loads(text)
    top = _struct(data, "document", (
        "format", "namespace", "shard", "entries", "exemptions", "revocations",
    ))
    fmt = _string(_required(top, "format", "document"), "document.format")
    if fmt != FORMAT_V1:
        raise DocumentError(
            f"unsupported blocklist format {fmt!r} (this reader understands {FORMAT_V1!r})"
        )
    namespace = _string(_required(top, "namespace", "document"), "document.namespace")
    shard = _struct(_required(top, "shard", "document"), "document.shard", ("index", "count"))
    index = _u32(_required(shard, "index", "document.shard"), "document.shard.index")
    count = _u32(_required(shard, "count", "document.shard"), "document.shard.count")
    raw_entries = _required(top, "entries", "document")
    if not isinstance(raw_entries, list):
        raise DocumentError(f"document.entries: expected an array, got {_type(raw_entries)}")
    entries = tuple(parse_entry(e, f"entries[{i}]") for i, e in enumerate(raw_entries))
    exemptions = tuple(
        parse_exemption(x, f"exemptions[{i}]")
        for i, x in enumerate(_list(top, "exemptions", "document"))
    )
    revocations = tuple(
        parse_revocation(r, f"revocations[{i}]")
        for i, r in enumerate(_list(top, "revocations", "document"))
    )
    return Document(fmt, namespace, index, count, entries, exemptions, revocations)


# --------------------------------------------------------------------------- directories


def _utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # undecodable bytes (surrogate escapes); Rust skips them
        return False


def document_names(directory: PathLike) -> List[str]:
    """The document file names of a directory, sorted. Raises `BlocklistError` when the
    directory cannot be listed."""
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except OSError as e:
        raise BlocklistError(
            f"cannot read blocklist directory {directory}: {e}", directory, "dir"
        ) from None
    return sorted(n for n in names if _utf8_name(n) and is_document_file(n))


def load_dir(directory: PathLike) -> Contents:
    """Every entry, exemption and revocation of every `blocklist*.json` document in
    `directory`, merged, files in name order (`Contents.entries`,
    `Contents.exemptions`, `Contents.revocations`). Raises `BlocklistError` naming the file on an unreadable
    or malformed document or an unknown format, and when there is no document at all."""
    return _load(os.fspath(directory), os.fspath(directory))


def _load(read_dir: str, shown_dir: str) -> Contents:
    """Reads documents from `read_dir` (e.g. the directory `..data` points to), naming
    files under `shown_dir` in errors."""
    names = document_names(read_dir)
    if not names:
        raise BlocklistError(f"no blocklist*.json file in {shown_dir}", shown_dir, "empty")
    entries: List[Entry] = []
    exemptions: List[Exemption] = []
    revocations: List[Revocation] = []
    for name in names:
        shown = os.path.join(shown_dir, name)
        try:
            with open(os.path.join(read_dir, name), "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BlocklistError(f"cannot read blocklist file {shown}: {e}", shown, "file") from None
        try:
            document = parse_document(text)
        except DocumentError as e:
            raise BlocklistError(f"blocklist file {shown}: {e}", shown, "document") from None
        entries.extend(document.entries)
        exemptions.extend(document.exemptions)
        revocations.extend(document.revocations)
    return Contents(tuple(entries), tuple(exemptions), tuple(revocations))


__all__ = [
    "BlocklistError",
    "DOCUMENT_KEY",
    "Document",
    "DocumentError",
    "FORMAT_V1",
    "document_names",
    "is_document_file",
    "load_dir",
    "parse_document",
    "parse_entry",
    "parse_exemption",
    "parse_revocation",
]
