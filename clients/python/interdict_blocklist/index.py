"""Entries indexed by subject, so a decision costs a few dict lookups instead of a
scan: what applications need with 100k bans loaded (`interdict::core::index`).

The index only narrows the candidates: exact-match dicts for `userId`, `username`,
email hash and `keyFingerprint`, and for IP entries one dict per family and prefix
length, keyed by network, so a query address is looked up once per distinct prefix
length present (an IPv4-mapped IPv6 address is unmapped first). The candidates, in
entry order, then go through the very rule functions the linear `decide` uses, so
both give the same answer by construction.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ._time import TimeLike, to_utc
from .decision import _blocks_for, _decide_for, _silence_for, _Subjects
from .ipnet import parse_address, unmap
from .model import Decision, Entry, Query

# position lists, ascending (entries are indexed in order)
_Buckets = Dict[str, List[int]]
# per prefix length: (prefix, mask, {network: positions}), shortest prefix first
_NetTable = List[Tuple[int, int, Dict[int, List[int]]]]


def _hits(buckets: _Buckets, key) -> Optional[List[int]]:
    if key is None:
        return None
    try:
        return buckets.get(key)
    except TypeError:  # an unhashable identifier equals no entry's value
        return None


class Index:
    """An immutable snapshot of entries with lookup tables; build it once per loaded
    copy (`Blocklist` does). `decide`, `silence_for` and `blocks_of` answer exactly
    like the linear `decide`, `silence_of` and `blocks_of` over `entries`."""

    __slots__ = ("entries", "_user_ids", "_usernames", "_emails", "_keys", "_v4", "_v6")

    def __init__(self, entries: Iterable[Entry] = ()):
        self.entries: Tuple[Entry, ...] = tuple(entries)
        user_ids: _Buckets = {}
        usernames: _Buckets = {}
        emails: _Buckets = {}
        keys: _Buckets = {}
        by_kind = {"userId": user_ids, "username": usernames, "email": emails, "keyFingerprint": keys}
        v4: Dict[int, Dict[int, List[int]]] = {}
        v6: Dict[int, Dict[int, List[int]]] = {}
        for position, entry in enumerate(self.entries):
            kind = entry.subject_kind
            if kind == "ip":
                net = entry._net
                if net is None:  # not an address or CIDR: matches nothing, as in the rules
                    continue
                table = (v4 if net._v4 else v6).setdefault(net._prefix, {})
                bucket = table.get(net._network)
                if bucket is None:
                    table[net._network] = [position]
                else:
                    bucket.append(position)
                continue
            buckets = by_kind.get(kind)
            if buckets is None:  # an unknown kind matches nothing
                continue
            bucket = buckets.get(entry.subject_value)
            if bucket is None:
                buckets[entry.subject_value] = [position]
            else:
                bucket.append(position)
        self._user_ids = user_ids
        self._usernames = usernames
        self._emails = emails
        self._keys = keys
        self._v4 = self._net_table(v4, 32)
        self._v6 = self._net_table(v6, 128)

    @staticmethod
    def _net_table(by_prefix: Dict[int, Dict[int, List[int]]], width: int) -> _NetTable:
        full = (1 << width) - 1
        return [
            (prefix, full ^ ((1 << (width - prefix)) - 1), networks)
            for prefix, networks in sorted(by_prefix.items())
        ]

    def __len__(self) -> int:
        return len(self.entries)

    def _candidates(self, subjects: _Subjects) -> Sequence[Entry]:
        """The entries whose subject may be one of the query's identifiers, in entry
        order, each once."""
        found: List[List[int]] = []
        for buckets, key in (
            (self._user_ids, subjects.user_id),
            (self._usernames, subjects.username),
            (self._emails, subjects.email_hash),
            (self._keys, subjects.key_fingerprint),
        ):
            hits = _hits(buckets, key)
            if hits:
                found.append(hits)
        if subjects.ip is not None and (self._v4 or self._v6):
            addr = unmap(parse_address(subjects.ip))
            bits = int(addr)
            for _prefix, mask, networks in self._v4 if addr.version == 4 else self._v6:
                hits = networks.get(bits & mask)
                if hits:
                    found.append(hits)
        if not found:
            return ()
        entries = self.entries
        if len(found) == 1:
            return [entries[i] for i in found[0]]
        # Entry order, as a scan sees them: the rules keep the last of equals.
        return [entries[i] for i in sorted({i for hits in found for i in hits})]

    def decide(self, query: Query, now: TimeLike = None) -> Decision:
        """The answer of `decide(self.entries, query, now)`."""
        now = to_utc(now)
        subjects = _Subjects(query)
        return _decide_for(subjects, self._candidates(subjects), query, now)

    def silence_for(self, query: Query, now: TimeLike = None) -> Optional[Entry]:
        """The answer of `silence_of(self.entries, query, now)`."""
        now = to_utc(now)
        subjects = _Subjects(query)
        return _silence_for(subjects, self._candidates(subjects), now)

    def blocks_of(self, query: Query, now: TimeLike = None) -> List[Entry]:
        """The answer of `blocks_of(self.entries, query, now)`: every entry of the
        subject in force or scheduled at `now`, earliest first, then by id."""
        now = to_utc(now)
        subjects = _Subjects(query)
        return _blocks_for(subjects, self._candidates(subjects), now)


__all__ = ["Index"]
