"""WSGI helpers: refuse blocked requests (403) and hide silenced authors' content (404).

```python
from interdict_blocklist import Blocklist, Query
from interdict_blocklist.wsgi import BlocklistMiddleware, hide_silenced_authors

blocklist = Blocklist("/etc/interdict")

def who(environ):                       # None: this request is not checked
    if environ["REQUEST_METHOD"] != "POST":
        return None
    return Query(feature="publish", user_id=environ.get("myapp.user_id"),
                 ip=environ.get("REMOTE_ADDR"))

app = BlocklistMiddleware(app, blocklist, who)
```

The middleware stores the decision in `environ["interdict.decision"]` (allowed
answers too: a silenced subject logging in gets `content_hidden` and may be shown a
notice). `revoke_sessions_before` can be set on an allowed answer as well (sessions
issued before a ban that has since ended stay invalid): an application with
sessions refuses one issued before it whatever `allowed` says.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple
from urllib.parse import parse_qsl

from ._time import TimeLike, parse_time
from .emails import _rust_trim
from .ipnet import parse_address
from .model import Decision, Entry, Query, Scope

DECISION_KEY = "interdict.decision"
DEFAULT_MESSAGE = "You are not allowed to do this."

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]


class Decider(Protocol):
    def decide(self, query: Query, now: TimeLike = None) -> Decision: ...


class SilenceSource(Protocol):
    def silence_for(self, query: Query, now: TimeLike = None) -> Optional[Entry]: ...


def _quote(text: str) -> str:
    """Quoted like Rust's `{:?}` of a string (double quotes)."""
    return json.dumps(text, ensure_ascii=False)


SUBJECT_PARAMS = ("user", "username", "email", "ip", "key")


def parse_params(query_string: str, feature_required: bool = True) -> Tuple[Query, Optional[datetime]]:
    """A query string as the `interdict serve` sidecar reads it, strictly: `feature`,
    `user`, `username`, `email`, `ip`, `key` (each at most once), repeatable
    `scope=KIND=NAME`, and `at` (RFC 3339). Raises ValueError with the sidecar's
    message on an unknown or repeated parameter, a bad ip/scope/at, no subject, or
    a missing feature (when `feature_required`). Returns the query and `at`."""
    slots: Dict[str, Any] = {}
    scopes: List[Scope] = []
    at = None
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in ("feature", "user", "username", "email", "key", "ip"):
            if key in slots:
                raise ValueError(f"parameter {key} given twice")
            if key == "ip":
                try:
                    value = parse_address(_rust_trim(value))
                except ValueError:
                    raise ValueError(f"ip {_quote(value)} is not an IPv4 or IPv6 address") from None
            slots[key] = value
        elif key == "scope":
            try:
                scopes.append(Scope.of(value))
            except ValueError as e:
                raise ValueError(f"scope: {e}") from None
        elif key == "at":
            try:
                at = parse_time(value)
            except ValueError:
                raise ValueError(f"at {_quote(value)} is not an RFC 3339 time like 2026-11-21T10:00:00Z") from None
        else:
            raise ValueError(
                f"unknown parameter {_quote(key)}; expected feature, {', '.join(SUBJECT_PARAMS)}, scope or at"
            )
    if not any(k in slots for k in SUBJECT_PARAMS):
        raise ValueError(f"no subject: give at least one of {', '.join(SUBJECT_PARAMS)}")
    feature = slots.get("feature") or ""
    if not feature and feature_required:
        raise ValueError("missing parameter feature")
    query = Query(
        feature=feature,
        user_id=slots.get("user"),
        username=slots.get("username"),
        email=slots.get("email"),
        ip=slots.get("ip"),
        key_fingerprint=slots.get("key"),
        scopes=scopes,
    )
    return query, at


def json_response(
    start_response: StartResponse,
    status: str,
    body: Mapping[str, Any],
    headers: Iterable[Tuple[str, str]] = (),
) -> List[bytes]:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )
    return [data]


def forbidden_body(decision: Decision, default_message: str = DEFAULT_MESSAGE) -> Dict[str, Any]:
    """`{"error": "blocked", "message": ..., "ban": ..., "mode": ..., ...}`: the decision
    JSON with the ban's message (or `default_message` when the ban has none)."""
    body: Dict[str, Any] = {"error": "blocked"}
    body.update(decision.to_json())
    if body.get("message") is None:
        body["message"] = default_message
    return body


class BlocklistMiddleware:
    """Asks `blocklist.decide` about every request `extract` returns a `Query` for,
    and answers 403 with a JSON body (`forbidden_body`) when denied.

    `extract(environ) -> Query | None` picks the subject identifiers, feature and
    scopes from the request; None lets the request through unchecked. `blocklist` is
    a `Blocklist` or anything with `decide(query, now)`.

    Only `allowed` decides between 403 and the application: an allowed request
    reaches it with the decision in `environ["interdict.decision"]`, where
    `revoke_sessions_before` (present on allowed answers too) is the application's
    to enforce against its session's issue time.
    """

    def __init__(
        self,
        app: WSGIApp,
        blocklist: Decider,
        extract: Callable[[Dict[str, Any]], Optional[Query]],
        *,
        default_message: str = DEFAULT_MESSAGE,
        clock: Optional[Callable[[], Any]] = None,
    ):
        self.app = app
        self.blocklist = blocklist
        self.extract = extract
        self.default_message = default_message
        self.clock = clock

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = self.extract(environ)
        if query is None:
            return self.app(environ, start_response)
        now = self.clock() if self.clock is not None else None
        decision = self.blocklist.decide(query, now)
        environ[DECISION_KEY] = decision
        if not decision.allowed:
            return json_response(
                start_response, "403 Forbidden", forbidden_body(decision, self.default_message)
            )
        return self.app(environ, start_response)


def author_hidden(blocklist: SilenceSource, author: Query, now: TimeLike = None) -> bool:
    """True when the author's content is to be hidden from others: a Silence ban is in
    force for one of the author's identifiers (the query's feature is ignored)."""
    return blocklist.silence_for(author, now) is not None


def hide_silenced_authors(
    app: WSGIApp,
    blocklist: SilenceSource,
    author: Callable[[Dict[str, Any]], Optional[Query]],
    *,
    clock: Optional[Callable[[], Any]] = None,
) -> WSGIApp:
    """Wraps a content route: 404 (`{"error": "not found"}`, indistinguishable from
    content that does not exist) when `author(environ)` is silenced. `author` returns
    a `Query` with the author's identifiers (any feature, e.g. "read"), or None for
    requests it does not concern."""

    def route(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        who = author(environ)
        if who is not None and author_hidden(blocklist, who, clock() if clock else None):
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        return app(environ, start_response)

    return route


__all__ = [
    "BlocklistMiddleware",
    "SUBJECT_PARAMS",
    "parse_params",
    "DECISION_KEY",
    "author_hidden",
    "forbidden_body",
    "hide_silenced_authors",
    "json_response",
]
