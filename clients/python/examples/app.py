#!/usr/bin/env python3
"""A tiny WSGI application guarded by an Interdict blocklist (standard library only).

    python3 clients/python/examples/app.py --dir /etc/interdict --port 8080

Prints `listening on PORT` once it accepts connections (`--port 0` picks a free
port). Routes:

- `GET /check?user=..&username=..&email=..&ip=..&key=..&feature=..&scope=kind=name&at=..`
  the decision JSON (`scope` repeatable, `at` an RFC 3339 time, default now); the
  parameters are read as strictly as `interdict serve` reads them (400 on an unknown
  or repeated parameter, no subject, no feature);
- `POST /posts?user=..` publish a post: 403 with the ban's message when the user
  (or the client address) may not use `publish`, else 201;
- `GET /authors/<username>/posts` an author's posts: 404 when that author is silenced;
- `GET /blocks?user=..&username=..&email=..&ip=..&key=..&at=..` every active and
  scheduled entry of one subject ("my block status"), as `interdict serve`'s `/v1/blocks`;
- `GET /healthz` loaded, entries, exemptions, revocations, reloads, reload failures, last error;
- `GET /readyz` 200 once a blocklist copy is loaded, else 503.

Until a first copy of the blocklist loads, `/check`, `/blocks`, `POST /posts` and the
authors' pages answer 503: the blocklist fails closed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

try:
    import interdict_blocklist  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interdict_blocklist import Blocklist, BlocklistError, BlocklistUnavailable, Query, format_time
from interdict_blocklist.wsgi import (
    DECISION_KEY,
    BlocklistMiddleware,
    hide_silenced_authors,
    json_response,
    parse_params,
    unavailable_body,
)

POSTS = {
    "alice": [{"id": 1, "title": "Hello"}],
    "mallory": [{"id": 2, "title": "Buy now!!!"}],
}


def params(environ) -> dict:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=False)


def first(qs: dict, key: str):
    values = qs.get(key)
    return values[0] if values else None


def make_app(blocklist: Blocklist):
    def check(environ, start_response):
        try:
            query, at = parse_params(environ.get("QUERY_STRING", ""))
        except ValueError as e:
            return json_response(start_response, "400 Bad Request", {"error": str(e)})
        try:
            decision = blocklist.decide(query, at)
        except BlocklistUnavailable:
            return json_response(start_response, "503 Service Unavailable", unavailable_body())
        return json_response(start_response, "200 OK", decision.to_json())

    def publish(environ, start_response):
        decision = environ.get(DECISION_KEY)
        body = {"published": True}
        if decision is not None and decision.content_hidden:
            body["notice"] = "Your content is hidden from others while you are silenced."
        return json_response(start_response, "201 Created", body)

    def author_posts(environ, start_response):
        author = environ["example.author"]
        return json_response(
            start_response, "200 OK", {"author": author, "posts": POSTS.get(author, [])}
        )

    def author_of(environ):
        author = environ.get("example.author")
        return Query(feature="read", username=author) if author else None

    author_route = hide_silenced_authors(author_posts, blocklist, author_of)

    def blocks(environ, start_response):
        """Like the sidecar's /v1/blocks: entries with `active`, email subjects omitted."""
        try:
            query, at = parse_params(environ.get("QUERY_STRING", ""), feature_required=False)
        except ValueError as e:
            return json_response(start_response, "400 Bad Request", {"error": str(e)})
        at = at or datetime.now(timezone.utc)
        try:
            found = blocklist.blocks_for(query, now=at)
        except BlocklistUnavailable:
            return json_response(start_response, "503 Service Unavailable", unavailable_body())
        out = []
        for entry in found:
            item = dict(entry.to_json(), active=entry.in_force(at))
            if entry.subject_kind == "email":
                del item["subject"]  # the caller gave the address; the hash adds nothing
            out.append(item)
        return json_response(start_response, "200 OK", {"at": format_time(at), "blocks": out})

    def healthz(environ, start_response):
        return json_response(start_response, "200 OK", blocklist.stats())

    def readyz(environ, start_response):
        if blocklist.loaded:
            return json_response(start_response, "200 OK", {"ready": True})
        why = blocklist.last_error or "no blocklist loaded yet"
        return json_response(start_response, "503 Service Unavailable", {"ready": False, "error": why})

    def router(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if parts == ["check"] and method == "GET":
            return check(environ, start_response)
        if parts == ["posts"] and method == "POST":
            return publish(environ, start_response)
        if len(parts) == 3 and parts[0] == "authors" and parts[2] == "posts" and method == "GET":
            environ["example.author"] = parts[1]
            return author_route(environ, start_response)
        if parts == ["blocks"] and method == "GET":
            return blocks(environ, start_response)
        if parts == ["healthz"] and method == "GET":
            return healthz(environ, start_response)
        if parts == ["readyz"] and method == "GET":
            return readyz(environ, start_response)
        return json_response(start_response, "404 Not Found", {"error": "not found"})

    def who_publishes(environ):
        """Only publishing is guarded here: by user id and by client address."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/posts":
            return None
        qs = params(environ)
        user, address = first(qs, "user"), environ.get("REMOTE_ADDR") or None
        if user is None and address is None:
            return None  # nobody to ask about (a Query must name someone)
        return Query(feature="publish", user_id=user, ip=address)

    return BlocklistMiddleware(router, blocklist, who_publishes)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        logging.getLogger("example.access").info("%s %s", self.address_string(), format % args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="blocklist directory (the mounted ConfigMap)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--require-initial",
        action="store_true",
        help="exit 1 when the directory cannot be loaded at start (default: start, answer "
        "503 to checked requests and report not ready on /readyz until a copy loads)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("interdict_blocklist").setLevel(logging.INFO)
    try:
        blocklist = Blocklist(
            args.dir, poll_interval=args.poll_interval, require_initial=args.require_initial
        )
    except BlocklistError as e:
        print(f"cannot load blocklist: {e}", file=sys.stderr)
        return 1
    server = make_server(
        args.host, args.port, make_app(blocklist), server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        blocklist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
