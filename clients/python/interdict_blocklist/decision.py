""""May this subject use this feature in this context right now?"

A line-by-line port of `interdict::core::decision`; `tests/vectors/` keeps the two
in agreement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, List, Optional, Protocol, Sequence, Tuple, Union

from ._time import TimeLike, to_utc
from .emails import EmailKey, EmailKeyLike, as_email_key, query_email_hash
from .model import (
    ACTIVE,
    FEATURE_BLOCK,
    SCHEDULED,
    SILENCE_ALLOWED_FEATURES,
    SUSPEND,
    USER_BAN,
    Contents,
    Decision,
    Entry,
    Exemption,
    Notice,
    Query,
    Revocation,
)


def _ascii_eq_ignore_case(a: str, b: str) -> bool:
    """Rust's `eq_ignore_ascii_case`: only A-Z/a-z fold; everything else compares exactly."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x != y:
            if not (x.isascii() and y.isascii() and x.lower() == y.lower()):
                return False
    return True


class _Subjects:
    """Query identifiers prepared once per question rather than once per entry. With
    a key, the email is compared in both forms: unkeyed entries still match."""

    __slots__ = ("user_id", "username", "email_hash", "email_keyed", "ip", "key_fingerprint")

    def __init__(self, query: Query, key: Optional[EmailKey] = None):
        self.user_id = query.user_id
        self.username = query.username
        self.email_hash = None if query.email is None else query_email_hash(query.email)
        self.email_keyed = (
            None if key is None or self.email_hash is None else key.keyed(self.email_hash)
        )
        self.ip = query.ip
        self.key_fingerprint = query.key_fingerprint

    def matches(self, entry: Union[Entry, Exemption, Revocation]) -> bool:
        kind, value = entry.subject_kind, entry.subject_value
        if kind == "userId":
            return self.user_id is not None and self.user_id == value
        if kind == "username":
            return self.username is not None and self.username == value
        if kind == "email":
            return value == self.email_hash or value == self.email_keyed
        if kind == "keyFingerprint":
            return self.key_fingerprint is not None and self.key_fingerprint == value
        if kind == "ip":
            return self.ip is not None and entry._net is not None and entry._net.contains(self.ip)
        return False


def _severity(entry: Entry) -> int:
    if entry.kind == USER_BAN:
        return 3 if entry.mode in (None, SUSPEND) else 2
    return 1


def _denies(entry: Entry, query: Query) -> bool:
    if entry.kind == USER_BAN:
        if entry.mode in (None, SUSPEND):
            return True
        return not any(_ascii_eq_ignore_case(kept, query.feature) for kept in SILENCE_ALLOWED_FEATURES)
    feature_listed = any(f == "*" or _ascii_eq_ignore_case(f, query.feature) for f in entry.features)
    in_scope = not entry.scopes or any(
        _ascii_eq_ignore_case(q.kind, s.kind) and q.name == s.name
        for s in entry.scopes
        for q in query.scopes
    )
    return feature_listed and in_scope


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...

    def __gt__(self, other: Any, /) -> bool: ...


def _cmp(a: _Ordered, b: _Ordered) -> int:
    return (a > b) - (a < b)


def precedence(a: Entry, b: Entry) -> int:
    """>0 when `a` is reported before `b`: most severe, then longest-lasting (latest
    `until`, permanent last of all), then lowest id."""
    c = _cmp(_severity(a), _severity(b))
    if c:
        return c
    if a.until is None or b.until is None:
        c = _cmp(a.until is None, b.until is None)
    else:
        c = _cmp(a.until, b.until)
    if c:
        return c
    return _cmp(b.id, a.id)


def _max_by(items: Iterable[Entry], compare: Callable[[Entry, Entry], int]) -> Optional[Entry]:
    """Rust's `Iterator::max_by`: the last of equally maximal elements."""
    best = None
    for item in items:
        if best is None or compare(item, best) >= 0:
            best = item
    return best


def subject_matcher(
    query: Query, email_key: Optional[EmailKeyLike] = None
) -> Callable[[Union[Entry, Exemption, Revocation]], bool]:
    """A predicate: is this entry's (or exemption's, or revocation's) subject one of
    the query's identifiers? With `email_key`, keyed emails under it match too."""
    return _Subjects(query, as_email_key(email_key)).matches


# The rules proper, on entries already narrowed to candidates (or on all of them):
# the linear functions below and `index.Index` both call these, so the indexed and
# the linear answers are the same by construction (as with Rust's `decide_for`).


def _exempt(subjects: _Subjects, exemptions: Sequence[Exemption], now: datetime) -> bool:
    """An exemption in force names one of the query's identifiers."""
    return any(x.in_force(now) and subjects.matches(x) for x in exemptions)


def _concerned(
    subjects: _Subjects, entries: Iterable[Entry], exemptions: Sequence[Exemption], now: datetime
) -> List[Entry]:
    """Entries of the query's subject, in force or not, in entry order; an exempt
    user or address is out of reach of IP/CIDR entries (and only of those)."""
    return _concerned_with(subjects, entries, exemptions, (), now)[0]


def _concerned_with(
    subjects: _Subjects,
    entries: Iterable[Entry],
    exemptions: Sequence[Exemption],
    revocations: Iterable[Revocation],
    now: datetime,
) -> Tuple[List[Entry], List[Revocation]]:
    """`_concerned`, and the revocations of the query's subject in force at `now`: an
    exempt user or address is out of reach of IP/CIDR revocations too."""
    found = [e for e in entries if subjects.matches(e)]
    ended = [r for r in revocations if now < r.until and subjects.matches(r)]
    # Whether the request is exempt matters only when an IP entry or revocation matched.
    if (
        exemptions
        and (any(e.subject_kind == "ip" for e in found) or any(r.subject_kind == "ip" for r in ended))
        and _exempt(subjects, exemptions, now)
    ):
        found = [e for e in found if e.subject_kind != "ip"]
        ended = [r for r in ended if r.subject_kind != "ip"]
    return found, ended


def _in_force(entries: Iterable[Entry], now: datetime) -> List[Entry]:
    return [e for e in entries if e.in_force(now)]


def _decide_for(
    subjects: _Subjects,
    entries: Iterable[Entry],
    exemptions: Sequence[Exemption],
    revocations: Iterable[Revocation],
    query: Query,
    now: datetime,
) -> Decision:
    concerned, ended = _concerned_with(subjects, entries, exemptions, revocations, now)
    if not concerned and not ended:
        return Decision.allow()
    # The latest `before` of the revocations in force (ended bans the operator still
    # publishes), then, in one pass, the entries in force and the latest
    # `revokeSessionsBefore` of the entries that have started, in force or ended
    # (sessions from before any ban stay invalid after it ended). Scheduled entries
    # count for neither.
    revoke = max((r.before for r in ended), default=None)
    found = []
    for e in concerned:
        if e.from_ <= now:
            r = e.revoke_sessions_before
            if r is not None and (revoke is None or r > revoke):
                revoke = r
            if e.until is None or now < e.until:
                found.append(e)
    winner = _max_by((e for e in found if _denies(e, query)), precedence)
    silence = _max_by((e for e in found if e.is_silence), precedence)
    # A silenced subject's content stays hidden whatever else applies, and an
    # allowed answer still names the Silence so the application can say so.
    reported = winner if winner is not None else silence
    notices = _notices(concerned, None if reported is None else reported.id, query, now)
    if winner is not None:
        return Decision.restriction(winner, False, silence is not None, revoke, notices)
    if silence is not None:
        return Decision.restriction(silence, True, True, revoke, notices)
    return Decision(allowed=True, revoke_sessions_before=revoke, notices=notices)


def _notices(
    concerned: Iterable[Entry], reported: Optional[str], query: Query, now: datetime
) -> Tuple[Notice, ...]:
    """The subject's entries that do not refuse this request: in force without denying
    it, or scheduled. Losing denials are left out (the request is refused anyway), and
    so are ended entries. Earliest `from` first, then by id (code point order, which is
    the byte order of Rust's strings)."""
    notices: List[Notice] = []
    for e in concerned:
        if e.id == reported:
            continue
        if e.in_force(now):
            if _denies(e, query):
                continue
            notices.append(Notice.of(e, ACTIVE))
        elif now < e.from_:
            notices.append(Notice.of(e, SCHEDULED))
    notices.sort(key=_notice_order)
    return tuple(notices)


def _notice_order(notice: Notice) -> Tuple[datetime, str]:
    return (notice.from_, notice.ban)


def _silence_for(
    subjects: _Subjects, entries: Iterable[Entry], exemptions: Sequence[Exemption], now: datetime
) -> Optional[Entry]:
    found = _in_force(_concerned(subjects, entries, exemptions, now), now)
    return _max_by((e for e in found if e.is_silence), precedence)


def _blocks_for(subjects: _Subjects, entries: Iterable[Entry], now: datetime) -> List[Entry]:
    found = [e for e in entries if (e.until is None or now < e.until) and subjects.matches(e)]
    found.sort(key=_from_then_id)
    return found


def _from_then_id(entry: Entry) -> Tuple[datetime, str]:
    return (entry.from_, entry.id)


EntriesLike = Union[Contents, Iterable[Entry]]


def _key_of(entries: EntriesLike, email_key: Optional[EmailKeyLike]) -> Optional[EmailKey]:
    """The key given, else the one a `Contents` was loaded with (`load_dir(...,
    email_key=...)`)."""
    if email_key is not None:
        return as_email_key(email_key)
    return entries.email_key if isinstance(entries, Contents) else None


def _split(
    entries: EntriesLike, exemptions: Iterable[Exemption], revocations: Iterable[Revocation] = ()
) -> Tuple[Iterable[Entry], Tuple[Exemption, ...], Tuple[Revocation, ...]]:
    """Entries, exemptions and revocations from a `Contents` (plus any exemptions and
    revocations given besides) or from plain entries and the others given."""
    if isinstance(entries, Contents):
        return (
            entries.entries,
            entries.exemptions + tuple(exemptions),
            entries.revocations + tuple(revocations),
        )
    return entries, tuple(exemptions), tuple(revocations)


def applicable(
    entries: EntriesLike,
    query: Query,
    now: datetime,
    *,
    exemptions: Iterable[Exemption] = (),
    email_key: Optional[EmailKeyLike] = None,
) -> List[Entry]:
    """Entries in force at `now` whose subject is one of the query's identifiers (IP
    entries left out when an exemption covers the query)."""
    key = _key_of(entries, email_key)
    entries, exemptions, _ = _split(entries, exemptions)
    return _in_force(_concerned(_Subjects(query, key), entries, exemptions, now), now)


def silence_of(
    entries: EntriesLike,
    query: Query,
    now: Optional[TimeLike] = None,
    *,
    exemptions: Iterable[Exemption] = (),
    email_key: Optional[EmailKeyLike] = None,
) -> Optional[Entry]:
    """The Silence ban reported for the query's subject at `now`, if any (the feature
    does not matter): whether the subject's content is to be hidden from others
    (exactly when `decide(...).content_hidden`)."""
    key = _key_of(entries, email_key)
    entries, exemptions, _ = _split(entries, exemptions)
    return _silence_for(_Subjects(query, key), entries, exemptions, to_utc(now))


def blocks_of(
    entries: EntriesLike,
    query: Query,
    now: Optional[TimeLike] = None,
    *,
    email_key: Optional[EmailKeyLike] = None,
) -> List[Entry]:
    """Every entry of the query's subject in force or scheduled at `now`, earliest
    `from` first, then by id (the query's feature and scopes are ignored; as in the
    Rust reader, exemptions do not hide entries here)."""
    key = _key_of(entries, email_key)
    entries, _, _ = _split(entries, ())
    return _blocks_for(_Subjects(query, key), entries, to_utc(now))


def decide(
    entries: EntriesLike,
    query: Query,
    now: Optional[TimeLike] = None,
    *,
    exemptions: Iterable[Exemption] = (),
    revocations: Iterable[Revocation] = (),
    email_key: Optional[EmailKeyLike] = None,
) -> Decision:
    """Decides from entries at `now` (an aware datetime or an RFC 3339 string; None is
    the current time). Among several denials the most severe wins (Suspend, then
    Silence, then feature blocks), then the longest-lasting, then the lowest id, so
    the answer never depends on entry order.

    `entries` is a `Contents` (what `load_dir` returns: its exemptions and revocations
    count; Rust's `decide_contents`) or an iterable of entries, with the namespace's
    `exemptions` and `revocations` given apart (none by default, Rust's `decide`). A
    query an exemption in force covers is out of reach of IP/CIDR entries and
    revocations. `revoke_sessions_before` is the latest of every started entry of the
    subject, in force or ended, and of every revocation of the subject in force
    (`before` of an ended ban, until its `until`), so it can be set on an allowed
    answer. `notices` lists the subject's other entries that do not refuse this
    request (in force without denying it, or scheduled), earliest first.

    `email_key` (an `EmailKey`, or the key's bytes; default: the key `entries` was
    loaded with, if it is a `Contents`) is the operator's email hash key: the
    query's email then also matches entries keyed with it (Rust's `decide_keyed`).

    This scans every entry: the reference. `Blocklist.decide` and `Index.decide`
    give the same answer from an index."""
    now = to_utc(now)
    key = _key_of(entries, email_key)
    entries, exemptions, revocations = _split(entries, exemptions, revocations)
    return _decide_for(_Subjects(query, key), entries, exemptions, revocations, query, now)


__all__ = [
    "FEATURE_BLOCK",
    "applicable",
    "blocks_of",
    "decide",
    "precedence",
    "silence_of",
    "subject_matcher",
]
