"""Hot reload on a directory laid out and updated exactly like a kubelet ConfigMap mount."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import KubeletDir, document, feature_block, user_ban  # noqa: E402

from interdict_blocklist import Blocklist, BlocklistError, BlocklistUnavailable, Query, parse_time  # noqa: E402

AT = "2027-01-15T09:00:00Z"
PLAIN_LISTS = {"suspended-user-ids.txt": "", "silenced-user-ids.txt": ""}


def files(*entries, **extra):
    out = {"blocklist.json": document(entries)}
    out.update(PLAIN_LISTS)
    out.update(extra)
    return out


def ask(blocklist, user, feature="publish"):
    return blocklist.decide(Query(feature=feature, user_id=user), AT)


class KubeletLayoutTests(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.kubelet = KubeletDir(self.dir)
        self.kubelet.publish(files(user_ban("UserBan/one", {"userId": "1"}, message="first")))

    def tearDown(self):
        self._tmp.cleanup()

    def test_layout_is_kubelets(self):
        names = sorted(os.listdir(self.dir))
        self.assertIn("..data", names)
        self.assertTrue(any(n.startswith("..2026_") for n in names))
        self.assertTrue(os.path.islink(os.path.join(self.dir, "blocklist.json")))
        self.assertEqual(os.readlink(os.path.join(self.dir, "blocklist.json")), "..data/blocklist.json")

    def test_change_is_picked_up_then_bad_copy_kept_out_then_good_copy_picked_up(self):
        bl = Blocklist(self.dir, poll_interval=3600, background=False)
        self.assertFalse(ask(bl, "1").allowed)
        self.assertTrue(ask(bl, "2").allowed)
        self.assertEqual((bl.loaded, bl.reloads, bl.reload_failures, bl.last_error), (True, 1, 0, None))
        first_loaded_at = bl.loaded_at

        self.assertFalse(bl.reload(), "nothing changed")
        self.assertEqual(bl.reloads, 1)

        # 1. A change: user 1 lifted, user 2 suspended.
        self.kubelet.publish(files(user_ban("UserBan/two", {"userId": "2"})))
        self.assertTrue(bl.reload())
        self.assertTrue(ask(bl, "1").allowed)
        self.assertEqual(ask(bl, "2").ban, "UserBan/two")
        self.assertEqual(bl.reloads, 2)
        self.assertGreaterEqual(bl.loaded_at, first_loaded_at)

        # 2. A malformed copy: previous decisions stay, the failure is counted once and logged.
        loaded_at = bl.loaded_at
        bad = files()
        bad["blocklist.json"] = '{"format":"interdict.dev/blocklist/v1","entries":[{'
        self.kubelet.publish(bad)
        with self.assertLogs("interdict_blocklist", "WARNING") as logs, \
                self.assertRaises(BlocklistError) as caught:
            bl.reload()
        self.assertIn("blocklist.json", str(caught.exception))
        self.assertIn("blocklist.json", logs.output[0])
        self.assertEqual(ask(bl, "2").ban, "UserBan/two")
        self.assertTrue(ask(bl, "1").allowed)
        self.assertEqual(bl.reload_failures, 1)
        self.assertIn("blocklist.json", bl.last_error)
        self.assertEqual(bl.loaded_at, loaded_at)
        self.assertTrue(bl.loaded)
        self.assertFalse(bl.reload(), "the same bad copy is not retried")
        self.assertEqual(bl.reload_failures, 1)

        # 3. An unknown format is refused the same way.
        self.kubelet.publish(files(**{"blocklist.json": dict(document([]), format="interdict.dev/blocklist/v2")}))
        with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError):
            bl.reload()
        self.assertEqual(bl.reload_failures, 2)
        self.assertIn("interdict.dev/blocklist/v2", bl.last_error)
        self.assertEqual(ask(bl, "2").ban, "UserBan/two")

        # 4. The following good copy is picked up.
        self.kubelet.publish(files(feature_block("FeatureBlock/three", {"userId": "3"}, ["publish"])))
        self.assertTrue(bl.reload())
        self.assertTrue(ask(bl, "2").allowed)
        self.assertEqual(ask(bl, "3").ban, "FeatureBlock/three")
        self.assertEqual((bl.reloads, bl.reload_failures, bl.last_error), (3, 2, None))
        self.assertEqual((bl.stats()["entries"], bl.stats()["exemptions"], bl.stats()["revocations"]), (1, 0, 0))

    def test_exemptions_come_and_go_with_versions(self):
        bl = Blocklist(self.dir, poll_interval=3600, background=False)
        net = user_ban("UserBan/net", {"ip": "203.0.113.0/24"}, revokeSessionsBefore="2027-01-15T08:00:00Z")
        office = {"id": "BanExemption/office", "subject": {"ip": "203.0.113.7"}}
        query = Query(feature="publish", ip="203.0.113.7")
        self.kubelet.publish({"blocklist.json": document([net], exemptions=[office])})
        self.assertTrue(bl.reload())
        self.assertEqual(bl.decide(query, AT).to_json(), {"allowed": True})
        self.assertEqual((bl.stats()["entries"], bl.stats()["exemptions"]), (1, 1))
        self.kubelet.publish({"blocklist.json": document([net])})
        self.assertTrue(bl.reload())
        self.assertEqual(bl.decide(query, AT).ban, "UserBan/net")
        self.assertEqual(bl.exemptions, ())
        # An ill-formed exemption is left out of the version, which is loaded, like
        # an ill-formed entry; the warning names it.
        self.kubelet.publish({"blocklist.json": document([net], exemptions=[{"id": "BanExemption/x"}, office])})
        with self.assertLogs("interdict_blocklist", "WARNING") as logged:
            self.assertTrue(bl.reload())
        self.assertIn('exemptions[0] "BanExemption/x"', "\n".join(logged.output))
        self.assertEqual(bl.decide(query, AT).to_json(), {"allowed": True})
        self.assertEqual((bl.stats()["exemptions"], bl.stats()["skipped"], bl.reload_failures), (1, 1, 0))
        self.assertEqual([s.item.id for s in bl.skipped], ["BanExemption/x"])

    def test_revocations_come_and_go_with_versions(self):
        bl = Blocklist(self.dir, poll_interval=3600, background=False)
        ended = {"id": "UserBan/ended", "subject": {"userId": "5"}, "before": "2027-01-15T08:00:00Z",
                 "until": "2027-01-16T08:00:00Z"}
        query = Query(feature="publish", user_id="5")
        self.kubelet.publish({"blocklist.json": document([], revocations=[ended])})
        self.assertTrue(bl.reload())
        self.assertEqual(bl.decide(query, AT).to_json(),
                         {"allowed": True, "revokeSessionsBefore": "2027-01-15T08:00:00Z"})
        self.assertEqual((bl.stats()["entries"], bl.stats()["revocations"]), (0, 1))
        self.assertEqual([r.id for r in bl.revocations], ["UserBan/ended"])
        self.assertEqual(bl.contents.revocations, bl.revocations)
        self.kubelet.publish({"blocklist.json": document([])})
        self.assertTrue(bl.reload())
        self.assertEqual(bl.decide(query, AT).to_json(), {"allowed": True})
        self.assertEqual(bl.revocations, ())
        # A revocation without `until` is left out of the version, like an
        # ill-formed entry; the rest of the version is loaded.
        self.kubelet.publish({"blocklist.json": document([], revocations=[dict(ended, until=None), ended])})
        with self.assertLogs("interdict_blocklist", "WARNING") as logged:
            self.assertTrue(bl.reload())
        self.assertIn('revocations[0] "UserBan/ended"', "\n".join(logged.output))
        self.assertEqual((bl.stats()["revocations"], bl.stats()["skipped"]), (1, 1))
        self.assertEqual(bl.reload_failures, 0)
        self.assertEqual(bl.contents.skipped, bl.skipped)

    def test_shards_added_and_removed(self):
        bl = Blocklist(self.dir, poll_interval=3600, background=False)
        first = document([user_ban("UserBan/one", {"userId": "1"})], index=0, count=2)
        shard = document([user_ban("UserBan/other", {"userId": "9"})], index=1, count=2)
        self.kubelet.publish(dict(PLAIN_LISTS, **{"blocklist.json": first, "blocklist-1.json": shard}))
        self.assertTrue(bl.reload())
        self.assertEqual(ask(bl, "9").ban, "UserBan/other")
        self.kubelet.publish(files(user_ban("UserBan/one", {"userId": "1"})))
        self.assertTrue(bl.reload())
        self.assertTrue(ask(bl, "9").allowed)
        self.assertEqual(len(bl.entries), 1)

    def test_incomplete_or_mixed_shard_set_keeps_the_last_good_copy(self):
        bl = Blocklist(self.dir, poll_interval=3600, background=False)
        self.assertFalse(ask(bl, "1").allowed)
        # Shard 0 already rewritten for two shards, shard 1 not mounted yet.
        grown = document([user_ban("UserBan/two", {"userId": "2"})], index=0, count=2)
        self.kubelet.publish(dict(PLAIN_LISTS, **{"blocklist.json": grown}))
        with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError) as caught:
            bl.reload()
        self.assertEqual(caught.exception.kind, "shards")
        self.assertIn("blocklist-1.json", str(caught.exception))
        self.assertEqual(bl.last_error, str(caught.exception))
        self.assertFalse(ask(bl, "1").allowed, "the previous copy stays in force")
        self.assertTrue(ask(bl, "2").allowed)
        # Shard 1 of an older count of 4 beside it: still not one set.
        stale = document([user_ban("UserBan/nine", {"userId": "9"})], index=1, count=4)
        self.kubelet.publish(dict(PLAIN_LISTS, **{"blocklist.json": grown, "blocklist-1.json": stale}))
        with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError):
            bl.reload()
        self.assertEqual(bl.reload_failures, 2)
        self.assertFalse(ask(bl, "1").allowed)
        # The whole set: loaded.
        shard = document([user_ban("UserBan/nine", {"userId": "9"})], index=1, count=2)
        self.kubelet.publish(dict(PLAIN_LISTS, **{"blocklist.json": grown, "blocklist-1.json": shard}))
        self.assertTrue(bl.reload())
        self.assertTrue(ask(bl, "1").allowed)
        self.assertFalse(ask(bl, "2").allowed)
        self.assertFalse(ask(bl, "9").allowed)
        self.assertIsNone(bl.last_error)

    def test_background_thread_picks_up_changes(self):
        with Blocklist(self.dir, poll_interval=0.02) as bl:
            self.kubelet.publish(files(user_ban("UserBan/two", {"userId": "2"})))
            self.assertTrue(wait_for(lambda: not ask(bl, "2").allowed))
            bad = files()
            bad["blocklist.json"] = "{not json"
            with self.assertLogs("interdict_blocklist", "WARNING"):
                self.kubelet.publish(bad)
                self.assertTrue(wait_for(lambda: bl.reload_failures == 1))
            self.assertFalse(ask(bl, "2").allowed)
            self.kubelet.publish(files())
            self.assertTrue(wait_for(lambda: ask(bl, "2").allowed))
            self.assertEqual((bl.reloads, bl.reload_failures), (3, 1))

    def test_poll_on_access_with_minimum_interval(self):
        bl = Blocklist(self.dir, poll_interval=0.2, background=False)
        self.kubelet.publish(files(user_ban("UserBan/two", {"userId": "2"})))
        self.assertTrue(ask(bl, "2").allowed, "checked less than poll_interval ago: not yet")
        time.sleep(0.25)
        self.assertFalse(ask(bl, "2").allowed)
        self.assertEqual(bl.reloads, 2)

    def test_blocks_for_lists_active_and_scheduled(self):
        self.kubelet.publish(files(
            user_ban("UserBan/past", {"userId": "1"}, until="2027-01-15T08:30:00Z"),
            user_ban("UserBan/now", {"email": "sha256:" + "0" * 64}, until="2027-02-01T00:00:00Z"),
            feature_block("FeatureBlock/soon", {"userId": "1"}, ["chat"], frm="2027-03-01T00:00:00Z"),
            feature_block("FeatureBlock/active", {"userId": "1"}, ["chat"]),
            user_ban("UserBan/someone-else", {"userId": "2"}),
        ))
        bl = Blocklist(self.dir, background=False)
        found = bl.blocks_for(user_id="1", now=AT)
        self.assertEqual([e.id for e in found], ["FeatureBlock/active", "FeatureBlock/soon"])
        self.assertEqual([e.state(parse_time(AT)) for e in found], ["active", "scheduled"])
        self.assertEqual(bl.blocks_of(Query(feature="", user_id="1"), now=AT), found)
        self.assertEqual([e.id for e in bl.blocks_for(email="sha256:" + "0" * 64, now=AT)], ["UserBan/now"])

    def test_initial_failure(self):
        bad = files()
        bad["blocklist.json"] = "{"
        self.kubelet.publish(bad)
        with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError) as caught:
            Blocklist(self.dir, background=False, require_initial=True)
        self.assertIn("blocklist.json", str(caught.exception))
        with self.assertLogs("interdict_blocklist", "WARNING"):
            bl = Blocklist(self.dir, background=False)
        self.assertEqual(bl.entries, ())
        self.assertIsNone(bl.loaded_at)
        self.assertEqual((bl.loaded, bl.reloads, bl.reload_failures), (False, 0, 1))
        with self.assertRaises(BlocklistUnavailable) as caught:
            ask(bl, "1")
        self.assertIn("blocklist.json", str(caught.exception))
        self.assertEqual(caught.exception.kind, "document")
        self.kubelet.publish(files(user_ban("UserBan/one", {"userId": "1"})))
        self.assertTrue(bl.reload())
        self.assertFalse(ask(bl, "1").allowed)
        self.assertEqual((bl.loaded, bl.reloads, bl.reload_failures), (True, 1, 1))

    def test_waiting_for_the_mount_is_not_a_failure(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = os.path.join(tmp, "mount")
            bl = Blocklist(missing, background=False)
            self.assertEqual((bl.loaded, bl.reload_failures), (False, 0))
            self.assertIn("cannot read blocklist directory", bl.last_error)
            os.mkdir(missing)
            with self.assertRaises(BlocklistError):
                bl.reload()
            self.assertEqual(bl.reload_failures, 0)
            self.assertIn("no blocklist*.json file", bl.last_error)
            kubelet = KubeletDir(missing)
            kubelet.publish(files(user_ban("UserBan/one", {"userId": "1"})))
            self.assertTrue(bl.reload())
            self.assertEqual((bl.loaded, bl.reloads, bl.reload_failures, bl.last_error), (True, 1, 0, None))
            # Once loaded, a copy without any document is a refused copy.
            kubelet.publish({"suspended-user-ids.txt": ""})
            with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError):
                bl.reload()
            self.assertEqual(bl.reload_failures, 1)
            self.assertFalse(ask(bl, "1").allowed)


class PlainDirectoryTests(unittest.TestCase):
    """Without kubelet (files saved from a ConfigMap, a hostPath...): edits are seen too."""

    def test_file_rewritten_in_place(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "blocklist.json")
            with open(path, "w") as f:
                json.dump(document([user_ban("UserBan/one", {"userId": "1"})]), f)
            bl = Blocklist(tmp, background=False)
            self.assertFalse(ask(bl, "1").allowed)
            with open(path, "w") as f:
                json.dump(document([]), f)
            os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
            self.assertTrue(bl.reload())
            self.assertTrue(ask(bl, "1").allowed)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


if __name__ == "__main__":
    unittest.main()
