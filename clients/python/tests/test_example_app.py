"""examples/app.py as a real process: starts, prints `listening on PORT`, answers over
HTTP, and follows a kubelet-style update of its directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import EXAMPLE_APP, KubeletDir, document, user_ban  # noqa: E402

FAR = "2020-01-01T00:00:00Z"


def data(*entries):
    return {"blocklist.json": document(entries), "suspended-user-ids.txt": ""}


class ExampleAppTests(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.kubelet = KubeletDir(self._tmp.name)
        self.kubelet.publish(data(
            user_ban("UserBan/spammer", {"userId": "666"}, frm=FAR, message="Suspended for spam"),
            user_ban("UserBan/quiet", {"username": "mallory"}, mode="Silence", frm=FAR),
        ))
        self.start()

    def start(self):
        env = dict(os.environ, PYTHONPATH="")  # must run from the checkout without installing
        self.stderr = tempfile.TemporaryFile(mode="w+")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, EXAMPLE_APP, "--dir", self._tmp.name, "--port", "0", "--poll-interval", "0.05"],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env, cwd="/",
        )
        line = self.proc.stdout.readline()
        self.startup = time.monotonic() - started
        if not line.startswith("listening on "):
            self.proc.wait(timeout=5)
            self.stderr.seek(0)
            self.fail(f"no 'listening on' line: {line!r} {self.stderr.read()}")
        self.base = f"http://127.0.0.1:{int(line.split()[-1])}"

    def tearDown(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
        self._tmp.cleanup()

    def call(self, path, method="GET"):
        req = urllib.request.Request(self.base + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_routes_and_hot_reload(self):
        self.assertLess(self.startup, 5.0)
        self.assertEqual(self.call("/check?user=666&feature=publish")[1]["ban"], "UserBan/spammer")
        self.assertEqual(self.call("/check?user=1&feature=publish"), (200, {"allowed": True}))
        status, body = self.call("/check?username=mallory&feature=login&scope=academy=madrid")
        self.assertEqual((status, body["allowed"], body["contentHidden"]), (200, True, True))
        status, body = self.call("/check?user=666&feature=x&at=2019-12-31T23:59:59Z")
        self.assertEqual((status, body["allowed"]), (200, True))
        self.assertEqual([(n["ban"], n["phase"]) for n in body["notices"]], [("UserBan/spammer", "Scheduled")])
        self.assertEqual(self.call("/check?user=1"), (400, {"error": "missing parameter feature"}))
        self.assertEqual(self.call("/check?ip=banana&feature=x")[0], 400)
        self.assertEqual(self.call("/check?userid=1&feature=x")[0], 400)
        self.assertEqual(self.call("/check?user=1&user=2&feature=x")[0], 400)
        self.assertEqual(self.call("/readyz"), (200, {"ready": True}))

        status, body = self.call("/posts?user=666", "POST")
        self.assertEqual((status, body["message"]), (403, "Suspended for spam"))
        self.assertEqual(self.call("/posts?user=1", "POST"), (201, {"published": True}))
        self.assertEqual(self.call("/authors/mallory/posts")[0], 404)
        self.assertEqual(self.call("/authors/alice/posts")[0], 200)
        blocks = self.call("/blocks?username=mallory")[1]["blocks"]
        self.assertEqual([(b["id"], b["active"]) for b in blocks], [("UserBan/quiet", True)])

        # A new version: user 666 lifted, mallory no longer silenced, user 1 suspended.
        self.kubelet.publish(data(user_ban("UserBan/one", {"userId": "1"}, frm=FAR)))
        self.assertTrue(self.eventually(lambda: self.call("/posts?user=1", "POST")[0] == 403))
        self.assertEqual(self.call("/posts?user=666", "POST")[0], 201)
        self.assertEqual(self.call("/authors/mallory/posts")[0], 200)

        # A malformed version is kept out; the next good one is picked up.
        self.kubelet.publish({"blocklist.json": "{broken", "suspended-user-ids.txt": ""})
        self.assertTrue(self.eventually(lambda: self.call("/healthz")[1]["reloadFailures"] == 1))
        health = self.call("/healthz")[1]
        self.assertIn("blocklist.json", health["lastError"])
        self.assertEqual(health["entries"], 1)
        self.assertEqual(self.call("/posts?user=1", "POST")[0], 403)
        self.kubelet.publish(data())
        self.assertTrue(self.eventually(lambda: self.call("/posts?user=1", "POST")[0] == 201))
        health = self.call("/healthz")[1]
        self.assertEqual((health["reloads"], health["reloadFailures"], health["lastError"]), (3, 1, None))

    def eventually(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False


class ExampleAppBeforeLoadTests(ExampleAppTests):
    """Started on a directory that holds no document yet (the mount not populated)."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.kubelet = KubeletDir(self._tmp.name)
        self.start()

    def test_routes_and_hot_reload(self):
        unavailable = {"error": "unavailable", "message": "The blocklist is not loaded yet; try again shortly."}
        self.assertEqual(self.call("/check?user=666&feature=publish"), (503, unavailable))
        self.assertEqual(self.call("/posts?user=666", "POST"), (503, unavailable))
        self.assertEqual(self.call("/blocks?user=666"), (503, unavailable))
        self.assertEqual(self.call("/authors/mallory/posts"), (503, unavailable))
        self.assertEqual(self.call("/readyz")[0], 503)
        self.kubelet.publish(data(user_ban("UserBan/spammer", {"userId": "666"}, frm=FAR)))
        self.assertTrue(self.eventually(lambda: self.call("/posts?user=666", "POST")[0] == 403))
        self.assertEqual(self.call("/posts?user=1", "POST"), (201, {"published": True}))
        self.assertEqual(self.call("/readyz"), (200, {"ready": True}))


class ExampleAppStartupTests(unittest.TestCase):
    def test_bad_directory_exits_1_when_required(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, EXAMPLE_APP, "--dir", tmp, "--port", "0", "--require-initial"],
                capture_output=True, text=True, timeout=30,
            )
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no blocklist*.json file", proc.stderr)


if __name__ == "__main__":
    unittest.main()
