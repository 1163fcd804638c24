"""The ASGI middleware under a real server: uvicorn serving a Starlette application
on a free loopback port, requests sent over HTTP with urllib. WebSocket handshakes
are driven in process (the server would need a WebSocket library the tools leave out).

uvicorn and starlette come from hack/python-tools.sh's venv, which `make python-test`
runs the suite with (and sets INTERDICT_REQUIRE_TOOLS=1, so that they cannot be
missing unnoticed); elsewhere these tests are skipped when they are not installed."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest
import unittest.mock
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import KubeletDir, document, feature_block, user_ban  # noqa: E402

from interdict_blocklist import Blocklist, Decision, DecisionCounter, Query, parse_time  # noqa: E402
from interdict_blocklist.asgi import (  # noqa: E402
    DECISION_KEY,
    BlocklistMiddleware,
    hide_silenced_authors,
)

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route
except ImportError:
    if os.environ.get("INTERDICT_REQUIRE_TOOLS") == "1":
        raise
    uvicorn = None

NOW = parse_time("2027-01-15T09:00:00Z")
UNAVAILABLE = {"error": "unavailable", "message": "The blocklist is not loaded yet; try again shortly."}


def user_of(scope: Dict[str, Any]) -> Optional[str]:
    values = parse_qs(scope.get("query_string", b"").decode()).get("user")
    return values[0] if values else None


def who_publishes(scope: Dict[str, Any]) -> Optional[Query]:
    """Only POSTs are checked, by the `user` parameter and the client's address."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    client = scope.get("client")
    return Query(feature="publish", user_id=user_of(scope), ip=client[0] if client else None)


async def who_chats(scope: Dict[str, Any]) -> Optional[Query]:
    """A coroutine, as an application looking a session up would write it."""
    await asyncio.sleep(0)
    user = user_of(scope)
    return Query(feature="chat", user_id=user) if user else None


def decision_json(decision: Optional[Decision]) -> Optional[Dict[str, Any]]:
    return None if decision is None else decision.to_json()


async def publish(request: "Request") -> "Response":
    """Shows what the middleware gave the application."""
    state = getattr(request.state, "interdict_decision", None)
    return JSONResponse(
        {
            "published": True,
            "decision": decision_json(state),
            "sameInScope": request.scope.get(DECISION_KEY) is state,
        },
        status_code=201,
    )


async def home(request: "Request") -> "Response":
    return JSONResponse({"checked": DECISION_KEY in request.scope})


async def author_posts(request: "Request") -> "Response":
    return JSONResponse({"author": request.path_params["name"], "posts": []})


def author_of(scope: Dict[str, Any]) -> Optional[Query]:
    # The path under the application's mount point, as Starlette routes it.
    parts = scope["path"][len(scope.get("root_path", "")):].strip("/").split("/")
    return Query(feature="read", username=parts[1]) if len(parts) == 3 and parts[0] == "authors" else None


def guarded(blocklist: Blocklist) -> "Starlette":
    """A Starlette application with the middleware installed the documented way."""
    app = Starlette(routes=[
        Route("/", home),
        Route("/posts", publish, methods=["POST"]),
        Route("/authors/{name}/posts", author_posts),
    ])
    app.add_middleware(BlocklistMiddleware, blocklist=blocklist, extract=who_publishes, clock=lambda: NOW)
    return app


class Server:
    """uvicorn in a thread on a socket bound here, so the port is free and known."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def call(self, path: str, method: str = "GET") -> Tuple[int, Dict[str, str], Any]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method, data=b"{}" if method == "POST" else None
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())


@unittest.skipIf(uvicorn is None, "uvicorn and starlette are not installed (hack/python-tools.sh installs them)")
class AsgiServerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        loaded_dir = os.path.join(cls._tmp.name, "loaded")
        os.mkdir(loaded_dir)
        KubeletDir(loaded_dir).publish({"blocklist.json": document([
            user_ban("UserBan/spammer", {"userId": "666"}, message="You are suspended for spam",
                     appealInstructions="Write to appeals@example.org"),
            user_ban("UserBan/net", {"ip": "127.0.0.0/8"}, frm="2027-03-01T00:00:00Z"),
            feature_block("FeatureBlock/chat", {"userId": "5"}, ["chat"], message="No chat for now"),
            user_ban("UserBan/quiet", {"username": "mallory"}, mode="Silence"),
        ])})
        cls.counter = DecisionCounter()
        cls.blocklist = Blocklist(loaded_dir, poll_interval=0.05, on_decision=cls.counter)
        cls.empty_dir = os.path.join(cls._tmp.name, "empty")
        os.mkdir(cls.empty_dir)
        cls.closed = Blocklist(cls.empty_dir, poll_interval=0.05)
        cls.open = Blocklist(cls.empty_dir, poll_interval=0.05, fail_open=True)

        chat = BlocklistMiddleware(guarded(cls.blocklist), cls.blocklist, who_chats, clock=lambda: NOW)
        authors = hide_silenced_authors(guarded(cls.blocklist), cls.blocklist, author_of, clock=lambda: NOW)
        app = Starlette(routes=[
            Mount("/closed", app=guarded(cls.closed)),
            Mount("/open", app=guarded(cls.open)),
            Mount("/chat", app=chat),
            Mount("/content", app=authors),
            Mount("/", app=guarded(cls.blocklist)),
        ])
        cls.server = Server(app).__enter__()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.__exit__(None, None, None)
        for blocklist in (cls.blocklist, cls.closed, cls.open):
            blocklist.close()
        cls._tmp.cleanup()

    def test_allowed_request_reaches_the_app_with_the_decision_and_its_notices(self) -> None:
        status, _, body = self.server.call("/posts?user=5", "POST")
        self.assertEqual(status, 201)
        self.assertTrue(body["sameInScope"])
        decision = body["decision"]
        self.assertTrue(decision["allowed"])
        # The chat block and the scheduled ban on the client's network, for a banner.
        self.assertEqual([(n["ban"], n["phase"]) for n in decision["notices"]],
                         [("FeatureBlock/chat", "Active"), ("UserBan/net", "Scheduled")])
        self.assertEqual(decision["notices"][0]["message"], "No chat for now")

    def test_denied_request_gets_403_with_the_decision(self) -> None:
        status, headers, body = self.server.call("/posts?user=666", "POST")
        self.assertEqual(status, 403)
        self.assertEqual(headers["content-type"], "application/json; charset=utf-8")
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertEqual(body, {
            "error": "blocked", "allowed": False, "ban": "UserBan/spammer", "mode": "Suspend", "reason": "spam",
            "message": "You are suspended for spam", "from": "2027-01-15T08:00:00Z",
            "appealInstructions": "Write to appeals@example.org",
            "notices": [{"ban": "UserBan/net", "mode": "Suspend", "phase": "Scheduled", "reason": "spam",
                         "from": "2027-03-01T00:00:00Z"}],
        })

    def test_unchecked_requests_pass_without_a_decision(self) -> None:
        self.assertEqual(self.server.call("/?user=666"), (200, unittest.mock.ANY, {"checked": False}))

    def test_no_blocklist_yet_is_503_unless_fail_open(self) -> None:
        status, headers, body = self.server.call("/closed/posts?user=666", "POST")
        self.assertEqual((status, body), (503, UNAVAILABLE))
        self.assertEqual(headers["content-type"], "application/json; charset=utf-8")
        status, _, body = self.server.call("/open/posts?user=666", "POST")
        self.assertEqual((status, body["decision"]), (201, {"allowed": True}))
        self.assertEqual(self.server.call("/closed/?user=666")[0], 200)  # not checked: not refused

    def test_async_extract(self) -> None:
        self.assertEqual(self.server.call("/chat/?user=5")[2]["message"], "No chat for now")
        self.assertEqual(self.server.call("/chat/?user=6")[0], 200)
        self.assertEqual(self.server.call("/chat/")[0], 200)

    def test_silenced_authors_content_is_404(self) -> None:
        self.assertEqual(self.server.call("/content/authors/mallory/posts"), (404, unittest.mock.ANY,
                                                                               {"error": "not found"}))
        self.assertEqual(self.server.call("/content/authors/alice/posts")[2], {"author": "alice", "posts": []})

    def test_decisions_are_counted(self) -> None:
        before = self.counter.snapshot()
        self.server.call("/posts?user=666", "POST")
        after = self.counter.snapshot()
        key = ("denied", "Suspend", "spam")
        self.assertEqual(after.get(key, 0) - before.get(key, 0), 1)


@unittest.skipIf(uvicorn is None, "uvicorn and starlette are not installed (hack/python-tools.sh installs them)")
class AsgiFirstLoadTests(unittest.TestCase):
    def test_503_until_the_first_copy_then_decisions(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mount = os.path.join(tmp, "mount")
            blocklist = Blocklist(mount, poll_interval=0.02)
            try:
                with Server(guarded(blocklist)) as server:
                    self.assertEqual(server.call("/posts?user=666", "POST")[::2], (503, UNAVAILABLE))
                    os.mkdir(mount)
                    KubeletDir(mount).publish({"blocklist.json": document([
                        user_ban("UserBan/spammer", {"userId": "666"}),
                    ])})
                    deadline = time.monotonic() + 10
                    while server.call("/posts?user=666", "POST")[0] == 503 and time.monotonic() < deadline:
                        time.sleep(0.02)
                    self.assertEqual(server.call("/posts?user=666", "POST")[0], 403)
                    self.assertEqual(server.call("/posts?user=1", "POST")[0], 201)
            finally:
                blocklist.close()


class WebSocketTests(unittest.TestCase):
    """Handshakes, driven in process: refused with the HTTP answer where the server
    offers the `websocket.http.response` extension, else closed before acceptance."""

    def handshake(self, middleware: Any, user: str, extensions: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        sent: List[Dict[str, Any]] = []
        reached: List[Dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            reached.append(scope)
            await send({"type": "websocket.accept"})

        async def receive() -> Dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: Dict[str, Any]) -> None:
            sent.append(dict(message))

        scope = {"type": "websocket", "path": "/ws", "query_string": f"user={user}".encode(), "headers": []}
        if extensions is not None:
            scope["extensions"] = extensions
        asyncio.run(middleware(app)(scope, receive, send))
        if reached:
            self.assertIn(DECISION_KEY, reached[0])
        return sent

    def test_websocket_handshakes(self) -> None:
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as empty:
            KubeletDir(tmp).publish({"blocklist.json": document([
                feature_block("FeatureBlock/chat", {"userId": "5"}, ["chat"], message="No chat"),
            ])})
            loaded = Blocklist(tmp, background=False)
            unloaded = Blocklist(empty, background=False)

            def guard(blocklist: Blocklist) -> Any:
                return lambda app: BlocklistMiddleware(app, blocklist, who_chats, clock=lambda: NOW)

            self.assertEqual(self.handshake(guard(loaded), "6"), [{"type": "websocket.accept"}])
            self.assertEqual(self.handshake(guard(loaded), "5"), [{"type": "websocket.close", "code": 1008}])
            self.assertEqual(self.handshake(guard(unloaded), "5"), [{"type": "websocket.close", "code": 1013}])
            start, body = self.handshake(guard(loaded), "5", {"websocket.http.response": {}})
            self.assertEqual((start["type"], start["status"]), ("websocket.http.response.start", 403))
            self.assertIn((b"content-type", b"application/json; charset=utf-8"), start["headers"])
            self.assertEqual(json.loads(body["body"])["message"], "No chat")
            start, body = self.handshake(guard(unloaded), "5", {"websocket.http.response": {}})
            self.assertEqual((start["status"], json.loads(body["body"])), (503, UNAVAILABLE))

    def test_lifespan_and_other_types_pass_untouched(self) -> None:
        seen: List[Any] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope)

        def extract(scope: Any) -> Optional[Query]:
            raise AssertionError("never asked about a lifespan scope")

        scope = {"type": "lifespan"}
        with tempfile.TemporaryDirectory() as empty:
            middleware = BlocklistMiddleware(app, Blocklist(empty, background=False), extract)
            asyncio.run(middleware(scope, None, None))
        self.assertEqual(seen, [scope])
        self.assertIs(seen[0], scope)


if __name__ == "__main__":
    unittest.main()
