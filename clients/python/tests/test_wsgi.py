"""The WSGI middleware and the content-hiding helper, with a fake start_response."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import tempfile
import unittest
from wsgiref.util import setup_testing_defaults

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import document, feature_block, user_ban, write_plain  # noqa: E402

from interdict_blocklist import Blocklist, Query, parse_time  # noqa: E402
from interdict_blocklist.wsgi import (  # noqa: E402
    DECISION_KEY,
    BlocklistMiddleware,
    author_hidden,
    hide_silenced_authors,
    parse_params,
)

NOW = parse_time("2027-01-15T09:00:00Z")


class FakeStartResponse:
    def __init__(self):
        self.calls = []

    def __call__(self, status, headers, exc_info=None):
        self.calls.append((status, headers))
        return lambda data: None

    @property
    def status(self):
        return self.calls[-1][0]

    @property
    def headers(self):
        return dict(self.calls[-1][1])


def inner_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    environ["test.reached"] = True
    return [b"ok"]


def request(app, path="/", method="GET", query="", remote="198.51.100.1"):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, REQUEST_METHOD=method, QUERY_STRING=query, REMOTE_ADDR=remote)
    start = FakeStartResponse()
    body = b"".join(app(environ, start))
    return start, body, environ


class WsgiTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        write_plain(cls._tmp.name, {"blocklist.json": document([
            user_ban("UserBan/spammer", {"userId": "666"}, message="You are suspended for spam",
                     appealInstructions="Write to appeals@example.org"),
            user_ban("UserBan/quiet", {"username": "mallory"}, mode="Silence", message="Silenced"),
            user_ban("UserBan/quiet-id", {"userId": "77"}, mode="Silence"),
            feature_block("FeatureBlock/no-message", {"userId": "5"}, ["publish"]),
            user_ban("UserBan/net", {"ip": "203.0.113.0/24"}),
        ])})
        cls.blocklist = Blocklist(cls._tmp.name, background=False)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def app(self):
        def extract(environ):
            if environ["REQUEST_METHOD"] != "POST":
                return None
            user = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p).get("user")
            return Query(feature="publish", user_id=user, ip=environ.get("REMOTE_ADDR"))

        return BlocklistMiddleware(inner_app, self.blocklist, extract, clock=lambda: NOW)

    def test_denied_gets_403_with_the_ban_message(self):
        start, body, environ = request(self.app(), "/posts", "POST", "user=666")
        self.assertEqual(start.status, "403 Forbidden")
        self.assertEqual(start.headers["Content-Type"], "application/json; charset=utf-8")
        self.assertEqual(int(start.headers["Content-Length"]), len(body))
        data = json.loads(body)
        self.assertEqual(data["message"], "You are suspended for spam")
        self.assertEqual(data["ban"], "UserBan/spammer")
        self.assertEqual(data["mode"], "Suspend")
        self.assertEqual(data["appealInstructions"], "Write to appeals@example.org")
        self.assertIs(data["allowed"], False)
        self.assertNotIn("test.reached", environ)

    def test_default_message_when_the_ban_has_none(self):
        start, body, _ = request(self.app(), "/posts", "POST", "user=5")
        self.assertEqual(start.status, "403 Forbidden")
        self.assertEqual(json.loads(body)["message"], "You are not allowed to do this.")

    def test_client_address_counts(self):
        start, body, _ = request(self.app(), "/posts", "POST", "user=1", remote="203.0.113.50")
        self.assertEqual(start.status, "403 Forbidden")
        self.assertEqual(json.loads(body)["ban"], "UserBan/net")

    def test_allowed_passes_through_with_the_decision(self):
        start, body, environ = request(self.app(), "/posts", "POST", "user=1")
        self.assertEqual((start.status, body), ("200 OK", b"ok"))
        self.assertTrue(environ[DECISION_KEY].allowed)
        self.assertTrue(environ["test.reached"])

    def test_unchecked_requests_pass(self):
        start, body, environ = request(self.app(), "/", "GET", "user=666")
        self.assertEqual((start.status, body), ("200 OK", b"ok"))
        self.assertNotIn(DECISION_KEY, environ)

    def test_silenced_author_content_is_404(self):
        def author(environ):
            name = environ["PATH_INFO"].strip("/").split("/")[1]
            return Query(feature="read", username=name)

        route = hide_silenced_authors(inner_app, self.blocklist, author, clock=lambda: NOW)
        start, body, _ = request(route, "/authors/mallory/posts")
        self.assertEqual(start.status, "404 Not Found")
        self.assertEqual(json.loads(body), {"error": "not found"})
        start, body, _ = request(route, "/authors/alice/posts")
        self.assertEqual((start.status, body), ("200 OK", b"ok"))
        # Suspended is not "silenced": the format hides content of silenced subjects only.
        self.assertFalse(author_hidden(self.blocklist, Query(feature="read", user_id="666"), NOW))
        self.assertTrue(author_hidden(self.blocklist, Query(feature="read", user_id="77"), NOW))
        # Before the silence starts nothing is hidden.
        self.assertFalse(author_hidden(self.blocklist, Query(feature="read", user_id="77"), "2027-01-15T07:59:59Z"))

    def test_silenced_subject_publishing_is_403_and_login_passes_with_content_hidden(self):
        start, body, _ = request(self.app(), "/posts", "POST", "user=77")
        self.assertEqual(start.status, "403 Forbidden")
        self.assertEqual(json.loads(body)["contentHidden"], True)
        login = BlocklistMiddleware(inner_app, self.blocklist, lambda e: Query(feature="login", user_id="77"),
                                    clock=lambda: NOW)
        start, body, environ = request(login, "/login", "POST")
        self.assertEqual(start.status, "200 OK")
        self.assertTrue(environ[DECISION_KEY].allowed)
        self.assertTrue(environ[DECISION_KEY].content_hidden)


class ParamsTests(unittest.TestCase):
    """The same query-string rules as `interdict serve` (src/serve/params.rs)."""

    def test_parses_every_parameter(self):
        query, at = parse_params(
            "feature=mentorship-service&user=124&ip=%3A%3Affff%3A10.0.0.1"
            "&scope=academy%3Ddowntown-miami&scope=cohort=c1&at=2030-01-02T00:00:00Z"
        )
        self.assertEqual(query.feature, "mentorship-service")
        self.assertEqual(query.user_id, "124")
        self.assertEqual(len(query.scopes), 2)
        self.assertEqual(query.ip, ipaddress.ip_address("::ffff:10.0.0.1"))
        self.assertEqual(at, parse_time("2030-01-02T00:00:00Z"))

    def test_malformed_queries_say_what_is_wrong(self):
        cases = [
            ("user=1", "missing parameter feature"),
            ("feature=x", "no subject"),
            ("feature=x&userid=1", 'unknown parameter "userid"'),
            ("feature=x&ip=999.1.1.1", 'ip "999.1.1.1"'),
            ("feature=x&user=1&scope=academy", "KIND=NAME"),
            ("feature=x&user=1&at=tomorrow", "RFC 3339"),
            ("feature=x&user=1&user=2", "given twice"),
        ]
        for text, expected in cases:
            with self.subTest(text), self.assertRaises(ValueError) as caught:
                parse_params(text)
            self.assertIn(expected, str(caught.exception))
        self.assertEqual(parse_params("user=1", feature_required=False)[0].feature, "")


if __name__ == "__main__":
    unittest.main()
