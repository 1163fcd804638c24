"""Notices: the subject's entries that do not refuse this request, beside the answer
(tests/vectors/README.md, `notices`). The shared vectors in notices.json cover the
common cases; these pin the edges, through the linear rules and the index alike."""

from __future__ import annotations

import json
import os
import sys
import unittest
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import document, feature_block, user_ban  # noqa: E402

from interdict_blocklist import (  # noqa: E402
    Contents,
    Decision,
    Index,
    Notice,
    Query,
    Scope,
    decide,
    parse_document,
    parse_time,
)

AT = "2027-01-15T09:00:00Z"  # one hour after the helpers' default `from`
LATER = "2027-02-01T00:00:00Z"


def contents(*entries: Dict[str, Any], exemptions: Any = None) -> Contents:
    doc = parse_document(json.dumps(document(entries, exemptions=exemptions)))
    return Contents(doc.entries, doc.exemptions, doc.revocations)


def ask(loaded: Contents, query: Query, at: str = AT) -> Decision:
    """The linear answer, checked against the index's (also with the entries reversed)."""
    linear = decide(loaded, query, at)
    backwards = Contents(tuple(reversed(loaded.entries)), loaded.exemptions, loaded.revocations)
    for indexed in (Index(loaded).decide(query, at), Index(backwards).decide(query, at)):
        if indexed != linear:
            raise AssertionError(f"index {indexed} != linear {linear}")
    return linear


def bans(decision: Decision) -> List[str]:
    return [n.ban for n in decision.notices]


class NoticeTests(unittest.TestCase):
    def test_unrestricted_answer_has_no_notices_key(self) -> None:
        d = ask(contents(user_ban("UserBan/other", {"userId": "2"})), Query(feature="x", user_id="1"))
        self.assertEqual(d.notices, ())
        self.assertEqual(d.to_json(), {"allowed": True})

    def test_feature_block_elsewhere_is_an_active_notice_with_every_field(self) -> None:
        loaded = contents(feature_block(
            "FeatureBlock/chat", {"userId": "1"}, ["chat", "DM"], scopes=[("academy", "madrid")],
            until=LATER, message="No chat", appealInstructions="Reply to the email",
        ))
        d = ask(loaded, Query(feature="publish", user_id="1", scopes=[("academy", "madrid")]))
        self.assertTrue(d.allowed)
        self.assertIsNone(d.ban)
        (notice,) = d.notices
        self.assertEqual(notice, Notice(
            ban="FeatureBlock/chat", mode="FeatureBlock", phase="Active", reason="abuse",
            from_=parse_time("2027-01-15T08:00:00Z"), message="No chat", until=parse_time(LATER),
            features=("chat", "DM"), scopes=(Scope("academy", "madrid"),),
            appeal_instructions="Reply to the email",
        ))
        self.assertEqual(list(notice.to_json()), [
            "ban", "mode", "phase", "reason", "message", "from", "until", "features", "scopes",
            "appealInstructions",
        ])
        # The same block outside its scope: a notice too, even for its own feature.
        d = ask(loaded, Query(feature="chat", user_id="1", scopes=[("academy", "paris")]))
        self.assertEqual((d.allowed, bans(d)), (True, ["FeatureBlock/chat"]))
        # In its scope it answers, and is no notice.
        d = ask(loaded, Query(feature="CHAT", user_id="1", scopes=[("ACADEMY", "madrid")]))
        self.assertEqual((d.allowed, d.ban, d.notices), (False, "FeatureBlock/chat", ()))

    def test_feature_block_without_features_lists_an_empty_list_and_no_scopes(self) -> None:
        d = ask(contents(feature_block("FeatureBlock/none", {"userId": "1"}, [])), Query(feature="x", user_id="1"))
        self.assertEqual(d.to_json()["notices"], [{
            "ban": "FeatureBlock/none", "mode": "FeatureBlock", "phase": "Active", "reason": "abuse",
            "from": "2027-01-15T08:00:00Z", "features": [],
        }])

    def test_user_bans_carry_no_features_or_scopes(self) -> None:
        d = ask(contents(user_ban("UserBan/soon", {"userId": "1"}, frm=LATER)), Query(feature="x", user_id="1"))
        self.assertEqual(d.to_json(), {"allowed": True, "notices": [{
            "ban": "UserBan/soon", "mode": "Suspend", "phase": "Scheduled", "reason": "spam", "from": LATER,
        }]})
        self.assertIsNone(d.notices[0].features)
        # A UserBan without `mode` is a Suspend, as in the decision.
        entry = user_ban("UserBan/bare", {"userId": "1"}, frm=LATER)
        del entry["mode"]
        self.assertEqual(ask(contents(entry), Query(feature="x", user_id="1")).notices[0].mode, "Suspend")

    def test_silence_beside_a_kept_feature_is_a_notice_when_another_entry_answers(self) -> None:
        loaded = contents(
            user_ban("UserBan/quiet", {"userId": "1"}, mode="Silence", message="Silenced"),
            feature_block("FeatureBlock/login", {"userId": "1"}, ["login"]),
        )
        d = ask(loaded, Query(feature="login", user_id="1"))
        self.assertEqual((d.allowed, d.ban, d.content_hidden), (False, "FeatureBlock/login", True))
        self.assertEqual([(n.ban, n.mode, n.phase) for n in d.notices], [("UserBan/quiet", "Silence", "Active")])
        # Alone, the Silence is the answer (allowed, content hidden), never its own notice.
        d = ask(contents(user_ban("UserBan/quiet", {"userId": "1"}, mode="Silence")), Query(feature="read", user_id="1"))
        self.assertEqual((d.allowed, d.ban, d.notices), (True, "UserBan/quiet", ()))

    def test_losing_denials_and_ended_entries_are_not_notices(self) -> None:
        loaded = contents(
            user_ban("UserBan/suspend", {"userId": "1"}),
            user_ban("UserBan/quiet", {"userId": "1"}, mode="Silence"),
            feature_block("FeatureBlock/publish", {"userId": "1"}, ["*"]),
            user_ban("UserBan/ended", {"userId": "1"}, frm="2027-01-01T00:00:00Z", until="2027-01-15T08:59:59Z"),
            user_ban("UserBan/other-user", {"userId": "2"}, frm=LATER),
        )
        d = ask(loaded, Query(feature="publish", user_id="1"))
        self.assertEqual((d.ban, d.notices), ("UserBan/suspend", ()))
        # An entry ending exactly now has ended (`until` exclusive); one starting now is in force.
        d = ask(contents(
            feature_block("FeatureBlock/a", {"userId": "1"}, ["chat"], until=AT),
            feature_block("FeatureBlock/b", {"userId": "1"}, ["chat"], frm=AT),
        ), Query(feature="x", user_id="1"))
        self.assertEqual([(n.ban, n.phase) for n in d.notices], [("FeatureBlock/b", "Active")])

    def test_scheduled_entries_are_notices_whatever_they_would_deny(self) -> None:
        loaded = contents(
            user_ban("UserBan/soon", {"userId": "1"}, frm=LATER),
            feature_block("FeatureBlock/soon", {"userId": "1"}, ["publish"], frm=LATER),
            user_ban("UserBan/now", {"userId": "1"}),
        )
        d = ask(loaded, Query(feature="publish", user_id="1"))
        self.assertEqual(d.ban, "UserBan/now")
        self.assertEqual([(n.ban, n.phase) for n in d.notices],
                         [("FeatureBlock/soon", "Scheduled"), ("UserBan/soon", "Scheduled")])

    def test_order_is_from_then_id_in_byte_order(self) -> None:
        loaded = contents(
            feature_block("FeatureBlock/z", {"userId": "1"}, ["chat"], frm="2027-01-15T07:00:00Z"),
            feature_block("FeatureBlock/é", {"userId": "1"}, ["chat"]),
            feature_block("FeatureBlock/d-2", {"userId": "1"}, ["chat"]),
            feature_block("FeatureBlock/d-10", {"userId": "1"}, ["chat"]),
            feature_block("FeatureBlock/D", {"userId": "1"}, ["chat"]),
            user_ban("UserBan/a", {"username": "one"}, frm=LATER),
            feature_block("FeatureBlock/later", {"userId": "1"}, ["chat"], frm="2027-01-20T00:00:00Z"),
        )
        d = ask(loaded, Query(feature="x", user_id="1", username="one"))
        self.assertEqual(bans(d), [
            "FeatureBlock/z", "FeatureBlock/D", "FeatureBlock/d-10", "FeatureBlock/d-2", "FeatureBlock/é",
            "FeatureBlock/later", "UserBan/a",
        ])
        self.assertEqual(sorted(bans(d)[1:5], key=lambda s: s.encode()), bans(d)[1:5])

    def test_every_identifier_counts_and_exemptions_shield_ip_entries(self) -> None:
        loaded = contents(
            feature_block("FeatureBlock/net", {"ip": "10.0.0.0/8"}, ["chat"]),
            feature_block("FeatureBlock/net-soon", {"ip": "10.0.0.0/8"}, ["chat"], frm=LATER),
            feature_block("FeatureBlock/user", {"userId": "1"}, ["chat"]),
            exemptions=[{"id": "BanExemption/office", "subject": {"ip": "10.1.2.0/24"}}],
        )
        d = ask(loaded, Query(feature="x", user_id="1", ip="10.9.9.9"))
        self.assertEqual(bans(d), ["FeatureBlock/net", "FeatureBlock/user", "FeatureBlock/net-soon"])
        d = ask(loaded, Query(feature="x", user_id="1", ip="::ffff:10.1.2.3"))
        self.assertEqual(bans(d), ["FeatureBlock/user"])

    def test_a_decision_with_notices_is_still_a_plain_value(self) -> None:
        d = ask(contents(feature_block("FeatureBlock/chat", {"userId": "1"}, ["chat"])), Query(feature="x", user_id="1"))
        self.assertEqual(hash(d), hash(ask(contents(feature_block("FeatureBlock/chat", {"userId": "1"}, ["chat"])),
                                           Query(feature="x", user_id="1"))))
        self.assertIsInstance(d.notices, tuple)
        self.assertEqual(json.loads(d.dumps()), d.to_json())


if __name__ == "__main__":
    unittest.main()
