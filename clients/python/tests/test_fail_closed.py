"""Before its first copy loads a Blocklist has no answer (fail closed) unless built
with fail_open=True; every answer reaches on_decision, and DecisionCounter counts
them. The WSGI helpers turn "no answer" into 503."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import unittest
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import KubeletDir, document, feature_block, user_ban  # noqa: E402
from tests.test_wsgi import inner_app, request  # noqa: E402

from interdict_blocklist import (  # noqa: E402
    Blocklist,
    BlocklistError,
    BlocklistUnavailable,
    Decision,
    DecisionCounter,
    Query,
)
from interdict_blocklist.wsgi import DECISION_KEY, BlocklistMiddleware, hide_silenced_authors  # noqa: E402

AT = "2027-01-15T09:00:00Z"


def publish_query(environ) -> Optional[Query]:
    return Query(feature="publish", user_id=environ["QUERY_STRING"].partition("=")[2])


class FailClosedTests(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self._tmp.name, "mount")  # not there yet, as before kubelet mounts it

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def publish(self) -> KubeletDir:
        os.mkdir(self.dir)
        kubelet = KubeletDir(self.dir)
        kubelet.publish({"blocklist.json": document([
            user_ban("UserBan/one", {"userId": "1"}, reason="spam"),
            feature_block("FeatureBlock/chat", {"userId": "2"}, ["chat"]),
        ])})
        return kubelet

    def test_no_answer_before_the_first_copy_then_answers(self) -> None:
        bl = Blocklist(self.dir, background=False)
        self.assertFalse(bl.fail_open)
        with self.assertRaises(BlocklistUnavailable) as caught:
            bl.decide(Query(feature="publish", user_id="1"), AT)
        error = caught.exception
        self.assertIsInstance(error, BlocklistError)
        self.assertEqual((error.path, error.kind), (self.dir, "dir"))
        self.assertIn("no copy loaded yet", str(error))
        self.assertIn("cannot read blocklist directory", str(error))
        self.publish()
        self.assertTrue(bl.reload())
        self.assertFalse(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)
        self.assertTrue(bl.decide(Query(feature="publish", user_id="3"), AT).allowed)

    def test_polling_on_access_loads_the_first_copy_before_answering(self) -> None:
        bl = Blocklist(self.dir, poll_interval=0, background=False)
        with self.assertRaises(BlocklistUnavailable):
            bl.decide(Query(feature="publish", user_id="1"), AT)
        self.publish()
        self.assertFalse(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)

    def test_a_refused_copy_after_a_good_one_keeps_answering(self) -> None:
        kubelet = self.publish()
        bl = Blocklist(self.dir, background=False)
        kubelet.publish({"blocklist.json": "{broken"})
        with self.assertLogs("interdict_blocklist", "WARNING"), self.assertRaises(BlocklistError) as caught:
            bl.reload()
        self.assertNotIsInstance(caught.exception, BlocklistUnavailable)
        self.assertFalse(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)

    def test_fail_open_answers_as_if_nobody_were_banned(self) -> None:
        bl = Blocklist(self.dir, background=False, fail_open=True)
        self.assertEqual(bl.decide(Query(feature="publish", user_id="1"), AT), Decision(allowed=True))
        self.assertEqual(bl.blocks_for(user_id="1", now=AT), [])
        self.assertIsNone(bl.silence_for(Query(feature="read", user_id="1"), AT))
        self.publish()
        bl.reload()
        self.assertFalse(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)

    def test_on_decision_sees_every_answer_and_none_when_unavailable(self) -> None:
        seen: List[Optional[Decision]] = []
        bl = Blocklist(self.dir, background=False, on_decision=seen.append)
        with self.assertRaises(BlocklistUnavailable):
            bl.decide(Query(feature="publish", user_id="1"), AT)
        self.assertEqual(seen, [None])
        self.publish()
        bl.reload()
        denied = bl.decide(Query(feature="publish", user_id="1"), AT)
        allowed = bl.decide(Query(feature="publish", user_id="2"), AT)
        self.assertEqual(seen, [None, denied, allowed])
        self.assertIs(seen[1], denied)
        # Only decide reports: the other questions are not decisions.
        bl.silence_for(Query(feature="read", user_id="1"), AT)
        bl.blocks_for(user_id="1", now=AT)
        self.assertEqual(len(seen), 3)

    def test_a_failing_hook_is_logged_and_never_changes_the_answer(self) -> None:
        def broken(decision: Optional[Decision]) -> None:
            raise RuntimeError("metrics backend down")

        self.publish()
        bl = Blocklist(self.dir, background=False, on_decision=broken)
        with self.assertLogs("interdict_blocklist", "ERROR") as logs:
            self.assertFalse(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)
        self.assertIn("on_decision", logs.output[0])
        self.assertIn("metrics backend down", logs.output[0])


class DecisionCounterTests(unittest.TestCase):
    def test_counts_by_outcome_mode_and_reason_only(self) -> None:
        counter = DecisionCounter()
        with tempfile.TemporaryDirectory() as tmp:
            mount = os.path.join(tmp, "mount")
            bl = Blocklist(mount, background=False, on_decision=counter)
            with self.assertRaises(BlocklistUnavailable):
                bl.decide(Query(feature="publish", user_id="1"), AT)
            os.mkdir(mount)
            KubeletDir(mount).publish({"blocklist.json": document([
                user_ban("UserBan/one", {"userId": "1"}, reason="spam"),
                user_ban("UserBan/quiet", {"userId": "2"}, mode="Silence", reason="flood"),
            ])})
            bl.reload()
            for user, feature in [("1", "publish"), ("1", "login"), ("2", "publish"), ("2", "login"),
                                  ("3", "publish"), ("4", "publish")]:
                bl.decide(Query(feature=feature, user_id=user, email=f"user{user}@example.org"), AT)
        self.assertEqual(counter.snapshot(), {
            ("unavailable", "", ""): 1,
            ("denied", "Suspend", "spam"): 2,
            ("denied", "Silence", "flood"): 1,
            ("allowed", "Silence", "flood"): 1,
            ("allowed", "", ""): 2,
        })
        # Nothing about the subject, in the keys or anywhere else.
        self.assertNotIn("example.org", repr(counter.snapshot()))
        # A snapshot is a copy.
        counter.snapshot().clear()
        self.assertEqual(sum(counter.snapshot().values()), 7)

    def test_fail_open_answers_count_as_unavailable(self) -> None:
        counter = DecisionCounter()
        with tempfile.TemporaryDirectory() as tmp:
            bl = Blocklist(os.path.join(tmp, "missing"), background=False, fail_open=True, on_decision=counter)
            self.assertTrue(bl.decide(Query(feature="publish", user_id="1"), AT).allowed)
        self.assertEqual(counter.snapshot(), {("unavailable", "", ""): 1})

    def test_thread_safe(self) -> None:
        counter = DecisionCounter()
        decision = Decision(allowed=False, ban="UserBan/x", mode="Suspend", reason="spam")

        def work() -> None:
            for _ in range(5000):
                counter.record(decision)
                counter.record(None)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(counter.snapshot(), {("denied", "Suspend", "spam"): 20000, ("unavailable", "", ""): 20000})


class WsgiUnavailableTests(unittest.TestCase):
    def test_checked_requests_get_503_until_a_copy_loads(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            bl = Blocklist(tmp, background=False)  # a directory without any document yet
            app = BlocklistMiddleware(inner_app, bl, publish_query)
            start, body, environ = request(app, "/posts", "POST", "user=1")
            self.assertEqual(start.status, "503 Service Unavailable")
            self.assertEqual(start.headers["Content-Type"], "application/json; charset=utf-8")
            self.assertEqual(int(start.headers["Content-Length"]), len(body))
            self.assertEqual(json.loads(body), {
                "error": "unavailable", "message": "The blocklist is not loaded yet; try again shortly.",
            })
            self.assertNotIn("test.reached", environ)
            self.assertNotIn(DECISION_KEY, environ)
            # The message can be the application's; unchecked requests are not concerned.
            app = BlocklistMiddleware(inner_app, bl, lambda e: None, unavailable_message="Later")
            self.assertEqual(request(app, "/")[0].status, "200 OK")
            app = BlocklistMiddleware(inner_app, bl, publish_query, unavailable_message="Later")
            self.assertEqual(json.loads(request(app, "/posts", "POST", "user=1")[1])["message"], "Later")
            # Content of possibly silenced authors is not shown for want of data either.
            route = hide_silenced_authors(inner_app, bl, lambda e: Query(feature="read", username="mallory"))
            start, body, _ = request(route, "/authors/mallory/posts")
            self.assertEqual((start.status, json.loads(body)["error"]), ("503 Service Unavailable", "unavailable"))

    def test_fail_open_lets_requests_through(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            bl = Blocklist(tmp, background=False, fail_open=True)
            start, body, environ = request(BlocklistMiddleware(inner_app, bl, publish_query), "/posts", "POST", "user=1")
            self.assertEqual((start.status, body), ("200 OK", b"ok"))
            self.assertEqual(environ[DECISION_KEY], Decision(allowed=True))
            route = hide_silenced_authors(inner_app, bl, lambda e: Query(feature="read", username="mallory"))
            self.assertEqual(request(route, "/authors/mallory/posts")[0].status, "200 OK")


if __name__ == "__main__":
    unittest.main()
