"""Reading blocklist documents and directories (`interdict::core::document`,
`interdict::reader`).

A directory is read as an application pod sees a mounted ConfigMap: every file whose
name starts with `blocklist` and ends with `.json` is a document (shards merge), in
name order; every other file (`suspended-*.txt`, kubelet's `..data`, ...) is ignored.
In a kubelet mount every document is read from the one version `..data` resolves to,
and the documents must form one complete shard set (`check_shards`).
Parsing is as strict as the Rust reader's: a document that the Rust reader refuses
is refused here too, and unknown fields are ignored by both. A document's optional
`exemptions` and `revocations` (added within v1; absent means none) merge across
shards like entries.

An entry, exemption or revocation that cannot be understood (a time outside the
years 0001-9999, an unknown kind or mode, an address that is not one, a missing,
repeated or ill-typed field) is left out of its document, listed in
`Document.skipped` / `Contents.skipped` and logged; the rest of the document is used.
Refusing the whole document for it would leave every other ban unenforced (or frozen
at a stale copy) until someone repaired the one item. The Rust reader leaves out the
same items (`interdict::core::document::SkippedItem`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Set, Tuple, TypeVar, Union

from ._time import parse_time
from .emails import EmailKey, EmailKeyLike, as_email_key
from .index import foreign_email_keys
from .model import (
    FEATURE_BLOCK,
    SILENCE,
    SUBJECT_KINDS,
    SUSPEND,
    USER_BAN,
    Contents,
    Entry,
    Exemption,
    ItemList,
    Revocation,
    Scope,
    Skipped,
    SkippedItem,
)
from .ipnet import parse_net

log = logging.getLogger("interdict_blocklist")
log.addHandler(logging.NullHandler())  # the application configures logging

#: The `format` every v1 document carries. Readers refuse any other value.
FORMAT_V1 = "interdict.dev/blocklist/v1"
#: Data key of the JSON document in an unsharded blocklist.
DOCUMENT_KEY = "blocklist.json"

#: The symlink kubelet swaps atomically to publish a new version of a mounted ConfigMap.
DATA_LINK = "..data"

PathLike = Union[str, "os.PathLike[str]"]

#: What went wrong, as the Rust `ReadError` variants: `dir` (cannot list the
#: directory), `empty` (no `blocklist*.json`), `file` (cannot read a document),
#: `document` (malformed document or unknown format), `shards` (the documents do not
#: form one complete shard set).
ErrorKind = Literal["dir", "empty", "file", "document", "shards"]


class BlocklistError(Exception):
    """A blocklist directory or document that cannot be used. `path` names the file
    (or directory) at fault, under the directory the caller gave (never kubelet's
    timestamped version directory); `kind` says what went wrong (`ErrorKind`)."""

    def __init__(self, message: str, path: Optional[str] = None, kind: ErrorKind = "document"):
        super().__init__(message)
        self.path = path
        self.kind: ErrorKind = kind


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
    #: The items left out because they could not be understood, in list order
    #: (entries, exemptions, revocations), then by position.
    skipped: Tuple[SkippedItem, ...] = ()


def is_document_file(name: str) -> bool:
    """`blocklist*.json`, never kubelet's `..*` names."""
    return name.startswith("blocklist") and name.endswith(".json") and not name.startswith("..")


# --------------------------------------------------------------------------- JSON


class _Object(Dict[str, Any]):
    """A JSON object that remembers its member count and repeated keys (serde refuses
    a repeated known field; a subject must have exactly one member)."""

    __slots__ = ("members", "repeated")
    members: int
    repeated: Set[str]


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


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # `1e400`: serde_json refuses it as out of range
        raise DocumentError(f"number {text} is out of range")
    return value


def _integer(text: str) -> int:
    _finite(text)  # serde_json reads integers past u64 as floats, which must be finite
    return int(text)


def _loads(text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_object_hook, parse_constant=_no_constants,
            parse_float=_finite,
            parse_int=_integer,
        )
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


def _time(value: Any, what: str) -> datetime:
    try:
        return parse_time(_string(value, what))
    except ValueError as e:
        raise DocumentError(f"{what}: {e}") from None


def _opt_time(obj: _Object, key: str, what: str) -> Optional[datetime]:
    value = obj.get(key)
    return None if value is None else _time(value, f"{what}.{key}")


def _u32(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise DocumentError(f"{what}: expected an unsigned 32-bit integer, got {value!r}")
    return value


def _list(obj: _Object, key: str, what: str) -> List[Any]:
    if key not in obj:
        return []
    value = obj[key]
    if not isinstance(value, list):
        raise DocumentError(f"{what}.{key}: expected an array, got {_type(value)}")
    return value


_ENTRY_FIELDS = (
    "id", "kind", "subject", "mode", "features", "scopes", "from", "until", "reason",
    "message", "revokeSessionsBefore", "appealInstructions", "global",
)


def _subject(obj: _Object, what: str) -> Tuple[str, str]:
    """`{"userId": "123"}`: exactly one member, a known kind, a string value; an
    `ip` must be an address or a network (one that is neither could never match)."""
    subject = _required(obj, "subject", what)
    if not isinstance(subject, _Object) or subject.members != 1:
        raise DocumentError(f"{what}.subject: expected exactly one of {', '.join(SUBJECT_KINDS)}")
    ((subject_kind, subject_value),) = subject.items()
    if subject_kind not in SUBJECT_KINDS:
        raise DocumentError(f"{what}.subject: unknown subject kind {subject_kind!r}")
    value = _string(subject_value, f"{what}.subject.{subject_kind}")
    if subject_kind == "ip" and parse_net(value) is None:
        raise DocumentError(f"{what}.subject.ip: {value!r} is not an IPv4/IPv6 address or CIDR")
    return subject_kind, value


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
    if "global" in obj and not isinstance(obj["global"], bool):
        raise DocumentError(f"{what}.global: expected a boolean, got {_type(obj['global'])}")
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
    raw_exemptions = _list(top, "exemptions", "document")
    raw_revocations = _list(top, "revocations", "document")
    skipped: List[SkippedItem] = []
    entries = _items(raw_entries, "entries", parse_entry, skipped)
    exemptions = _items(raw_exemptions, "exemptions", parse_exemption, skipped)
    revocations = _items(raw_revocations, "revocations", parse_revocation, skipped)
    return Document(
        fmt, namespace, index, count, entries, exemptions, revocations, tuple(skipped)
    )


T = TypeVar("T")


def _items(
    values: List[Any], name: ItemList, parse: Callable[[Any, str], T], skipped: List[SkippedItem]
) -> Tuple[T, ...]:
    """The items of one list that parse; the others are appended to `skipped`."""
    kept: List[T] = []
    for i, value in enumerate(values):
        try:
            kept.append(parse(value, f"{name}[{i}]"))
        except DocumentError as e:
            skipped.append(SkippedItem(name, i, _item_id(value), str(e)))
    return tuple(kept)


def _item_id(value: Any) -> Optional[str]:
    """The `id` a skipped item is named by: the last `id` member, when a string."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


# --------------------------------------------------------------------------- directories


def _utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # undecodable bytes (surrogate escapes); Rust skips them
        return False


def _reason(error: Exception) -> str:
    """An OS error without the path it names: the path read may be kubelet's version
    directory, and errors name files as the application sees them."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def document_names(directory: PathLike, shown: Optional[str] = None) -> List[str]:
    """The document file names of a directory, sorted. Raises `BlocklistError` when the
    directory cannot be listed, naming `shown` (default: `directory`)."""
    directory = os.fspath(directory)
    shown = directory if shown is None else shown
    try:
        names = os.listdir(directory)
    except OSError as e:
        raise BlocklistError(
            f"cannot read blocklist directory {shown}: {_reason(e)}", shown, "dir"
        ) from None
    return sorted(n for n in names if _utf8_name(n) and is_document_file(n))


# A version swapped while it was being read is read again, at most this many times in
# all (as the Rust `load_dir`).
_SNAPSHOT_ATTEMPTS = 3


def snapshot_dir(directory: PathLike) -> str:
    """The directory holding one version of `directory`: where its `..data` symlink
    resolves to in a kubelet mount, `directory` itself otherwise (no `..data`, or a
    `..data` that is not a symlink). Reading every document from the result, rather
    than through the per-file symlinks, keeps a `..data` swap from mixing versions."""
    directory = os.fspath(directory)
    link = os.path.join(directory, DATA_LINK)
    if os.path.islink(link):
        return os.path.realpath(link)
    return directory


def load_dir(directory: PathLike, *, email_key: Optional[EmailKeyLike] = None) -> Contents:
    """Every entry, exemption and revocation of every `blocklist*.json` document in
    `directory`, merged, files in name order (`Contents.entries`,
    `Contents.exemptions`, `Contents.revocations`).

    In a kubelet mount the documents are read from the one version `..data` resolves
    to (`snapshot_dir`); if kubelet swaps versions during the read, the new version is
    read instead. Raises `BlocklistError` naming the file (under `directory`) on an
    unreadable or malformed document or an unknown format, when there is no document
    at all, and when the documents are not one complete shard set (`check_shards`).

    Items the documents hold but that cannot be understood are left out, listed in
    `Contents.skipped` and logged as warnings (logger `interdict_blocklist`).

    `email_key` (an `EmailKey`, or the key's bytes) is the operator's email hash key:
    it is kept in `Contents.email_key`, so `decide`, `Index` and the others given
    the result match emails keyed with it. Keyed emails under another key (or under
    any key, without one) can match no query: they are logged as a warning naming
    the key id."""
    key = as_email_key(email_key)
    shown = os.fspath(directory)
    attempts = 0
    while True:
        version = snapshot_dir(shown)
        attempts += 1
        try:
            contents = _load(version, shown)
        except BlocklistError:
            # An error from a version kubelet has replaced (and perhaps deleted)
            # meanwhile says nothing about the version now in force.
            if attempts >= _SNAPSHOT_ATTEMPTS or snapshot_dir(shown) == version:
                raise
            continue
        if attempts >= _SNAPSHOT_ATTEMPTS or snapshot_dir(shown) == version:
            warn_skipped(contents.skipped)
            contents = replace(contents, email_key=key)
            warn_foreign_keys(_foreign_keys(contents, key), key)
            return contents


def _foreign_keys(contents: Contents, key: Optional[EmailKey]) -> Dict[str, int]:
    return foreign_email_keys(
        (*contents.entries, *contents.exemptions, *contents.revocations), key
    )


def warn_foreign_keys(
    foreign: Dict[str, int], key: Optional[EmailKey], logger: Optional[logging.Logger] = None
) -> None:
    """One warning per key id of keyed emails this reader cannot match: those bans
    are not enforced here, and that must not pass silently."""
    held = "no email hash key" if key is None else f"key {key.id}"
    for key_id, items in foreign.items():
        (logger or log).warning(
            "interdict blocklist: %d item(s) name an email keyed with key %s, and this reader "
            "has %s: they match no query, so those bans are not enforced; give the reader the "
            "operator's email hash key",
            items,
            key_id,
            held,
        )


def warn_skipped(skipped: Sequence[Skipped], logger: Optional[logging.Logger] = None) -> None:
    """One warning per item left out, so an operator finds the odd item."""
    for item in skipped:
        (logger or log).warning("interdict blocklist: item skipped: %s", item)


def _load(read_dir: str, shown_dir: str) -> Contents:
    """Reads documents from `read_dir` (e.g. the directory `..data` points to), naming
    files under `shown_dir` in errors."""
    names = document_names(read_dir, shown_dir)
    if not names:
        raise BlocklistError(f"no blocklist*.json file in {shown_dir}", shown_dir, "empty")
    documents: List[Tuple[str, Document]] = []
    for name in names:
        shown = os.path.join(shown_dir, name)
        try:
            with open(os.path.join(read_dir, name), "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BlocklistError(
                f"cannot read blocklist file {shown}: {_reason(e)}", shown, "file"
            ) from None
        try:
            documents.append((name, parse_document(text)))
        except DocumentError as e:
            raise BlocklistError(f"blocklist file {shown}: {e}", shown, "document") from None
    check_shards(documents, shown_dir)
    entries: List[Entry] = []
    exemptions: List[Exemption] = []
    revocations: List[Revocation] = []
    skipped: List[Skipped] = []
    for name, document in documents:
        entries.extend(document.entries)
        exemptions.extend(document.exemptions)
        revocations.extend(document.revocations)
        shown = os.path.join(shown_dir, name)
        skipped.extend(Skipped(shown, item) for item in document.skipped)
    return Contents(tuple(entries), tuple(exemptions), tuple(revocations), tuple(skipped))


def shard_file(index: int) -> str:
    """The document name of shard `index` as the operator writes it: `blocklist.json`
    for shard 0, `blocklist-<index>.json` for the others (`core::document::shard_key`)."""
    return DOCUMENT_KEY if index == 0 else f"blocklist-{index}.json"


def check_shards(documents: Sequence[Tuple[str, Document]], directory: str) -> None:
    """Raises `BlocklistError` (kind `shards`) unless the documents, given as (file
    name, document) in name order, are one complete shard set: every document has the
    same `shard.count`, every `shard.index` is below it and appears once, and every
    index from 0 to count - 1 is present.

    The operator writes each shard's ConfigMap on its own and kubelet refreshes a
    projected volume source by source, so a reader can meet shards of two shard counts
    (the count doubles as the blocklist grows, and entries move between shards) or a
    shard not mounted yet. Merging such a set would drop or duplicate bans; refusing it
    keeps the last good copy in force until the set is whole again. The same rules and
    messages as the Rust reader's `ShardProblem`."""
    if not documents:
        return
    prefix = f"inconsistent blocklist shards in {directory}"
    counts = sorted({document.shard_count for _, document in documents})
    if len(counts) > 1:
        found = ", ".join(f"{name}: {document.shard_count}" for name, document in documents)
        raise BlocklistError(
            f"{prefix}: the documents disagree on the shard count ({found}), "
            "so they come from different versions",
            directory,
            "shards",
        )
    count = counts[0]
    seen: Dict[int, str] = {}
    for name, document in documents:
        index = document.shard_index
        if index >= count:
            raise BlocklistError(
                f"{prefix}: {name} is shard {index}, out of range for a count of {count}",
                directory,
                "shards",
            )
        if index in seen:
            raise BlocklistError(
                f"{prefix}: {seen[index]} and {name} are both shard {index} of {count}",
                directory,
                "shards",
            )
        seen[index] = name
    missing = [index for index in range(count) if index not in seen]
    if missing:
        raise BlocklistError(
            f"{prefix}: missing shard {', '.join(map(str, missing))} of {count} "
            f"({', '.join(shard_file(i) for i in missing)}); "
            "mount the ConfigMap of every shard into the directory",
            directory,
            "shards",
        )


__all__ = [
    "BlocklistError",
    "DATA_LINK",
    "DOCUMENT_KEY",
    "Document",
    "DocumentError",
    "ErrorKind",
    "FORMAT_V1",
    "check_shards",
    "document_names",
    "is_document_file",
    "load_dir",
    "parse_document",
    "parse_entry",
    "parse_exemption",
    "parse_revocation",
    "shard_file",
    "snapshot_dir",
    "warn_foreign_keys",
    "warn_skipped",
]
