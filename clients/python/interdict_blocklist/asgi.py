"""ASGI helpers (Starlette, FastAPI, any ASGI 3 framework): refuse blocked requests
(403) and hide silenced authors' content (404), as `interdict_blocklist.wsgi` does
for WSGI. Plain ASGI 3 callables: no framework is needed by the package.

```python
from starlette.applications import Starlette
from interdict_blocklist import Blocklist, Query
from interdict_blocklist.asgi import BlocklistMiddleware

blocklist = Blocklist("/etc/interdict")

def who(scope):                          # None: this request is not checked
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    client = scope.get("client")          # (host, port), or None
    return Query(feature="publish", user_id=scope.get("myapp.user_id"),
                 ip=client[0] if client else None)

app = Starlette(routes=...)
app.add_middleware(BlocklistMiddleware, blocklist=blocklist, extract=who)
```

`extract(scope)` may also be a coroutine function (to look a session up). An
allowed request reaches the application with the decision in
`scope["interdict.decision"]` and in the scope's state (Starlette:
`request.state.interdict_decision`): `content_hidden`, `notices` for a banner, and
`revoke_sessions_before`, which the application enforces against its session's
issue time whatever `allowed` says. A denied one gets 403 with `forbidden_body`; one
checked before the blocklist has loaded a first copy gets 503 with
`unavailable_body` (a `Blocklist` built with `fail_open=True` lets it through
instead). A WebSocket handshake is checked like a request: refused with the same
status and body where the server supports the `websocket.http.response` extension,
else closed before it is accepted (the server then answers 403).

`Blocklist.decide` runs in the event loop: it costs a few dict lookups while the
blocklist polls in its background thread (the default). With `background=False` a
question may read the whole directory, so keep the default in an ASGI application.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Tuple, Union

from ._http import (
    DECISION_KEY,
    DEFAULT_MESSAGE,
    JSON_HEADERS,
    STATE_ATTRIBUTE,
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
from .model import Decision, Query
from .watch import BlocklistUnavailable

ASGIScope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]
#: Picks a request's `Query` (or None: not checked), directly or as a coroutine.
Extract = Callable[[ASGIScope], Union[Optional[Query], Awaitable[Optional[Query]]]]

# The connection types that are requests; "lifespan" and others pass untouched.
_REQUESTS = ("http", "websocket")


async def _query_of(extract: Extract, scope: ASGIScope) -> Optional[Query]:
    found = extract(scope)
    if inspect.isawaitable(found):
        query: Optional[Query] = await found
        return query
    return found


async def send_json(scope: ASGIScope, send: Send, status: int, body: Dict[str, Any]) -> None:
    """Answers a request (or refuses a WebSocket handshake) with a JSON body."""
    data = json_bytes(body)
    headers: List[Tuple[bytes, bytes]] = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in JSON_HEADERS
    ]
    headers.append((b"content-length", str(len(data)).encode("latin-1")))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
    elif "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": data})
    else:
        # Closed before being accepted: the server answers the handshake with 403.
        # 1008 is "policy violation", 1013 "try again later".
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1008})


def _with_decision(scope: ASGIScope, decision: Decision) -> ASGIScope:
    # A copy, as the ASGI spec asks of middleware that adds to the scope; "state" is
    # the request's own dict (servers copy the lifespan state per request), so the
    # application and the middlewares around it see the same one.
    scope = dict(scope)
    scope[DECISION_KEY] = decision
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    state[STATE_ATTRIBUTE] = decision
    return scope


class BlocklistMiddleware:
    """Asks `blocklist.decide` about every request `extract` returns a `Query` for,
    and answers 403 with a JSON body (`forbidden_body`) when denied, 503
    (`unavailable_body`) while the blocklist has nothing loaded. The ASGI twin of
    `interdict_blocklist.wsgi.BlocklistMiddleware`, with the same options.

    `extract(scope) -> Query | None` (or a coroutine function) picks the subject
    identifiers, feature and scopes from the request; None lets it through
    unchecked. `blocklist` is a `Blocklist` or anything with `decide(query, now)`.
    An allowed request reaches `app` with the decision in `scope["interdict.decision"]`
    and `scope["state"]["interdict_decision"]`.
    """

    def __init__(
        self,
        app: ASGIApp,
        blocklist: Decider,
        extract: Extract,
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

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _REQUESTS:
            await self.app(scope, receive, send)
            return
        query = await _query_of(self.extract, scope)
        if query is None:
            await self.app(scope, receive, send)
            return
        now = self.clock() if self.clock is not None else None
        try:
            decision = self.blocklist.decide(query, now)
        except BlocklistUnavailable:
            await send_json(scope, send, 503, unavailable_body(self.unavailable_message))
            return
        if not decision.allowed:
            await send_json(scope, send, 403, forbidden_body(decision, self.default_message))
            return
        await self.app(_with_decision(scope, decision), receive, send)


def hide_silenced_authors(
    app: ASGIApp,
    blocklist: SilenceSource,
    author: Extract,
    *,
    unavailable_message: str = UNAVAILABLE_MESSAGE,
    clock: Optional[Callable[[], TimeLike]] = None,
) -> ASGIApp:
    """Wraps a content route (an ASGI app): 404 (`{"error": "not found"}`,
    indistinguishable from content that does not exist) when `author(scope)` is
    silenced; 503 before the blocklist has loaded. `author` returns (or, as a
    coroutine function, resolves to) a `Query` with the author's identifiers (any
    feature, e.g. "read"), or None for requests it does not concern."""

    async def route(scope: ASGIScope, receive: Receive, send: Send) -> None:
        who = await _query_of(author, scope) if scope["type"] in _REQUESTS else None
        if who is not None:
            try:
                hidden = author_hidden(blocklist, who, clock() if clock else None)
            except BlocklistUnavailable:
                await send_json(scope, send, 503, unavailable_body(unavailable_message))
                return
            if hidden:
                await send_json(scope, send, 404, {"error": "not found"})
                return
        await app(scope, receive, send)

    return route


__all__ = [
    "BlocklistMiddleware",
    "DECISION_KEY",
    "DEFAULT_MESSAGE",
    "STATE_ATTRIBUTE",
    "UNAVAILABLE_MESSAGE",
    "author_hidden",
    "forbidden_body",
    "hide_silenced_authors",
    "parse_params",
    "send_json",
    "unavailable_body",
]
