"""Entries, queries and decisions: the shapes of `interdict::core`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, Union

from ._time import format_time
from .emails import EmailKey
from .ipnet import IPAddress, IpNet, parse_address, parse_net

USER_BAN = "UserBan"
FEATURE_BLOCK = "FeatureBlock"
SUSPEND = "Suspend"
SILENCE = "Silence"

#: Subject kinds, as spelled in the document (`{"userId": "123"}`) and in queries.
SUBJECT_KINDS = ("userId", "username", "email", "ip", "keyFingerprint")

#: Features a silenced subject keeps: signing in, reading and exporting its own data.
SILENCE_ALLOWED_FEATURES = ("login", "read", "export")

#: Whether a notice's entry is in force at the decision's time or starts later
#: (`interdict::core::NoticePhase`).
NoticePhase = Literal["Active", "Scheduled"]
ACTIVE: NoticePhase = "Active"
SCHEDULED: NoticePhase = "Scheduled"


@dataclass(frozen=True)
class Scope:
    """One context pair, e.g. `Scope("academy", "downtown-miami")`. The kind matches
    ignoring ASCII case, the name exactly."""

    kind: str
    name: str

    @classmethod
    def of(cls, value: "ScopeLike") -> "Scope":
        if isinstance(value, Scope):
            return value
        if isinstance(value, str):
            kind, eq, name = value.partition("=")
            if not eq or not kind or not name:
                raise ValueError(
                    "expected KIND=NAME, e.g. academy=downtown-miami, got "
                    + json.dumps(value, ensure_ascii=False)
                )
            return cls(kind, name)
        if isinstance(value, Mapping):
            return cls(value["kind"], value["name"])
        kind, name = value  # a (kind, name) pair
        return cls(kind, name)

    def to_json(self) -> Dict[str, str]:
        return {"kind": self.kind, "name": self.name}


ScopeLike = Union[Scope, str, Mapping[str, str], Tuple[str, str]]


@dataclass(frozen=True)
class Entry:
    """One blocklist entry: the published form of an active or scheduled ban."""

    id: str
    kind: str  # "UserBan" or "FeatureBlock"
    subject_kind: str  # one of SUBJECT_KINDS
    subject_value: str
    from_: datetime
    reason: str
    mode: Optional[str] = None  # UserBan only: "Suspend" or "Silence"; None acts as Suspend
    features: Tuple[str, ...] = ()
    scopes: Tuple[Scope, ...] = ()
    until: Optional[datetime] = None
    message: Optional[str] = None
    revoke_sessions_before: Optional[datetime] = None
    appeal_instructions: Optional[str] = None
    _net: Optional[IpNet] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.subject_kind == "ip" and self._net is None:
            object.__setattr__(self, "_net", parse_net(self.subject_value))

    @property
    def subject(self) -> Tuple[str, str]:
        return (self.subject_kind, self.subject_value)

    @property
    def is_silence(self) -> bool:
        return self.kind == USER_BAN and self.mode == SILENCE

    @property
    def effective_mode(self) -> str:
        """`Suspend`, `Silence` or `FeatureBlock`, as a decision reports it."""
        if self.kind == FEATURE_BLOCK:
            return FEATURE_BLOCK
        return self.mode or SUSPEND

    def in_force(self, now: datetime) -> bool:
        """`from` inclusive, `until` exclusive."""
        return self.from_ <= now and (self.until is None or now < self.until)

    def state(self, now: datetime) -> str:
        """`scheduled`, `active` or `expired` at `now`."""
        if now < self.from_:
            return "scheduled"
        return "active" if self.in_force(now) else "expired"

    def to_json(self) -> Dict[str, Any]:
        """The entry as the document spells it."""
        out: Dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "subject": {self.subject_kind: self.subject_value},
        }
        if self.mode is not None:
            out["mode"] = self.mode
        if self.features:
            out["features"] = list(self.features)
        if self.scopes:
            out["scopes"] = [s.to_json() for s in self.scopes]
        out["from"] = format_time(self.from_)
        if self.until is not None:
            out["until"] = format_time(self.until)
        out["reason"] = self.reason
        if self.message is not None:
            out["message"] = self.message
        if self.revoke_sessions_before is not None:
            out["revokeSessionsBefore"] = format_time(self.revoke_sessions_before)
        if self.appeal_instructions is not None:
            out["appealInstructions"] = self.appeal_instructions
        return out


@dataclass(frozen=True)
class Exemption:
    """A BanExemption as published: requests from this subject (any of the query's
    identifiers, matched like an entry's subject) are out of reach of IP/CIDR
    entries, and only of those, until `until` (exclusive; None: until deleted)."""

    id: str  # "BanExemption/<name>"
    subject_kind: str  # one of SUBJECT_KINDS
    subject_value: str
    until: Optional[datetime] = None
    _net: Optional[IpNet] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.subject_kind == "ip" and self._net is None:
            object.__setattr__(self, "_net", parse_net(self.subject_value))

    @property
    def subject(self) -> Tuple[str, str]:
        return (self.subject_kind, self.subject_value)

    def in_force(self, now: datetime) -> bool:
        """No start: in force until `until` (exclusive), or for ever."""
        return self.until is None or now < self.until

    def to_json(self) -> Dict[str, Any]:
        """The exemption as the document spells it."""
        out: Dict[str, Any] = {"id": self.id, "subject": {self.subject_kind: self.subject_value}}
        if self.until is not None:
            out["until"] = format_time(self.until)
        return out


@dataclass(frozen=True)
class Revocation:
    """A ban that ended but whose session revocation still holds (published in a
    document's optional `revocations`): sessions of the subject (matched like an
    entry's subject) issued before `before` stay invalid until `until` (exclusive;
    the end of the operator's retention window)."""

    id: str  # the ended ban, "<Kind>/<name>"
    subject_kind: str  # one of SUBJECT_KINDS
    subject_value: str
    before: datetime
    until: datetime
    _net: Optional[IpNet] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.subject_kind == "ip" and self._net is None:
            object.__setattr__(self, "_net", parse_net(self.subject_value))

    @property
    def subject(self) -> Tuple[str, str]:
        return (self.subject_kind, self.subject_value)

    def in_force(self, now: datetime) -> bool:
        """No start: in force until `until` (exclusive)."""
        return now < self.until

    def to_json(self) -> Dict[str, Any]:
        """The revocation as the document spells it."""
        return {
            "id": self.id,
            "subject": {self.subject_kind: self.subject_value},
            "before": format_time(self.before),
            "until": format_time(self.until),
        }


#: The lists of a document that hold items (`interdict::core::document::ItemList`).
ItemList = Literal["entries", "exemptions", "revocations"]


@dataclass(frozen=True)
class SkippedItem:
    """An entry, exemption or revocation of a document that the reader could not
    understand (a time outside the years 0001-9999, an unknown mode, a bad address, a
    missing or ill-typed field, ...) and left out, keeping the rest of the document
    (`interdict::core::document::SkippedItem`)."""

    list: ItemList
    index: int  # position in its list, from 0
    id: Optional[str]  # the item's `id` when it has one that is a string
    reason: str

    def __str__(self) -> str:
        named = "" if self.id is None else " " + json.dumps(self.id, ensure_ascii=False)
        return f"{self.list}[{self.index}]{named}: {self.reason}"


@dataclass(frozen=True)
class Skipped:
    """A `SkippedItem` and the document it was in, named under the directory the
    application gave (`interdict::reader::Skipped`)."""

    file: str
    item: SkippedItem

    def __str__(self) -> str:
        return f"blocklist file {self.file}: {self.item}"


@dataclass(frozen=True)
class Contents:
    """What a blocklist directory holds (`interdict::core::Contents`): the entries, the
    exemptions and the revocations of every document, merged. `load_dir` returns one;
    `decide`, `silence_of`, `blocks_of` and `Index` take one wherever they take
    entries.

    `skipped` lists the items the documents held but the reader could not understand
    and left out (in file name order, then list and position), as Rust's
    `interdict::reader::load` reports them; decisions never depend on it."""

    entries: Tuple[Entry, ...] = ()
    exemptions: Tuple[Exemption, ...] = ()
    revocations: Tuple[Revocation, ...] = ()
    skipped: Tuple[Skipped, ...] = ()
    #: The email hash key the contents were loaded with (`load_dir(...,
    #: email_key=...)`): what `decide`, `Index` and the others match keyed emails
    #: with when given these contents. Not part of equality.
    email_key: Optional[EmailKey] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "exemptions", tuple(self.exemptions))
        object.__setattr__(self, "revocations", tuple(self.revocations))
        object.__setattr__(self, "skipped", tuple(self.skipped))


@dataclass(init=False)
class Query:
    """What an application knows about a request. Every identifier given is checked,
    so one question covers a user's id, email and address at once; at least one is
    required (ValueError otherwise: a question about nobody would be answered
    "allowed" for whoever the application failed to identify).

    `email` is an address as typed (canonicalised and hashed here) or a `sha256:`
    hash. `ip` is a string or an `ipaddress` object (kept parsed). `scopes` are the
    request's context pairs: `Scope`s, `(kind, name)` pairs, `{"kind", "name"}` dicts
    or `"kind=name"` strings (kept as a tuple of `Scope`s). An identifier that is not
    a string raises TypeError.
    """

    feature: str
    user_id: Optional[str]
    username: Optional[str]
    email: Optional[str]
    ip: Optional[IPAddress]
    key_fingerprint: Optional[str]
    scopes: Tuple[Scope, ...]

    # Written out rather than generated so that the attributes have the types they
    # hold (a parsed address, `Scope`s) while the arguments take the looser spellings.
    def __init__(
        self,
        feature: str,
        user_id: Optional[str] = None,
        username: Optional[str] = None,
        email: Optional[str] = None,
        ip: Optional[Union[str, IPAddress]] = None,
        key_fingerprint: Optional[str] = None,
        scopes: Iterable[ScopeLike] = (),
    ) -> None:
        # A wrong type is a bug in the caller, not a subject nobody banned:
        # `user_id=9999` would otherwise be compared with "9999" and never match.
        if not isinstance(feature, str):
            raise TypeError(f"Query.feature must be a str, got {type(feature).__name__}")
        for name, value in (
            ("user_id", user_id),
            ("username", username),
            ("email", email),
            ("key_fingerprint", key_fingerprint),
        ):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"Query.{name} must be a str or None, got {type(value).__name__}")
        self.feature = feature
        self.user_id = user_id
        self.username = username
        self.email = email
        self.ip = None if ip is None else parse_address(ip)
        self.key_fingerprint = key_fingerprint
        self.scopes = tuple(Scope.of(s) for s in scopes)
        # Rust refuses such a query too (`Query::has_subject`; the sidecar answers 400).
        if not self.has_subject():
            raise ValueError(
                "Query names no subject: give at least one of user_id, username, email, "
                "ip or key_fingerprint"
            )

    def has_subject(self) -> bool:
        return any(
            v is not None
            for v in (self.user_id, self.username, self.email, self.ip, self.key_fingerprint)
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Query":
        """From the vector / `interdict check` spelling: `userId`, `username`, `email`,
        `ip`, `keyFingerprint`, `feature`, `scopes: [{kind, name}]`."""
        return cls(
            feature=data["feature"],
            user_id=data.get("userId"),
            username=data.get("username"),
            email=data.get("email"),
            ip=data.get("ip"),
            key_fingerprint=data.get("keyFingerprint"),
            scopes=data.get("scopes") or (),
        )


@dataclass(frozen=True)
class Notice:
    """An entry of the subject that concerns it without refusing this request, for a
    banner beside the answer (`interdict::core::Notice`): in force without denying it
    (a FeatureBlock on another feature or outside the request's scopes, a Silence
    while the subject uses a feature it keeps and another entry is reported), or
    scheduled (`from` later than the decision's time), whatever it would deny."""

    ban: str  # the entry's id, "<Kind>/<name>"
    mode: str  # "Suspend", "Silence" or "FeatureBlock", as in `Decision.mode`
    phase: NoticePhase  # "Active" or "Scheduled"
    reason: str
    from_: datetime
    message: Optional[str] = None
    until: Optional[datetime] = None  # None when permanent
    features: Optional[Tuple[str, ...]] = None  # FeatureBlock only, as in the document
    scopes: Tuple[Scope, ...] = ()  # FeatureBlock only; empty = everywhere
    appeal_instructions: Optional[str] = None

    @classmethod
    def of(cls, entry: Entry, phase: NoticePhase) -> "Notice":
        feature_block = entry.kind == FEATURE_BLOCK
        return cls(
            ban=entry.id,
            mode=entry.effective_mode,
            phase=phase,
            reason=entry.reason,
            from_=entry.from_,
            message=entry.message,
            until=entry.until,
            features=entry.features if feature_block else None,
            scopes=entry.scopes if feature_block else (),
            appeal_instructions=entry.appeal_instructions,
        )

    def to_json(self) -> Dict[str, Any]:
        """The keys of the Rust `Notice` JSON, in its order: `features` whenever set
        (a FeatureBlock's, possibly empty), `scopes` only when non-empty, the other
        optional ones when not None."""
        out: Dict[str, Any] = {
            "ban": self.ban,
            "mode": self.mode,
            "phase": self.phase,
            "reason": self.reason,
        }
        if self.message is not None:
            out["message"] = self.message
        out["from"] = format_time(self.from_)
        if self.until is not None:
            out["until"] = format_time(self.until)
        if self.features is not None:
            out["features"] = list(self.features)
        if self.scopes:
            out["scopes"] = [s.to_json() for s in self.scopes]
        if self.appeal_instructions is not None:
            out["appealInstructions"] = self.appeal_instructions
        return out


@dataclass(frozen=True)
class Decision:
    """The answer. Denials carry what the application shows and enforces; an allowed
    answer for a silenced subject still carries the Silence ban and `content_hidden`.
    `revoke_sessions_before` may be set on allowed answers too (sessions issued
    before a ban that has ended stay invalid, from the ended entry or from its
    revocation): check it whatever `allowed` says. `notices` are the subject's other
    entries that do not refuse this request (`Notice`), earliest `from` first, then
    by id; the reported `ban` is never one of them."""

    allowed: bool
    ban: Optional[str] = None
    mode: Optional[str] = None  # "Suspend", "Silence" or "FeatureBlock"
    reason: Optional[str] = None
    message: Optional[str] = None
    from_: Optional[datetime] = None
    until: Optional[datetime] = None  # None when permanent
    revoke_sessions_before: Optional[datetime] = None
    content_hidden: bool = False
    appeal_instructions: Optional[str] = None
    notices: Tuple[Notice, ...] = ()

    @classmethod
    def allow(cls) -> "Decision":
        return cls(allowed=True)

    @classmethod
    def restriction(
        cls,
        entry: Entry,
        allowed: bool,
        content_hidden: bool,
        revoke_sessions_before: Optional[datetime] = None,
        notices: Tuple[Notice, ...] = (),
    ) -> "Decision":
        """The answer reporting `entry`. `revoke_sessions_before` is not the entry's own
        value: the rules give the latest among every started entry and every
        revocation in force of the subject; `notices` come from the rules too."""
        return cls(
            allowed=allowed,
            ban=entry.id,
            mode=entry.effective_mode,
            reason=entry.reason,
            message=entry.message,
            from_=entry.from_,
            until=entry.until,
            revoke_sessions_before=revoke_sessions_before,
            content_hidden=content_hidden,
            appeal_instructions=entry.appeal_instructions,
            notices=notices,
        )

    def to_json(self) -> Dict[str, Any]:
        """Exactly the keys of the Rust `Decision` JSON, in its order; absent when None,
        `contentHidden` only when true, `notices` only when there are some."""
        out: Dict[str, Any] = {"allowed": self.allowed}
        for key, value in (
            ("ban", self.ban),
            ("mode", self.mode),
            ("reason", self.reason),
            ("message", self.message),
            ("from", self.from_),
            ("until", self.until),
            ("revokeSessionsBefore", self.revoke_sessions_before),
        ):
            if value is not None:
                out[key] = format_time(value) if isinstance(value, datetime) else value
        if self.content_hidden:
            out["contentHidden"] = True
        if self.appeal_instructions is not None:
            out["appealInstructions"] = self.appeal_instructions
        if self.notices:
            out["notices"] = [n.to_json() for n in self.notices]
        return out

    def dumps(self) -> str:
        """Compact JSON text, as `interdict check` prints it."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))


__all__: List[str] = [
    "Contents",
    "Decision",
    "Entry",
    "Exemption",
    "ItemList",
    "Notice",
    "NoticePhase",
    "Query",
    "Revocation",
    "Scope",
    "SILENCE_ALLOWED_FEATURES",
    "Skipped",
    "SkippedItem",
    "SUBJECT_KINDS",
]
