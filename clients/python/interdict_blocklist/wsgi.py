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
notice, and `notices` lists the subject's other blocks for a banner).
`revoke_sessions_before` can be set on an allowed answer as well (sessions issued
before a ban that has since ended stay invalid): an application with sessions
refuses one issued before it whatever `allowed` says.

Until the blocklist has loaded a first copy, checked requests get 503
(`unavailable_body`) rather than reaching the application unchecked; a `Blocklist`
built with `fail_open=True` lets them through instead.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ._http import (
    DECISION_KEY,
    DEFAULT_MESSAGE,
    JSON_HEADERS,
    SUBJECT_PARAMS,
    UNAVAILABLE_MESSAGE,
    Decider,
    SilenceSource,
    author_hidden,
    forbidden_body,
    json_bytes,
    parse_params,
    unavailable_body,
)
from ._time import TimeLike
from .model import Query
from .watch import BlocklistUnavailable

StartResponse = Callable[..., Callable[[bytes], object]]
Environ = Dict[str, Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def json_response(
    start_response: StartResponse,
    status: str,
    body: Mapping[str, Any],
    headers: Iterable[Tuple[str, str]] = (),
) -> List[bytes]:
    data = json_bytes(body)
    start_response(status, [JSON_HEADERS[0], ("Content-Length", str(len(data))), *JSON_HEADERS[1:], *headers])
    return [data]


class BlocklistMiddleware:
    """Asks `blocklist.decide` about every request `extract` returns a `Query` for,
    and answers 403 with a JSON body (`forbidden_body`) when denied.

    `extract(environ) -> Query | None` picks the subject identifiers, feature and
    scopes from the request; None lets the request through unchecked. `blocklist` is
    a `Blocklist` or anything with `decide(query, now)`.

    Only `allowed` decides between 403 and the application: an allowed request
    reaches it with the decision in `environ["interdict.decision"]`, where
    `revoke_sessions_before` (present on allowed answers too) is the application's
    to enforce against its session's issue time, and `notices` what a banner shows.

    A request checked before the blocklist has loaded a first copy (the blocklist
    raises `BlocklistUnavailable`) gets 503 with `unavailable_body(unavailable_message)`
    and never reaches the application; build the `Blocklist` with `fail_open=True` to
    let such requests through (allowed, with an unrestricted decision).
    """

    def __init__(
        self,
        app: WSGIApp,
        blocklist: Decider,
        extract: Callable[[Environ], Optional[Query]],
        *,
        default_message: str = DEFAULT_MESSAGE,
        unavailable_message: str = UNAVAILABLE_MESSAGE,
        clock: Optional[Callable[[], TimeLike]] = None,
    ) -> None:
        self.app = app
        self.blocklist = blocklist
        self.extract = extract
        self.default_message = default_message
        self.unavailable_message = unavailable_message
        self.clock = clock

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        query = self.extract(environ)
        if query is None:
            return self.app(environ, start_response)
        now = self.clock() if self.clock is not None else None
        try:
            decision = self.blocklist.decide(query, now)
        except BlocklistUnavailable:
            return json_response(
                start_response, "503 Service Unavailable", unavailable_body(self.unavailable_message)
            )
        environ[DECISION_KEY] = decision
        if not decision.allowed:
            return json_response(
                start_response, "403 Forbidden", forbidden_body(decision, self.default_message)
            )
        return self.app(environ, start_response)


def hide_silenced_authors(
    app: WSGIApp,
    blocklist: SilenceSource,
    author: Callable[[Environ], Optional[Query]],
    *,
    unavailable_message: str = UNAVAILABLE_MESSAGE,
    clock: Optional[Callable[[], TimeLike]] = None,
) -> WSGIApp:
    """Wraps a content route: 404 (`{"error": "not found"}`, indistinguishable from
    content that does not exist) when `author(environ)` is silenced. `author` returns
    a `Query` with the author's identifiers (any feature, e.g. "read"), or None for
    requests it does not concern. Before the blocklist has loaded: 503, as the
    middleware answers (a silenced author's content is not shown for want of data)."""

    def route(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        who = author(environ)
        if who is not None:
            try:
                hidden = author_hidden(blocklist, who, clock() if clock else None)
            except BlocklistUnavailable:
                return json_response(
                    start_response, "503 Service Unavailable", unavailable_body(unavailable_message)
                )
            if hidden:
                return json_response(start_response, "404 Not Found", {"error": "not found"})
        return app(environ, start_response)

    return route


__all__ = [
    "BlocklistMiddleware",
    "DECISION_KEY",
    "DEFAULT_MESSAGE",
    "SUBJECT_PARAMS",
    "UNAVAILABLE_MESSAGE",
    "author_hidden",
    "forbidden_body",
    "hide_silenced_authors",
    "json_response",
    "parse_params",
    "unavailable_body",
]
