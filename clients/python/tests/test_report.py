"""The reporting helper against a real HTTP server playing the sidecar."""

import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, List

from interdict_blocklist import Offense, ReportError, report_offenses


class _Sidecar(BaseHTTPRequestHandler):
    received: List[Any] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        _Sidecar.received.append((self.path, json.loads(self.rfile.read(length))))
        if _Sidecar.status == 200:
            body = {"accepted": 1, "counted": 1, "bans": []}
        else:
            body = {"error": "offenses[0].type: bad"}
        data = json.dumps(body).encode()
        self.send_response(_Sidecar.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class ReportTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = HTTPServer(("127.0.0.1", 0), _Sidecar)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        _Sidecar.received = []
        _Sidecar.status = 200

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def test_offenses_are_posted_as_the_sidecar_takes_them(self) -> None:
        answer = report_offenses(
            [Offense("failed-login", username="mallory", ip="203.0.113.7", scopes=[("page", "/login")])],
            sidecar=self.url,
        )
        self.assertEqual(answer["counted"], 1)
        path, body = _Sidecar.received[0]
        self.assertEqual(path, "/v1/offenses")
        self.assertEqual(
            body,
            {
                "offenses": [
                    {
                        "type": "failed-login",
                        "subject": {"username": "mallory", "ip": "203.0.113.7"},
                        "scopes": [{"kind": "page", "name": "/login"}],
                    }
                ]
            },
        )

    def test_a_refusal_raises_with_the_status_and_message(self) -> None:
        _Sidecar.status = 400
        with self.assertRaises(ReportError) as caught:
            report_offenses([Offense("x", user_id="1")], sidecar=self.url)
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.message, "offenses[0].type: bad")

    def test_wrong_types_and_missing_subjects_raise_before_any_request(self) -> None:
        with self.assertRaises(TypeError):
            report_offenses([Offense("failed-login", user_id=9999)], sidecar=self.url)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            report_offenses([Offense("failed-login")], sidecar=self.url)
        self.assertEqual(_Sidecar.received, [])

    def test_an_unreachable_sidecar_raises(self) -> None:
        with self.assertRaises(ReportError) as caught:
            report_offenses([Offense("x", user_id="1")], sidecar="http://127.0.0.1:1")
        self.assertEqual(caught.exception.status, 0)


if __name__ == "__main__":
    unittest.main()
