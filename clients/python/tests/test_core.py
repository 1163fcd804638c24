"""Unit tests of the pieces the vectors do not reach directly."""

from __future__ import annotations

import ipaddress
import os
import sys
import unittest
from dataclasses import replace
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import support  # noqa: E402,F401

from interdict_blocklist import (  # noqa: E402
    Contents,
    Decision,
    Entry,
    Exemption,
    IpNet,
    Notice,
    Query,
    Revocation,
    Scope,
    canonical_email,
    decide,
    format_time,
    hash_email,
    parse_document,
    parse_time,
    silence_of,
)
from interdict_blocklist.reader import DocumentError  # noqa: E402


class EmailTests(unittest.TestCase):
    def test_known_digest(self):
        self.assertEqual(
            hash_email("Alice+promo@Example.org "),
            "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498",
        )
        self.assertEqual(canonical_email("bob@ex+ample.org"), "bob@ex+ample.org")

    def test_only_unicode_white_space_is_trimmed(self):
        self.assertEqual(canonical_email("\u001fa@b.c"), "\u001fa@b.c")
        self.assertEqual(canonical_email("\u205fa@b.c\u0085"), "a@b.c")


class TimeTests(unittest.TestCase):
    def test_parse_and_format_like_chrono(self):
        t = parse_time("2027-01-15T10:00:10+02:00")
        self.assertEqual(format_time(t), "2027-01-15T08:00:10Z")
        self.assertEqual(format_time(parse_time("2027-01-15T08:00:00.5Z")), "2027-01-15T08:00:00.500Z")
        self.assertEqual(format_time(parse_time("2027-01-15t08:00:00.000123z")), "2027-01-15T08:00:00.000123Z")
        self.assertEqual(parse_time("2027-01-15 08:00:00 UTC"), parse_time("2027-01-15T08:00:00Z"))
        for bad in ["yesterday", "2027-01-15", "2027-01-15T08:00:00", "2027-02-30T00:00:00Z", ""]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                parse_time(bad)

    def test_decide_refuses_naive_datetimes(self):
        with self.assertRaises(ValueError):
            decide([], Query(feature="x", user_id="1"), datetime(2027, 1, 1))
        self.assertTrue(decide([], Query(feature="x", user_id="1"), datetime.now(timezone(timedelta(hours=3)))).allowed)


class IpTests(unittest.TestCase):
    def test_networks(self):
        self.assertEqual(str(IpNet("10.1.2.3/8")), "10.0.0.0/8")
        self.assertEqual(str(IpNet("::ffff:192.0.2.5")), "192.0.2.5")
        self.assertTrue(IpNet("0.0.0.0/0").contains("::ffff:1.2.3.4"))
        self.assertFalse(IpNet("::/0").contains("::ffff:1.2.3.4"))
        self.assertTrue(IpNet("::/0").contains(ipaddress.ip_address("::1")))
        for bad in ["999.1.1.1/33", "1.2.3.4/33", "::/129", "banana", "1.2.3.4/", "1.2.3.4/-1", "", "1.2.3.4/ 8",
                    "fe80::1%eth0", "01.2.3.4", "1.2.3.4/0008"]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                IpNet(bad)

    def test_query_ip_must_be_an_address(self):
        with self.assertRaises(ValueError):
            Query(feature="x", ip="10.0.0.0/8")


class QueryTests(unittest.TestCase):
    def test_scope_spellings(self):
        q = Query(feature="x", user_id="1",
                  scopes=[Scope("a", "1"), ("b", "2"), {"kind": "c", "name": "3"}, "d=4=5"])
        self.assertEqual(q.scopes, (Scope("a", "1"), Scope("b", "2"), Scope("c", "3"), Scope("d", "4=5")))
        with self.assertRaises(ValueError):
            Query(feature="x", user_id="1", scopes=["nokind"])
        self.assertTrue(Query(feature="x", user_id="").has_subject())

    def test_a_query_without_any_identifier_raises(self) -> None:
        for scopes in ((), [("academy", "x")]):
            with self.subTest(scopes=scopes), self.assertRaises(ValueError) as caught:
                Query(feature="x", scopes=scopes)
            self.assertIn("no subject", str(caught.exception))
        with self.assertRaises(ValueError):
            Query.from_json({"feature": "x", "scopes": []})
        # Identifiers are checked for their type first: a wrong one is the likelier bug.
        with self.assertRaises(TypeError):
            Query(feature="x", user_id=1)  # type: ignore[arg-type]

    def test_a_query_with_a_wrongly_typed_identifier_raises(self) -> None:
        with self.assertRaises(TypeError) as caught:
            Query(feature="login", user_id=9999)  # type: ignore[arg-type]
        self.assertIn("user_id", str(caught.exception))
        with self.assertRaises(TypeError):
            Query(feature=None)  # type: ignore[arg-type]


class DecisionJsonTests(unittest.TestCase):
    def test_keys_and_order(self):
        t = parse_time("2027-01-15T08:00:00Z")
        d = Decision(allowed=False, ban="UserBan/x", mode="Silence", reason="spam", message="m", from_=t,
                     until=t, revoke_sessions_before=t, content_hidden=True, appeal_instructions="a")
        self.assertEqual(list(d.to_json()), ["allowed", "ban", "mode", "reason", "message", "from", "until",
                                             "revokeSessionsBefore", "contentHidden", "appealInstructions"])
        self.assertEqual(Decision.allow().dumps(), '{"allowed":true}')


class DocumentStrictnessTests(unittest.TestCase):
    """The Rust reader refuses these documents, or leaves out these entries; so does
    this one."""

    def doc(self, entry_overrides=None, **top):
        entry = {"id": "UserBan/x", "kind": "UserBan", "subject": {"userId": "1"}, "mode": "Suspend",
                 "from": "2027-01-15T08:00:00Z", "reason": "spam"}
        entry.update(entry_overrides or {})
        base = {"format": "interdict.dev/blocklist/v1", "namespace": "apps", "shard": {"count": 1, "index": 0},
                "entries": [entry]}
        base.update(top)
        import json
        return json.dumps(base)

    def test_valid(self):
        self.assertEqual(len(parse_document(self.doc()).entries), 1)

    def test_refused(self):
        cases = {
            "shard negative": self.doc(shard={"count": 1, "index": -1}),
            "shard float": self.doc(shard={"count": 1.0, "index": 0}),
            "entries not list": self.doc(entries={}),
            "format not string": self.doc(format=1),
            "top array": "[]",
            "NaN": self.doc().replace('"index": 0', '"index": NaN'),
            "infinite number": self.doc().replace('"index": 0', '"index": 0, "x": 1e400'),
            "infinite number in an entry": self.doc({"weight": [1e400]}).replace("Infinity", "1e400"),
            "huge integer": self.doc().replace('"index": 0', '"index": 0, "x": 1' + "0" * 400),
            "duplicate top-level field": self.doc().replace('"namespace": "apps"', '"namespace": "apps", "namespace": "b"'),
        }
        for name, text in cases.items():
            with self.subTest(name), self.assertRaises(DocumentError):
                parse_document(text)

    def test_odd_entries_are_skipped(self):
        cases = {
            "mode": self.doc({"mode": "Mute"}),
            "mode as an object": self.doc({"mode": {"Suspend": None}}),
            "features null": self.doc({"features": None}),
            "feature not string": self.doc({"features": [1]}),
            "scope without name": self.doc({"scopes": [{"kind": "a"}]}),
            "subject unknown": self.doc({"subject": {"phone": "1"}}),
            "subject empty": self.doc({"subject": {}}),
            "subject number": self.doc({"subject": {"userId": 1}}),
            "subject not an address": self.doc({"subject": {"ip": "10.0.0.0/33"}}),
            "until bad": self.doc({"until": "tomorrow"}),
            "until past year 9999": self.doc({"until": "+21192-01-01T00:00:00Z"}),
            "from in year 0": self.doc({"from": "0000-12-31T23:00:00-02:00"}),
            "until past year 9999 by its offset": self.doc({"until": "9999-12-31T23:30:00-01:00"}),
            "global not a boolean": self.doc({"global": "yes"}),
            "global null": self.doc({"global": None}),
            "duplicate field": self.doc().replace('"reason": "spam"', '"reason": "spam", "reason": "x"'),
            "subject repeated key": self.doc().replace('{"userId": "1"}', '{"userId": "1", "userId": "2"}'),
        }
        for name, text in cases.items():
            with self.subTest(name):
                document = parse_document(text)
                self.assertEqual(document.entries, ())
                (skipped,) = document.skipped
                self.assertEqual((skipped.list, skipped.index, skipped.id), ("entries", 0, "UserBan/x"))
                self.assertTrue(skipped.reason)

    def test_an_odd_entry_costs_only_itself(self):
        import json
        good = json.loads(self.doc())["entries"][0]
        far = dict(good, id="UserBan/far", until="+21192-01-01T00:00:00Z")
        text = self.doc(entries=["not an entry", far, dict(good, id="UserBan/y")])
        document = parse_document(text)
        self.assertEqual([e.id for e in document.entries], ["UserBan/y"])
        self.assertEqual(
            [(s.list, s.index, s.id) for s in document.skipped],
            [("entries", 0, None), ("entries", 1, "UserBan/far")],
        )
        self.assertIn("+21192-01-01T00:00:00Z", str(document.skipped[1]))
        self.assertTrue(str(document.skipped[1]).startswith('entries[1] "UserBan/far": '))

    def test_the_year_bounds_of_times(self):
        self.assertEqual(format_time(parse_time("9999-12-31T23:59:59Z")), "9999-12-31T23:59:59Z")
        self.assertEqual(format_time(parse_time("0001-01-01T00:00:00Z")), "0001-01-01T00:00:00Z")
        self.assertEqual(format_time(parse_time("0999-06-01T00:00:00+01:00")), "0999-05-31T23:00:00Z")
        for text in ("+21192-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "0000-06-01T00:00:00Z",
                     "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "2027-12-31T23:59:60Z"):
            with self.subTest(text), self.assertRaises(ValueError):
                parse_time(text)

    def test_unknown_duplicates_are_ignored(self):
        text = self.doc().replace('"reason": "spam"', '"reason": "spam", "x": 1, "x": 2')
        self.assertEqual(len(parse_document(text).entries), 1)


class ExemptionDocumentTests(unittest.TestCase):
    """`exemptions` (added within v1): optional, as strict as entries, unknown fields ignored."""

    def doc(self, exemptions, raw=False):
        import json
        base = {"format": "interdict.dev/blocklist/v1", "namespace": "apps", "shard": {"count": 1, "index": 0},
                "entries": []}
        text = json.dumps(base)
        if exemptions is not None or raw:
            text = text[:-1] + ', "exemptions": ' + (exemptions if raw else json.dumps(exemptions)) + "}"
        return text

    def test_absent_empty_and_valid(self):
        self.assertEqual(parse_document(self.doc(None)).exemptions, ())
        self.assertEqual(parse_document(self.doc([])).exemptions, ())
        got = parse_document(self.doc([
            {"id": "BanExemption/office", "subject": {"ip": "10.1.2.0/24"}, "note": "ignored", "until": None},
            {"id": "BanExemption/short", "subject": {"userId": "7"}, "until": "2027-01-15T10:00:00+02:00", "x": [1]},
        ])).exemptions
        self.assertEqual(got, (
            Exemption("BanExemption/office", "ip", "10.1.2.0/24"),
            Exemption("BanExemption/short", "userId", "7", until=parse_time("2027-01-15T08:00:00Z")),
        ))
        self.assertEqual(got[1].to_json(), {"id": "BanExemption/short", "subject": {"userId": "7"},
                                            "until": "2027-01-15T08:00:00Z"})

    def test_refused(self):
        cases = {
            "null": self.doc("null", raw=True),
            "object": self.doc({}),
            "duplicate exemptions": self.doc("[]", raw=True).replace("}", ', "exemptions": []}'),
        }
        for name, text in cases.items():
            with self.subTest(name), self.assertRaises(DocumentError):
                parse_document(text)

    def test_odd_exemptions_are_skipped(self):
        ok = {"id": "BanExemption/x", "subject": {"userId": "1"}}
        cases = {
            "item not object": (self.doc(["x"]), None),
            "missing id": (self.doc([{"subject": {"userId": "1"}}]), None),
            "id not string": (self.doc([dict(ok, id=1)]), None),
            "missing subject": (self.doc([{"id": "BanExemption/x"}]), "BanExemption/x"),
            "two subjects": (self.doc([dict(ok, subject={"userId": "1", "ip": "10.0.0.1"})]), "BanExemption/x"),
            "subject unknown": (self.doc([dict(ok, subject={"phone": "1"})]), "BanExemption/x"),
            "subject number": (self.doc([dict(ok, subject={"userId": 1})]), "BanExemption/x"),
            "subject not an address": (self.doc([dict(ok, subject={"ip": "10.0.0.256"})]), "BanExemption/x"),
            "until bad": (self.doc([dict(ok, until="tomorrow")]), "BanExemption/x"),
            "until past year 9999": (self.doc([dict(ok, until="10000-01-01T00:00:00Z")]), "BanExemption/x"),
            # The id reported is the last one, as with the Rust reader.
            "duplicate field": (
                self.doc('[{"id": "BanExemption/x", "id": "y", "subject": {"userId": "1"}}]', raw=True), "y"),
        }
        for name, (text, named) in cases.items():
            with self.subTest(name):
                document = parse_document(text)
                self.assertEqual(document.exemptions, ())
                (skipped,) = document.skipped
                self.assertEqual((skipped.list, skipped.index, skipped.id), ("exemptions", 0, named))


class RevocationDocumentTests(unittest.TestCase):
    """`revocations` (added within v1): optional, every field required, as strict as
    entries, unknown fields ignored."""

    OK = {"id": "UserBan/x", "subject": {"userId": "1"}, "before": "2027-01-15T08:00:00Z",
          "until": "2027-01-16T08:00:00Z"}

    def doc(self, revocations, raw=False):
        import json
        base = {"format": "interdict.dev/blocklist/v1", "namespace": "apps", "shard": {"count": 1, "index": 0},
                "entries": []}
        text = json.dumps(base)
        if revocations is not None or raw:
            text = text[:-1] + ', "revocations": ' + (revocations if raw else json.dumps(revocations)) + "}"
        return text

    def test_absent_empty_and_valid(self):
        self.assertEqual(parse_document(self.doc(None)).revocations, ())
        self.assertEqual(parse_document(self.doc([])).revocations, ())
        got = parse_document(self.doc([
            dict(self.OK, note="ignored"),
            {"id": "UserBan/net", "subject": {"ip": "10.0.0.0/8"}, "before": "2027-01-15T10:00:00+02:00",
             "until": "2027-01-15T09:00:00Z", "x": [1]},
        ])).revocations
        self.assertEqual(got, (
            Revocation("UserBan/x", "userId", "1", parse_time("2027-01-15T08:00:00Z"),
                       parse_time("2027-01-16T08:00:00Z")),
            Revocation("UserBan/net", "ip", "10.0.0.0/8", parse_time("2027-01-15T08:00:00Z"),
                       parse_time("2027-01-15T09:00:00Z")),
        ))
        self.assertEqual(got[1].to_json(), {"id": "UserBan/net", "subject": {"ip": "10.0.0.0/8"},
                                            "before": "2027-01-15T08:00:00Z", "until": "2027-01-15T09:00:00Z"})
        # Rendered after `exemptions` by the operator; any order is read.
        text = self.doc([self.OK]).replace('"revocations"', '"exemptions": [], "revocations"')
        self.assertEqual(len(parse_document(text).revocations), 1)

    def test_refused(self):
        cases = {
            "null": self.doc("null", raw=True),
            "object": self.doc({}),
            "duplicate revocations": self.doc("[]", raw=True).replace("}", ', "revocations": []}'),
        }
        for name, text in cases.items():
            with self.subTest(name), self.assertRaises(DocumentError):
                parse_document(text)

    def test_odd_revocations_are_skipped(self):
        ok = self.OK
        without = lambda key: {k: v for k, v in ok.items() if k != key}  # noqa: E731
        cases = {
            "item not object": self.doc(["x"]),
            "missing id": self.doc([without("id")]),
            "id not string": self.doc([dict(ok, id=1)]),
            "missing subject": self.doc([without("subject")]),
            "two subjects": self.doc([dict(ok, subject={"userId": "1", "ip": "10.0.0.1"})]),
            "no subject": self.doc([dict(ok, subject={})]),
            "subject unknown": self.doc([dict(ok, subject={"phone": "1"})]),
            "subject number": self.doc([dict(ok, subject={"userId": 1})]),
            "missing before": self.doc([without("before")]),
            "missing until": self.doc([without("until")]),
            "null before": self.doc([dict(ok, before=None)]),
            "null until": self.doc([dict(ok, until=None)]),
            "before bad": self.doc([dict(ok, before="yesterday")]),
            "until bad": self.doc([dict(ok, until=1)]),
            "until past year 9999": self.doc([dict(ok, until="+21192-01-01T00:00:00Z")]),
            "duplicate field": self.doc(
                '[{"id": "UserBan/x", "subject": {"userId": "1"}, "before": "2027-01-15T08:00:00Z", '
                '"until": "2027-01-16T08:00:00Z", "until": "2027-01-17T08:00:00Z"}]', raw=True),
        }
        for name, text in cases.items():
            with self.subTest(name):
                document = parse_document(text)
                self.assertEqual(document.revocations, ())
                (skipped,) = document.skipped
                self.assertEqual((skipped.list, skipped.index), ("revocations", 0))
                expected_id = None if name in ("item not object", "missing id", "id not string") else "UserBan/x"
                self.assertEqual(skipped.id, expected_id)


class RevocationRuleTests(unittest.TestCase):
    T = parse_time("2027-01-15T08:00:00Z")

    def revocation(self, id_, kind, value, before, until):
        return Revocation(id_, kind, value, parse_time(before), parse_time(until))

    def test_revocations_only_move_the_session_time(self):
        ban = Entry(id="FeatureBlock/b", kind="FeatureBlock", subject_kind="userId", subject_value="1",
                    from_=self.T, reason="abuse", features=("publish",), revoke_sessions_before=self.T)
        ended = self.revocation("UserBan/ended", "userId", "1", "2027-01-15T07:00:00Z", "2027-01-15T09:00:00Z")
        later = self.revocation("UserBan/later", "email", hash_email("a@example.org"),
                                "2027-01-15T08:30:00Z", "2027-01-15T10:00:00Z")
        q = Query(feature="publish", user_id="1", email="A+x@Example.org")
        d = decide([ban], q, "2027-01-15T08:45:00Z", revocations=[ended, later])
        self.assertEqual((d.allowed, d.ban, d.revoke_sessions_before),
                         (False, "FeatureBlock/b", parse_time("2027-01-15T08:30:00Z")))
        self.assertEqual(decide(Contents([ban], (), [ended, later]), q, "2027-01-15T08:45:00Z"), d)
        # Once `later` is over, the entry's own time is the latest again.
        d = decide([ban], q, "2027-01-15T10:00:00Z", revocations=[ended, later])
        self.assertEqual((d.ban, d.revoke_sessions_before), ("FeatureBlock/b", self.T))
        # On their own: an allowed answer carrying the time.
        self.assertEqual(decide([], replace(q, feature="read"), "2027-01-15T08:45:00Z",
                                revocations=[ended]).to_json(),
                         {"allowed": True, "revokeSessionsBefore": "2027-01-15T07:00:00Z"})

    def test_exemptions_hide_ip_revocations_only(self):
        net = self.revocation("UserBan/net", "ip", "10.0.0.0/8", "2027-01-15T07:30:00Z", "2027-01-16T00:00:00Z")
        user = self.revocation("UserBan/user", "userId", "7", "2027-01-15T07:00:00Z", "2027-01-16T00:00:00Z")
        office = Exemption("BanExemption/office", "userId", "7", until=parse_time("2027-01-15T12:00:00Z"))
        q = Query(feature="x", user_id="7", ip="::ffff:10.1.2.3")
        contents = Contents((), [office], [net, user])
        self.assertEqual(decide(contents, q, "2027-01-15T08:00:00Z").revoke_sessions_before,
                         parse_time("2027-01-15T07:00:00Z"))
        # After the exemption's until, the IP revocation counts again.
        self.assertEqual(decide(contents, q, "2027-01-15T12:00:00Z").revoke_sessions_before,
                         parse_time("2027-01-15T07:30:00Z"))


class ExemptionRuleTests(unittest.TestCase):
    T = parse_time("2027-01-15T08:00:00Z")

    def ban(self, id_, kind, value, **extra):
        return Entry(id=id_, kind="UserBan", subject_kind=kind, subject_value=value, from_=self.T,
                     reason="spam", **extra)

    def test_exemption_only_hides_ip_entries_and_only_while_in_force(self):
        silence = self.ban("UserBan/net", "ip", "10.0.0.0/8", mode="Silence",
                           revoke_sessions_before=self.T)
        entries = [silence, self.ban("UserBan/user", "userId", "7", mode="Silence")]
        exemption = Exemption("BanExemption/x", "ip", "10.1.2.3", until=parse_time("2027-01-15T09:00:00Z"))
        q = Query(feature="publish", ip="::ffff:10.1.2.3")
        self.assertEqual(decide(entries, q, "2027-01-15T08:30:00Z", exemptions=[exemption]).to_json(),
                         {"allowed": True})
        self.assertIsNone(silence_of(entries, q, "2027-01-15T08:30:00Z", exemptions=[exemption]))
        # At its until, the exemption is over.
        self.assertEqual(decide(Contents(entries, [exemption]), q, "2027-01-15T09:00:00Z").ban, "UserBan/net")
        # A user-id entry still applies to an exempt request.
        both = Query(feature="publish", ip="10.1.2.3", user_id="7")
        d = decide(entries, both, "2027-01-15T08:30:00Z", exemptions=[exemption])
        self.assertEqual((d.allowed, d.ban, d.content_hidden, d.revoke_sessions_before),
                         (False, "UserBan/user", True, None))

    def test_sessions_revoked_on_allowed_answers(self):
        ended = self.ban("UserBan/ended", "userId", "1", until=parse_time("2027-01-15T08:00:10Z"),
                         revoke_sessions_before=self.T)
        start = parse_time("2027-01-16T00:00:00Z")
        later = replace(self.ban("UserBan/later", "userId", "1", revoke_sessions_before=start), from_=start)
        q = Query(feature="x", user_id="1")
        d = decide([ended, later], q, "2027-01-15T12:00:00Z")
        # The scheduled ban is announced, and its revocation does not count yet.
        self.assertEqual(d, Decision(allowed=True, revoke_sessions_before=self.T,
                                     notices=(Notice.of(later, "Scheduled"),)))
        self.assertEqual(
            d.dumps(),
            '{"allowed":true,"revokeSessionsBefore":"2027-01-15T08:00:00Z","notices":[{"ban":"UserBan/later",'
            '"mode":"Suspend","phase":"Scheduled","reason":"spam","from":"2027-01-16T00:00:00Z"}]}',
        )
        d = decide([ended, later], q, "2027-01-16T00:00:00Z")
        self.assertEqual((d.ban, d.revoke_sessions_before), ("UserBan/later", start))


if __name__ == "__main__":
    unittest.main()
