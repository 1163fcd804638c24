"""Property tests of the Python reader (Hypothesis), the twins of the Rust ones
(`src/reader/properties.rs`, `src/core/properties.rs`):

- parsing: any text is a `Document` or a `DocumentError`, never another
  exception; a document cut short is refused; one damaged byte costs at most
  the item on its line (every other entry loads unchanged, and entries loaded
  plus entries skipped is the count written); a repeated field costs its item,
  or in the document's head the document; another format, impossible shard
  fields, or a shard set with a document missing, twice, or of another count
  is refused. The format has no digest, so a value changed inside an item, or
  a whole item line removed, cannot be seen by any reader (docs/reliability.md).
- emails: the canonical forms of the shared vectors (tests/vectors/emails.json)
  are reached from every padding, ASCII case and `+tag` variant of their input;
- addresses: an address inside a network is inside it in every textual form,
  IPv4-mapped included, for `IpNet` and for `decide`;
- times: every spelling of the grammar reads back to its instant.

Examples per property: HYPOTHESIS_MAX_EXAMPLES (default 200).
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import unittest
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import VECTORS_DIR  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from interdict_blocklist import (  # noqa: E402
    FORMAT_V1,
    BlocklistError,
    Contents,
    Document,
    DocumentError,
    Entry,
    IpNet,
    Query,
    Scope,
    canonical_email,
    decide,
    hash_email,
    parse_document,
    parse_time,
)
from interdict_blocklist.reader import check_shards  # noqa: E402

# No example database: runs leave nothing in the working tree, and every run
# draws afresh; a failure prints the example that reproduces it.
settings.register_profile(
    "interdict",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("interdict")

BASE = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc)

# ------------------------------------------------------------------ documents


def _entries() -> st.SearchStrategy[List[Entry]]:
    subject = st.one_of(
        st.tuples(st.just("userId"), st.text("abcü 019", min_size=1, max_size=8)),
        st.tuples(st.just("username"), st.text("abcABC", min_size=1, max_size=8)),
        st.tuples(st.just("email"), st.from_regex(r"[a-z]{1,6}@example\.org", fullmatch=True).map(hash_email)),
        st.tuples(
            st.just("ip"),
            st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)).map(
                lambda p: str(IpNet(f"{ipaddress.IPv4Address(p[0])}/{p[1]}"))
            ),
        ),
        st.tuples(st.just("keyFingerprint"), st.text("SHA256:abcXYZ+/", min_size=1, max_size=10)),
    )

    def entry(values: Tuple[Any, ...]) -> Entry:
        (kind, value), mode, features, scopes, start, length, reason, message = values
        block = mode is None
        return Entry(
            id="",
            kind="FeatureBlock" if block else "UserBan",
            subject_kind=kind,
            subject_value=value,
            from_=BASE + timedelta(seconds=start),
            until=None if length is None else BASE + timedelta(seconds=start + length),
            reason=reason,
            mode=mode,
            features=tuple(features) if block else (),
            scopes=tuple(Scope(k, n) for k, n in scopes) if block else (),
            message=message,
        )

    one = st.tuples(
        subject,
        st.sampled_from([None, "Suspend", "Silence"]),
        st.lists(st.text("abc*", min_size=1, max_size=5), min_size=1, max_size=2),
        st.lists(st.tuples(st.text("ab", min_size=1, max_size=4), st.text("ab/1", min_size=1, max_size=4)), max_size=2),
        st.integers(0, 100),
        st.one_of(st.none(), st.integers(1, 1000)),
        st.text("abc-", min_size=1, max_size=6),
        st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=12)),
    ).map(entry)

    def named(entries: List[Entry]) -> List[Entry]:
        from dataclasses import replace

        return [replace(e, id=f"{e.kind}/ban-{i:02d}") for i, e in enumerate(entries)]

    return st.lists(one, min_size=1, max_size=10).map(named)


def render(entries: List[Entry], index: int = 0, count: int = 1) -> str:
    """The operator's layout (`BlocklistDocument::render`): the head on the first
    line, then one entry per line, sorted by id."""
    head = json.dumps(
        {"format": FORMAT_V1, "namespace": "apps", "shard": {"count": count, "index": index}},
        separators=(",", ":"),
    )[:-1]
    lines = [json.dumps(e.to_json(), separators=(",", ":"), ensure_ascii=False) for e in sorted(entries, key=lambda e: e.id)]
    return head + ',"entries":[\n' + ",\n".join(lines) + "\n]}\n"


def parse_bytes(data: bytes) -> Optional[Document]:
    """A document as the reader reads a file: UTF-8 (else the read refuses it),
    then parsed. Only `DocumentError` may come out of the parse."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return parse_document(text)
    except DocumentError as e:
        assert str(e), "a refusal says why"
        return None


def touched_lines(text: bytes, at: int) -> set:
    line = text[:at].count(b"\n")
    lines = {line}
    if text[at : at + 1] == b"\n":
        lines.add(line + 1)
    return lines


def damage(data: bytes, how: int, at: int, byte: int) -> Tuple[bytes, int]:
    if how == 0:
        at %= len(data)
        return data[:at] + bytes([data[at] ^ (byte or 1)]) + data[at + 1 :], at
    if how == 1:
        at %= len(data) + 1
        return data[:at] + bytes([byte]) + data[at:], at
    at %= len(data)
    return data[:at] + data[at + 1 :], at


class DocumentProperties(unittest.TestCase):
    @given(st.one_of(st.text(max_size=200), st.text(alphabet='[]{}",:0123456789abcdefnulltrue \n', max_size=200)))
    def test_any_text_is_a_document_or_a_document_error(self, text: str) -> None:
        try:
            document = parse_document(text)
        except DocumentError as e:
            self.assertTrue(str(e))
            return
        self.assertEqual(document.format, FORMAT_V1)
        self.assertTrue(all(s.reason for s in document.skipped))

    @given(
        _entries(),
        st.integers(0, 2),
        st.integers(0, 10**9),
        st.one_of(st.sampled_from(list(b'{}[]",:\\0 \n-tnfe9.\x00\x7f')), st.integers(0, 255)),
    )
    def test_one_damaged_byte_costs_at_most_its_own_item(
        self, entries: List[Entry], how: int, at: int, byte: int
    ) -> None:
        text = render(entries).encode("utf-8")
        original = parse_document(text.decode("utf-8"))
        self.assertEqual(original.skipped, ())
        damaged, at = damage(text, how, at, byte)
        document = parse_bytes(damaged)
        if document is None:
            return
        touched = touched_lines(text, at)
        on_damaged_line = [e for i, e in enumerate(original.entries) if i + 1 in touched]
        for entry in original.entries:
            if entry not in on_damaged_line:
                self.assertIn(entry, document.entries, f"{entry.id} lost to damage at byte {at}")
        skipped = [s for s in document.skipped if s.list == "entries"]
        self.assertEqual(len(document.entries) + len(skipped), len(original.entries))
        # What the whole document denies stays denied, but for its damaged line.
        contents = Contents(document.entries)
        for entry in original.entries:
            if entry in on_damaged_line:
                continue
            query = probe(entry)
            if not decide(Contents((entry,)), query, now=entry.from_).allowed:
                self.assertFalse(decide(contents, query, now=entry.from_).allowed, entry.id)

    @given(_entries(), st.data())
    def test_a_truncated_document_is_refused(self, entries: List[Entry], data: st.DataObject) -> None:
        text = render(entries)
        cut = data.draw(st.integers(0, len(text.rstrip()) - 1))
        with self.assertRaises(DocumentError):
            parse_document(text[:cut])

    @given(_entries(), st.data())
    def test_a_repeated_field_costs_its_item_or_the_document(self, entries: List[Entry], data: st.DataObject) -> None:
        text = render(entries)
        lines = text.split("\n")
        line = data.draw(st.integers(0, len(entries)))
        if line == 0:
            key = data.draw(st.sampled_from(['"format":', '"namespace":', '"shard":']))
            head = lines[0]
            start = head.index(key)
            if key == '"shard":':
                end = head.index("}", start) + 1
            else:
                end = head.index('"', start + len(key) + 1) + 1
            lines[0] = head[:end] + "," + head[start:end] + head[end:]
            with self.assertRaises(DocumentError):
                parse_document("\n".join(lines))
            return
        body = lines[line].rstrip(",")
        members = list(json.loads(body).items())
        key, value = members[data.draw(st.integers(0, len(members) - 1))]
        repeated = body[:-1] + "," + json.dumps(key) + ":" + json.dumps(value, ensure_ascii=False) + "}"
        lines[line] = repeated + ("," if lines[line].endswith(",") else "")
        document = parse_document("\n".join(lines))
        ordered = sorted(entries, key=lambda e: e.id)
        self.assertEqual([(s.index, s.id) for s in document.skipped], [(line - 1, ordered[line - 1].id)])
        self.assertEqual(list(document.entries), ordered[: line - 1] + ordered[line:])

    @given(
        _entries(),
        st.one_of(st.just(FORMAT_V1), st.sampled_from([FORMAT_V1 + " ", "interdict.dev/blocklist/v2", ""]), st.text(max_size=20)),
        st.one_of(st.just(0), st.integers(-1, 5), st.just(2**40)),
        st.one_of(st.just(1), st.integers(-1, 5), st.just(2**40)),
    )
    def test_format_and_shard_fields_are_checked(self, entries: List[Entry], fmt: str, index: int, count: int) -> None:
        value = json.loads(render(entries))
        value["format"] = fmt
        value["shard"] = {"index": index, "count": count}
        try:
            document = parse_document(json.dumps(value))
            check_shards([("blocklist.json", document)], "/blocklist")
        except (DocumentError, BlocklistError) as e:
            self.assertTrue(str(e))
            self.assertFalse(fmt == FORMAT_V1 and (index, count) == (0, 1), str(e))
            return
        self.assertTrue(fmt == FORMAT_V1 and (index, count) == (0, 1), f"{fmt!r} {index}/{count} accepted")

    @given(_entries(), st.sampled_from([2, 4]), st.data())
    def test_incomplete_or_mixed_shard_sets_are_refused(self, entries: List[Entry], count: int, data: st.DataObject) -> None:
        # Which shard an entry is in does not matter here; the set's fields do.
        shards = [(f"blocklist-{i}.json" if i else "blocklist.json", parse_document(render(entries[i::count], i, count))) for i in range(count)]
        which = data.draw(st.integers(0, count - 1))
        how = data.draw(st.integers(0, 2))
        edited = list(shards)
        if how == 0:
            del edited[which]
        elif how == 1:
            edited.append(("blocklist-copy.json", shards[which][1]))
        else:
            edited[which] = (shards[which][0], parse_document(render(entries, which, count * 2)))
        check_shards(sorted(shards), "/blocklist")  # the whole set passes
        with self.assertRaises(BlocklistError) as caught:
            check_shards(sorted(edited), "/blocklist")
        self.assertEqual(caught.exception.kind, "shards")
        self.assertIn("/blocklist", str(caught.exception))


def probe(entry: Entry) -> Query:
    feature = entry.features[0] if entry.features and entry.features[0] != "*" else "publish"
    kind, value = entry.subject
    if kind == "ip":
        value = str(ipaddress.ip_network(value, strict=False).network_address)
    field = {"userId": "user_id", "username": "username", "email": "email", "ip": "ip", "keyFingerprint": "key_fingerprint"}[kind]
    subject: Dict[str, Any] = {field: value}
    return Query(feature=feature, scopes=[(s.kind, s.name) for s in entry.scopes], **subject)


# ------------------------------------------------------------------ emails

with open(os.path.join(VECTORS_DIR, "emails.json"), encoding="utf-8") as _f:
    EMAIL_VECTORS = json.load(_f)["emails"]

# Unicode White_Space, which Rust's `str::trim` (and so the canonical form) removes.
WHITE_SPACE = " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"


def flip_ascii_case(text: str, flips: List[bool]) -> str:
    out = []
    for i, c in enumerate(text):
        if c.isascii() and c.isalpha() and flips[i % len(flips)]:
            c = c.swapcase()
        out.append(c)
    return "".join(out)


class EmailProperties(unittest.TestCase):
    @given(
        st.sampled_from(EMAIL_VECTORS),
        st.text(WHITE_SPACE, max_size=3),
        st.text(WHITE_SPACE, max_size=3),
        st.lists(st.booleans(), min_size=1, max_size=8),
    )
    def test_the_vectors_canonical_forms_survive_padding_and_case(self, vector: Dict[str, str], before: str, after: str, flips: List[bool]) -> None:
        typed = before + flip_ascii_case(vector["input"], flips) + after
        self.assertEqual(canonical_email(typed), vector["canonical"])
        self.assertEqual(hash_email(typed), vector["hash"])

    @given(st.sampled_from(EMAIL_VECTORS), st.text("abcXYZ09.-+", max_size=6))
    def test_a_tag_is_dropped_from_the_vectors_addresses(self, vector: Dict[str, str], tag: str) -> None:
        canonical = vector["canonical"]
        assume("@" in canonical)
        local, _, domain = canonical.rpartition("@")
        assume("+" not in local)
        self.assertEqual(canonical_email(f"{local}+{tag}@{domain}"), canonical)

    @given(st.text())
    def test_any_text_canonicalises_idempotently(self, text: str) -> None:
        canonical = canonical_email(text)
        self.assertEqual(hash_email(canonical), hash_email(text))


# ------------------------------------------------------------------ addresses


def v4_forms(addr: ipaddress.IPv4Address) -> List[str]:
    a, b, c, d = addr.packed
    high, low = (a << 8) | b, (c << 8) | d
    return [
        str(addr),
        f"::ffff:{addr}",
        f"::FFFF:{addr}",
        f"0:0:0:0:0:ffff:{addr}",
        f"::ffff:{high:x}:{low:x}",
        f"0000:0000:0000:0000:0000:FFFF:{high:04X}:{low:04X}",
    ]


def v6_forms(addr: ipaddress.IPv6Address) -> List[str]:
    return [str(addr), str(addr).upper(), addr.exploded, f"{addr.exploded[:30]}{ipaddress.IPv4Address(addr.packed[12:])}"]


class AddressProperties(unittest.TestCase):
    @given(st.integers(0, 2**32 - 1), st.integers(1, 32), st.integers(0, 2**32 - 1))
    def test_a_v4_address_in_a_network_is_inside_in_every_form(self, base: int, prefix: int, host: int) -> None:
        mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
        inside = ipaddress.IPv4Address((base & mask) | (host & ~mask & 0xFFFFFFFF))
        outside = ipaddress.IPv4Address(int(inside) ^ (1 << (32 - prefix)))
        net = IpNet(f"{ipaddress.IPv4Address(base)}/{prefix}")
        banned = Contents((Entry("UserBan/net", "UserBan", "ip", str(net), BASE, "spam", mode="Suspend"),))
        for form in v4_forms(inside):
            self.assertIn(form, net)
            self.assertFalse(decide(banned, Query(feature="x", ip=form), now=BASE).allowed, form)
        for form in v4_forms(outside):
            self.assertNotIn(form, net)
            self.assertTrue(decide(banned, Query(feature="x", ip=form), now=BASE).allowed, form)

    @given(st.integers(0, 2**128 - 1), st.integers(1, 128), st.integers(0, 2**128 - 1))
    def test_a_v6_address_in_a_network_is_inside_in_every_form(self, base: int, prefix: int, host: int) -> None:
        all_bits = 2**128 - 1
        mask = (all_bits << (128 - prefix)) & all_bits
        inside = ipaddress.IPv6Address((base & mask) | (host & ~mask & all_bits))
        assume(inside.ipv4_mapped is None and ipaddress.IPv6Address(base).ipv4_mapped is None)
        net = IpNet(f"{ipaddress.IPv6Address(base)}/{prefix}")
        self.assertEqual(str(IpNet(str(net))), str(net))
        for form in v6_forms(inside):
            self.assertIn(form, net, form)

    @given(st.one_of(st.text(max_size=45), st.from_regex(r"[0-9a-fA-F:./]{0,45}", fullmatch=True)))
    def test_any_text_is_a_network_or_a_value_error(self, text: str) -> None:
        try:
            net = IpNet(text)
        except ValueError:
            return
        self.assertEqual(str(IpNet(str(net))), str(net))


# ------------------------------------------------------------------ times

FIRST = datetime(1, 1, 1, tzinfo=timezone.utc)
LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


class TimeProperties(unittest.TestCase):
    @given(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(0, 9),
        st.integers(-(23 * 60 + 59), 23 * 60 + 59),
        st.sampled_from(["T", "t", " "]),
        st.integers(0, 4),
        st.integers(0, 2),
    )
    def test_times_read_back_in_every_spelling(self, naive: datetime, digits: int, offset: int, separator: str, zone_style: int, spaces: int) -> None:
        instant = naive.replace(tzinfo=timezone.utc)
        offset = 0 if zone_style < 3 else offset
        local = instant + timedelta(minutes=offset)
        micros = f"{instant.microsecond:06d}"
        fraction = "" if digits == 0 else "." + (micros + "000")[:digits]
        kept = int((micros + "000")[: min(digits, 6)].ljust(6, "0")) if digits else 0
        sign = "-" if offset < 0 else "+"
        zone = ["Z", "z", "uTc", f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}", f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"][zone_style]
        text = f"{local.year:04d}-{local:%m-%d}{separator}{local:%H:%M:%S}{fraction}{' ' * spaces}{zone}"
        self.assertEqual(parse_time(text), instant.replace(microsecond=kept), text)

    @given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9+\-]{1,6}-[0-9]{1,3}-[0-9]{1,3}[Tt ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\.[0-9]{0,12})?( ?(Z|[+-][0-9]{2}:?[0-9]{2}|UTC))?", fullmatch=True)))
    def test_any_text_is_a_time_in_range_or_a_value_error(self, text: str) -> None:
        try:
            value = parse_time(text)
        except ValueError:
            return
        self.assertTrue(FIRST <= value <= LAST.replace(microsecond=999999), text)


if __name__ == "__main__":
    unittest.main()
