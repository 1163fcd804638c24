"""Entries indexed by subject, so a decision costs a few dict lookups instead of a
scan: what applications need with 100k bans loaded (`interdict::core::index`).

The index only narrows the candidates: exact-match dicts for `userId`, `username`,
email hash and `keyFingerprint`, and for IP entries one dict per family and prefix
length, keyed by network, so a query address is looked up once per distinct prefix
length present (an IPv4-mapped IPv6 address is unmapped first). The candidates, in
entry order, then go through the very rule functions the linear `decide` uses, so
both give the same answer by construction. The revocations of ended bans (as many
as the bans that ended within the operator's retention window) get tables of their
own, searched the same way; the namespace's exemptions (few) are kept as they are
and checked against the query's identifiers by those functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ._time import TimeLike, to_utc
from .decision import EntriesLike, _blocks_for, _decide_for, _key_of, _silence_for, _split, _Subjects
from .emails import EmailKey, EmailKeyLike, keyed_key_id
from .ipnet import parse_address, unmap
from .model import Decision, Entry, Exemption, Query, Revocation

# A bucket is the position of the one entry with that key (an int) or, rarely, the
# ascending list of several: ints keep the dicts out of the cyclic garbage
# collector's way, which matters for the build time of a large copy.
_Bucket = Union[int, List[int]]
_Buckets = Dict[Any, _Bucket]
# per prefix length, shortest first: (mask, {network: bucket})
_NetTable = List[Tuple[int, Dict[int, _Bucket]]]


_Item = Union[Entry, Revocation]
_EMPTY: Tuple[Any, ...] = ()


def _add(buckets: _Buckets, key: Any, position: int) -> None:
    bucket = buckets.get(key)
    if bucket is None:
        buckets[key] = position
    elif isinstance(bucket, int):
        buckets[key] = [bucket, position]
    else:
        bucket.append(position)


class _Table:
    """Items with a subject (entries or revocations) by identifier: `candidates` gives
    the items whose subject may be one of the query's identifiers, in item order,
    each once."""

    __slots__ = ("items", "_user_ids", "_usernames", "_emails", "_keys", "_v4", "_v6")

    def __init__(self, items: Tuple[_Item, ...]):
        self.items = items
        user_ids: _Buckets = {}
        usernames: _Buckets = {}
        emails: _Buckets = {}
        keys: _Buckets = {}
        by_kind = {"userId": user_ids, "username": usernames, "email": emails, "keyFingerprint": keys}
        v4: Dict[int, _Buckets] = {}
        v6: Dict[int, _Buckets] = {}
        add = _add
        for position, item in enumerate(items):
            kind = item.subject_kind
            if kind == "userId":
                add(user_ids, item.subject_value, position)
            elif kind == "ip":
                net = item._net
                if net is None:  # not an address or CIDR: matches nothing, as in the rules
                    continue
                by_prefix = v4 if net._v4 else v6
                networks = by_prefix.get(net._prefix)
                if networks is None:
                    networks = by_prefix[net._prefix] = {}
                add(networks, net._network, position)
            else:
                buckets = by_kind.get(kind)
                if buckets is not None:  # an unknown kind matches nothing
                    add(buckets, item.subject_value, position)
        self._user_ids = user_ids
        self._usernames = usernames
        self._emails = emails
        self._keys = keys
        self._v4 = self._net_table(v4, 32)
        self._v6 = self._net_table(v6, 128)

    @staticmethod
    def _net_table(by_prefix: Dict[int, _Buckets], width: int) -> _NetTable:
        full = (1 << width) - 1
        return [
            (full ^ ((1 << (width - prefix)) - 1), networks)
            for prefix, networks in sorted(by_prefix.items())
        ]

    def candidates(self, subjects: _Subjects) -> Sequence[Any]:
        if not self.items:
            return _EMPTY
        found: List[_Bucket] = []
        for buckets, key in (
            (self._user_ids, subjects.user_id),
            (self._usernames, subjects.username),
            (self._emails, subjects.email_hash),
            (self._emails, subjects.email_keyed),
            (self._keys, subjects.key_fingerprint),
        ):
            if key is not None:
                try:
                    hit = buckets.get(key)
                except TypeError:  # an unhashable identifier equals no item's value
                    continue
                if hit is not None:
                    found.append(hit)
        if subjects.ip is not None and (self._v4 or self._v6):
            addr = unmap(parse_address(subjects.ip))
            bits = int(addr)
            for mask, networks in self._v4 if addr.version == 4 else self._v6:
                hit = networks.get(bits & mask)
                if hit is not None:
                    found.append(hit)
        if not found:
            return _EMPTY
        items = self.items
        if len(found) == 1:
            hit = found[0]
            if isinstance(hit, int):
                return (items[hit],)
            return [items[i] for i in hit]
        # Item order, as a scan sees them: the rules keep the last of equals.
        positions = set()
        for hit in found:
            if isinstance(hit, int):
                positions.add(hit)
            else:
                positions.update(hit)
        return [items[i] for i in sorted(positions)]


class Index:
    """An immutable snapshot of entries, exemptions and revocations with lookup
    tables; build it once per loaded copy (`Blocklist` does). `entries` is a
    `Contents` (what `load_dir` returns) or an iterable of entries, with
    `exemptions` and `revocations` given apart. `decide`, `silence_for` and
    `blocks_of` answer exactly like the linear `decide`, `silence_of` and
    `blocks_of` over `entries`, `exemptions` and `revocations`.

    `email_key` (default: the key a `Contents` was loaded with) is the operator's
    email hash key: a query's email then also matches entries keyed with it."""

    __slots__ = ("entries", "exemptions", "revocations", "email_key", "_entries", "_revocations")

    def __init__(
        self,
        entries: EntriesLike = (),
        exemptions: Iterable[Exemption] = (),
        revocations: Iterable[Revocation] = (),
        *,
        email_key: Optional[EmailKeyLike] = None,
    ):
        self.email_key: Optional[EmailKey] = _key_of(entries, email_key)
        entries, exemptions, revocations = _split(entries, exemptions, revocations)
        self.entries: Tuple[Entry, ...] = tuple(entries)
        self.exemptions: Tuple[Exemption, ...] = tuple(exemptions)
        self.revocations: Tuple[Revocation, ...] = tuple(revocations)
        self._entries = _Table(self.entries)
        self._revocations = _Table(self.revocations)

    def __len__(self) -> int:
        return len(self.entries)

    def foreign_email_keys(self) -> Dict[str, int]:
        """Items (entries, exemptions, revocations) whose email is keyed with a key
        this index does not hold, by key id: no query can match them, so their bans
        are not enforced here. Empty when every keyed item is under this index's key."""
        return foreign_email_keys(
            (*self.entries, *self.exemptions, *self.revocations), self.email_key
        )

    def decide(self, query: Query, now: Optional[TimeLike] = None) -> Decision:
        """The answer of `decide(self.entries, query, now, exemptions=self.exemptions,
        revocations=self.revocations)`."""
        return self._decide(query, to_utc(now))

    def silence_for(self, query: Query, now: Optional[TimeLike] = None) -> Optional[Entry]:
        """The answer of `silence_of(self.entries, query, now, exemptions=self.exemptions)`."""
        return self._silence_for(query, to_utc(now))

    def blocks_of(self, query: Query, now: Optional[TimeLike] = None) -> List[Entry]:
        """The answer of `blocks_of(self.entries, query, now)`: every entry of the
        subject in force or scheduled at `now`, earliest first, then by id."""
        return self._blocks_of(query, to_utc(now))

    # `now` already an aware UTC datetime (as `Blocklist` passes it)

    def _decide(self, query: Query, now: datetime) -> Decision:
        subjects = _Subjects(query, self.email_key)
        return _decide_for(
            subjects,
            self._entries.candidates(subjects),
            self.exemptions,
            self._revocations.candidates(subjects),
            query,
            now,
        )

    def _silence_for(self, query: Query, now: datetime) -> Optional[Entry]:
        subjects = _Subjects(query, self.email_key)
        return _silence_for(subjects, self._entries.candidates(subjects), self.exemptions, now)

    def _blocks_of(self, query: Query, now: datetime) -> List[Entry]:
        subjects = _Subjects(query, self.email_key)
        return _blocks_for(subjects, self._entries.candidates(subjects), now)


def foreign_email_keys(
    items: Iterable[Union[Entry, Exemption, Revocation]], key: Optional[EmailKey]
) -> Dict[str, int]:
    """Key id -> count of the items whose email is keyed with a key other than `key`
    (every keyed item when `key` is None)."""
    own = None if key is None else key.id
    foreign: Dict[str, int] = {}
    for item in items:
        if item.subject_kind != "email":
            continue
        found = keyed_key_id(item.subject_value)
        if found is not None and found != own:
            foreign[found] = foreign.get(found, 0) + 1
    return dict(sorted(foreign.items()))


__all__ = ["Index", "foreign_email_keys"]
