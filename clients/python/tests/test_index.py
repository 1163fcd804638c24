"""The index gives the linear rules' answers: randomized equivalence (fixed seeds),
as `index_agrees_with_the_linear_rules` does for the Rust `Index`."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import unittest
from dataclasses import replace
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import document, lay_out  # noqa: E402

from interdict_blocklist import (  # noqa: E402
    Blocklist,
    BlocklistUnavailable,
    Contents,
    Decision,
    Entry,
    Exemption,
    Index,
    Query,
    Revocation,
    Scope,
    blocks_of,
    decide,
    hash_email,
    silence_of,
    subject_matcher,
)

BASE = datetime(2027, 1, 15, 8, tzinfo=timezone.utc)


def at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


V4_PREFIXES = [0, 8, 16, 23, 24, 30, 32]
V6_PREFIXES = [0, 32, 48, 64, 127, 128]


def random_subject(rng: random.Random):
    kind = rng.randrange(9)
    if kind == 0:
        return "userId", str(rng.randrange(4))
    if kind == 1:
        return "username", rng.choice(["user0", "user1", "user2", "User0"])
    if kind == 2:
        return "email", hash_email(f"u{rng.randrange(3)}@example.org")
    if kind == 3:
        return "keyFingerprint", f"SHA256:key{rng.randrange(3)}"
    if kind in (4, 5):
        # Host bits are left set on purpose: the network clears them.
        text = f"10.{rng.randrange(3)}.{rng.choice([1, 9])}.7"
        prefix = rng.choice(V4_PREFIXES + [None])
        return "ip", text if prefix is None else f"{text}/{prefix}"
    if kind == 6:
        text = f"2001:db8:{rng.randrange(3)}:{rng.choice([0, 1])}::7"
        prefix = rng.choice(V6_PREFIXES + [None])
        return "ip", text if prefix is None else f"{text}/{prefix}"
    if kind == 7:
        # IPv4-mapped entries are the IPv4 address they carry; a v6-length prefix on
        # one, or anything unparsable, matches nothing.
        return "ip", rng.choice(
            [
                f"::ffff:10.{rng.randrange(3)}.1.7",
                f"::ffff:10.{rng.randrange(3)}.9.0/24",
                "::ffff:10.0.1.7/120",
                "10.0.0.0/33",
                "10.0.0.0/",
                "not-an-address",
                "fe80::1%eth0",
            ]
        )
    return "ip", rng.choice(["0.0.0.0/0", "::/0", "192.0.2.1"])


def random_entry(rng: random.Random, i: int) -> Entry:
    subject_kind, subject_value = random_subject(rng)
    start = rng.randrange(20)
    until = at(start + rng.randrange(1, 20)) if rng.random() < 0.6 else None
    kind = rng.randrange(5)
    # Now and then an id repeats (shards of a misconfigured set): among equals the
    # rules keep the last in entry order, which the index must preserve.
    entry_id = f"Kind/{rng.randrange(i) if i and rng.random() < 0.1 else i:03d}"
    common = dict(
        id=entry_id,
        subject_kind=subject_kind,
        subject_value=subject_value,
        from_=at(start),
        until=until,
        reason=f"reason {i}",
        message=f"message {i}" if rng.random() < 0.5 else None,
        revoke_sessions_before=at(start - rng.randrange(3)) if rng.random() < 0.4 else None,
    )
    if kind <= 2:
        return Entry(kind="UserBan", mode=[None, "Suspend", "Silence"][kind], **common)
    features = rng.sample(["a", "b", "*", "Login", "read"], rng.randrange(1, 3))
    scopes = rng.sample(
        [Scope("academy", "x"), Scope("Cohort", "y"), Scope("academy", "X")], rng.randrange(3)
    )
    return Entry(kind="FeatureBlock", features=tuple(features), scopes=tuple(scopes), **common)


def random_exemption(rng: random.Random, i: int) -> Exemption:
    subject_kind, subject_value = random_subject(rng)
    until = at(rng.randrange(40)) if rng.random() < 0.4 else None
    return Exemption(id=f"BanExemption/{i:03d}", subject_kind=subject_kind, subject_value=subject_value, until=until)


def random_revocation(rng: random.Random, i: int) -> Revocation:
    subject_kind, subject_value = random_subject(rng)
    before = rng.randrange(20)
    # Now and then an until at or before `before`: the document says so, the rules
    # look at `until` only.
    until = before + rng.randrange(-2, 25)
    return Revocation(
        id=f"UserBan/ended-{i:03d}",
        subject_kind=subject_kind,
        subject_value=subject_value,
        before=at(before),
        until=at(until),
    )


def random_email(rng: random.Random) -> str:
    n = rng.randrange(4)
    return rng.choice(
        [
            f"u{n}@example.org",
            f" U{n}+tag@Example.org",
            f"u{n}+a+b@EXAMPLE.ORG\t",
            f"\u00a0u{n}@example.org\n",
            hash_email(f"u{n}@example.org").replace("sha256:", "SHA256:"),
            f"  {hash_email(f'u{n}@example.org')} ",
        ]
    )


def random_ip(rng: random.Random) -> str:
    n = rng.randrange(4)
    return rng.choice(
        [
            f"10.{n}.1.7",
            f"10.{n}.1.200",
            f"10.{n}.9.9",
            f"::ffff:10.{n}.1.7",
            f"::FFFF:10.{n}.9.9",
            f"2001:db8:{n}::7",
            f"2001:db8:{n}:1::1",
            f"2001:db8:{n}::6",
            "192.0.2.1",
            "::1",
            "::ffff:192.0.2.1",
        ]
    )


def random_query(rng: random.Random) -> Query:
    maybe = lambda p: rng.random() < p  # noqa: E731
    while True:
        identifiers = dict(
            user_id=str(rng.randrange(5)) if maybe(0.5) else None,
            username=rng.choice(["user0", "user1", "user3", "USER0", "User0"]) if maybe(0.3) else None,
            email=random_email(rng) if maybe(0.3) else None,
            ip=random_ip(rng) if maybe(0.5) else None,
            key_fingerprint=f"SHA256:key{rng.randrange(4)}" if maybe(0.2) else None,
        )
        if any(v is not None for v in identifiers.values()):  # a Query must name someone
            break
    return Query(
        feature=rng.choice(["a", "b", "c", "login", "LOGIN", "read", "export", ""]),
        scopes=rng.sample(
            [("academy", "x"), ("ACADEMY", "x"), ("cohort", "y"), ("cohort", "z")], rng.randrange(3)
        ),
        **identifiers,
    )


def same_entries(test: unittest.TestCase, got, want) -> None:
    test.assertEqual([id(e) for e in got], [id(e) for e in want], [e.id for e in got])


class IndexEquivalenceTests(unittest.TestCase):
    CASES = 4000

    def test_index_agrees_with_the_linear_rules(self):
        rng = random.Random(20270115)
        for case in range(self.CASES):
            entries = [random_entry(rng, i) for i in range(rng.randrange(31))]
            index = Index(entries)
            self.assertEqual(index.entries, tuple(entries))
            for _ in range(3):
                query = random_query(rng)
                now = at(rng.randrange(45))
                with self.subTest(case=case, query=query, now=now):
                    want = decide(entries, query, now)
                    self.assertEqual(index.decide(query, now), want)
                    self.assertEqual(index.decide(query, now).to_json(), want.to_json())
                    self.assertIs(index.silence_for(query, now), silence_of(entries, query, now))
                    same_entries(self, index.blocks_of(query, now), blocks_of(entries, query, now))

    def test_index_agrees_with_the_linear_rules_with_exemptions_and_revocations(self):
        rng = random.Random(20270116)
        for case in range(3000):
            entries = [random_entry(rng, i) for i in range(rng.randrange(31))]
            exemptions = [random_exemption(rng, i) for i in range(rng.randrange(4))]
            revocations = [random_revocation(rng, i) for i in range(rng.randrange(12))]
            index = Index(entries, exemptions, revocations)
            self.assertEqual(index.exemptions, tuple(exemptions))
            self.assertEqual(index.revocations, tuple(revocations))
            contents = Contents(entries, exemptions, revocations)
            for _ in range(3):
                query = random_query(rng)
                now = at(rng.randrange(45))
                with self.subTest(case=case, query=query, now=now):
                    want = decide(entries, query, now, exemptions=exemptions, revocations=revocations)
                    self.assertEqual(decide(contents, query, now), want)
                    self.assertEqual(index.decide(query, now), want)
                    self.assertEqual(index.decide(query, now).to_json(), want.to_json())
                    self.assertEqual(Index(contents).decide(query, now), want)
                    # Revocations never change what is allowed, only the session time.
                    without = decide(entries, query, now, exemptions=exemptions)
                    self.assertEqual(replace(want, revoke_sessions_before=None),
                                     replace(without, revoke_sessions_before=None))
                    silence = silence_of(entries, query, now, exemptions=exemptions)
                    self.assertIs(index.silence_for(query, now), silence)
                    self.assertEqual(silence is not None, want.content_hidden)
                    # Exemptions never hide entries from the block status.
                    same_entries(self, index.blocks_of(query, now), blocks_of(entries, query, now))
                    # The rules restated: an exempt query loses its IP entries and
                    # revocations, and sessions are revoked before the latest time of
                    # the started entries and the revocations in force.
                    matches = subject_matcher(query)
                    exempt = any(x.in_force(now) and matches(x) for x in exemptions)
                    kept = [e for e in entries if not (exempt and e.subject_kind == "ip")]
                    self.assertEqual(
                        (want.allowed, want.ban, want.content_hidden),
                        (lambda d: (d.allowed, d.ban, d.content_hidden))(decide(kept, query, now)),
                    )
                    revokes = [
                        e.revoke_sessions_before
                        for e in kept
                        if matches(e) and e.from_ <= now and e.revoke_sessions_before is not None
                    ] + [
                        r.before
                        for r in revocations
                        if matches(r) and now < r.until and not (exempt and r.subject_kind == "ip")
                    ]
                    self.assertEqual(want.revoke_sessions_before, max(revokes, default=None))

    def test_many_entries_on_few_subjects(self):
        """Crowded buckets: many entries per subject and per network."""
        rng = random.Random(7)
        for case in range(200):
            entries = [random_entry(rng, i) for i in range(150)]
            revocations = [random_revocation(rng, i) for i in range(60)]
            index = Index(entries, revocations=revocations)
            for _ in range(10):
                query = random_query(rng)
                now = at(rng.randrange(45))
                with self.subTest(case=case, query=query, now=now):
                    self.assertEqual(index.decide(query, now), decide(entries, query, now, revocations=revocations))
                    self.assertIs(index.silence_for(query, now), silence_of(entries, query, now))
                    same_entries(self, index.blocks_of(query, now), blocks_of(entries, query, now))

    def test_blocklist_answers_through_its_index(self):
        rng = random.Random(42)
        entries = [random_entry(rng, i) for i in range(300)]
        exemptions = [random_exemption(rng, i) for i in range(6)]
        revocations = [random_revocation(rng, i) for i in range(40)]
        with tempfile.TemporaryDirectory() as tmp:
            half = len(entries) // 2
            first = document([e.to_json() for e in entries[:half]], index=0, count=2)
            second = document([e.to_json() for e in entries[half:]], index=1, count=2)
            first["exemptions"] = [x.to_json() for x in exemptions[:2]]
            second["exemptions"] = [x.to_json() for x in exemptions[2:]]
            first["revocations"] = [r.to_json() for r in revocations[:25]]
            second["revocations"] = [r.to_json() for r in revocations[25:]]
            lay_out(tmp, {"blocklist-0.json": first, "blocklist-1.json": second})
            with Blocklist(tmp, background=False) as blocklist:
                loaded = blocklist.contents
                # Items whose address is not one are left out (and reported).
                def valid(items):
                    return tuple(i for i in items if not (i.subject_kind == "ip" and i._net is None))

                odd = set(entries + exemptions + revocations) - set(
                    valid(entries) + valid(exemptions) + valid(revocations)
                )
                self.assertTrue(odd)
                self.assertEqual(len(loaded.entries), len(valid(entries)))
                self.assertEqual(
                    sorted(s.item.id or "" for s in loaded.skipped), sorted(i.id for i in odd)
                )
                self.assertEqual(loaded.exemptions, valid(exemptions))
                self.assertIs(blocklist.index.entries, blocklist.entries)
                self.assertIs(blocklist.index.exemptions, blocklist.exemptions)
                self.assertEqual(loaded.revocations, valid(revocations))
                self.assertIs(blocklist.index.revocations, blocklist.revocations)
                self.assertEqual(blocklist.stats()["exemptions"], len(valid(exemptions)))
                self.assertEqual(blocklist.stats()["revocations"], len(valid(revocations)))
                for _ in range(500):
                    query = random_query(rng)
                    now = at(rng.randrange(45))
                    with self.subTest(query=query, now=now):
                        self.assertEqual(blocklist.decide(query, now), decide(loaded, query, now))
                        self.assertIs(blocklist.silence_for(query, now), silence_of(loaded, query, now))
                        same_entries(
                            self, blocklist.blocks_for(query, now=now), blocks_of(loaded, query, now)
                        )

    def test_reload_rebuilds_the_index(self):
        with tempfile.TemporaryDirectory() as tmp:
            ban = {"id": "UserBan/a", "kind": "UserBan", "subject": {"userId": "1"},
                   "mode": "Suspend", "from": "2020-01-01T00:00:00Z", "reason": "spam"}
            path = os.path.join(tmp, "blocklist.json")
            with open(path, "w") as f:
                json.dump(document([ban]), f)
            with Blocklist(tmp, background=False) as blocklist:
                first = blocklist.index
                query = Query(feature="x", user_id="2")
                self.assertTrue(blocklist.decide(query).allowed)
                ban2 = dict(ban, id="UserBan/b", subject={"ip": "203.0.113.0/24"})
                with open(path, "w") as f:
                    json.dump(document([ban, ban2, dict(ban, id="UserBan/c", subject={"userId": "2"})]), f)
                os.utime(path, ns=(1, 1))  # a new version whatever the clock's resolution
                self.assertTrue(blocklist.reload())
                self.assertIsNot(blocklist.index, first)
                self.assertEqual(len(blocklist.index), 3)
                self.assertEqual(blocklist.decide(query).ban, "UserBan/c")
                self.assertEqual(blocklist.decide(Query(feature="x", ip="::ffff:203.0.113.9")).ban, "UserBan/b")

    def test_empty_and_unloaded(self):
        index = Index()
        self.assertEqual(len(index), 0)
        self.assertTrue(index.decide(Query(feature="x", user_id="1", ip="10.0.0.1"), BASE).allowed)
        with tempfile.TemporaryDirectory() as tmp:
            # Nothing loaded: no answer (fail closed) unless the application opted out.
            blocklist = Blocklist(os.path.join(tmp, "missing"), background=False)
            self.assertFalse(blocklist.loaded)
            with self.assertRaises(BlocklistUnavailable):
                blocklist.decide(Query(feature="x", user_id="1"))
            with self.assertRaises(BlocklistUnavailable):
                blocklist.blocks_for(user_id="1")
            with self.assertRaises(BlocklistUnavailable):
                blocklist.silence_for(Query(feature="x", user_id="1"))
            blocklist = Blocklist(os.path.join(tmp, "missing"), background=False, fail_open=True)
            self.assertEqual(blocklist.decide(Query(feature="x", user_id="1")), Decision(allowed=True))
            self.assertEqual(blocklist.blocks_for(user_id="1"), [])
            self.assertIsNone(blocklist.silence_for(Query(feature="x", user_id="1")))

    def test_naive_now_is_refused_like_the_linear_rules(self):
        with self.assertRaises(ValueError):
            Index().decide(Query(feature="x", user_id="1"), datetime(2027, 1, 1))


if __name__ == "__main__":
    unittest.main()
