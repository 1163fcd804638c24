"""What the WSGI and ASGI helpers share: the answers they send, the query-string
parser of the `interdict serve` sidecar, and the little they need of a blocklist.
Nothing here depends on a server interface; `wsgi` and `asgi` re-export it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Dict, List, Optional, Protocol, Tuple
from urllib.parse import parse_qsl

from ._time import TimeLike, parse_time
from .emails import _rust_trim
from .ipnet import IPAddress, parse_address
from .model import Decision, Entry, Query, Scope

#: Where the middlewares leave the decision for the application: the WSGI environ
#: key, and the ASGI scope key.
DECISION_KEY = "interdict.decision"
#: The same under the ASGI scope's "state" (Starlette: `request.state.interdict_decision`).
STATE_ATTRIBUTE = "interdict_decision"

DEFAULT_MESSAGE = "You are not allowed to do this."
UNAVAILABLE_MESSAGE = "The blocklist is not loaded yet; try again shortly."

SUBJECT_PARAMS = ("user", "username", "email", "ip", "key")


class Decider(Protocol):
    def decide(self, query: Query, now: Optional[TimeLike] = None) -> Decision: ...


class SilenceSource(Protocol):
    def silence_for(self, query: Query, now: Optional[TimeLike] = None) -> Optional[Entry]: ...


def _quote(text: str) -> str:
    """Quoted like Rust's `{:?}` of a string (double quotes)."""
    return json.dumps(text, ensure_ascii=False)


def parse_params(query_string: str, feature_required: bool = True) -> Tuple[Query, Optional[datetime]]:
    """A query string as the `interdict serve` sidecar reads it, strictly: `feature`,
    `user`, `username`, `email`, `ip`, `key` (each at most once), repeatable
    `scope=KIND=NAME`, and `at` (RFC 3339). Raises ValueError with the sidecar's
    message on an unknown or repeated parameter, a bad ip/scope/at, no subject, or
    a missing feature (when `feature_required`). Returns the query and `at`."""
    texts: Dict[str, str] = {}
    address: Optional[IPAddress] = None
    scopes: List[Scope] = []
    at = None
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in ("feature", "user", "username", "email", "key", "ip"):
            if key in texts:
                raise ValueError(f"parameter {key} given twice")
            if key == "ip":
                try:
                    address = parse_address(_rust_trim(value))
                except ValueError:
                    raise ValueError(f"ip {_quote(value)} is not an IPv4 or IPv6 address") from None
            texts[key] = value
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
    if not any(k in texts for k in SUBJECT_PARAMS):
        raise ValueError(f"no subject: give at least one of {', '.join(SUBJECT_PARAMS)}")
    feature = texts.get("feature") or ""
    if not feature and feature_required:
        raise ValueError("missing parameter feature")
    query = Query(
        feature=feature,
        user_id=texts.get("user"),
        username=texts.get("username"),
        email=texts.get("email"),
        ip=address,
        key_fingerprint=texts.get("key"),
        scopes=scopes,
    )
    return query, at


def json_bytes(body: Any) -> bytes:
    """Compact UTF-8 JSON, the body of every answer the helpers send."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


#: Sent with every answer of the helpers: a refusal is about one subject at one time.
JSON_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("Content-Type", "application/json; charset=utf-8"),
    ("Cache-Control", "no-store"),
)


def forbidden_body(decision: Decision, default_message: str = DEFAULT_MESSAGE) -> Dict[str, Any]:
    """`{"error": "blocked", "message": ..., "ban": ..., "mode": ..., ...}`: the decision
    JSON with the ban's message (or `default_message` when the ban has none)."""
    body: Dict[str, Any] = {"error": "blocked"}
    body.update(decision.to_json())
    if body.get("message") is None:
        body["message"] = default_message
    return body


def unavailable_body(message: str = UNAVAILABLE_MESSAGE) -> Dict[str, Any]:
    """`{"error": "unavailable", "message": ...}`: the answer (503) to a request that
    arrives before the blocklist has loaded. The cause (a path, a parse error) is for
    the operator's logs and `Blocklist.last_error`, not for the client."""
    return {"error": "unavailable", "message": message}


def author_hidden(blocklist: SilenceSource, author: Query, now: Optional[TimeLike] = None) -> bool:
    """True when the author's content is to be hidden from others: a Silence ban is in
    force for one of the author's identifiers (the query's feature is ignored). Raises
    `BlocklistUnavailable` when the blocklist has nothing loaded yet (and is not
    `fail_open`)."""
    return blocklist.silence_for(author, now) is not None


__all__ = [
    "DECISION_KEY",
    "DEFAULT_MESSAGE",
    "Decider",
    "JSON_HEADERS",
    "STATE_ATTRIBUTE",
    "SUBJECT_PARAMS",
    "SilenceSource",
    "UNAVAILABLE_MESSAGE",
    "author_hidden",
    "forbidden_body",
    "json_bytes",
    "parse_params",
    "unavailable_body",
]
