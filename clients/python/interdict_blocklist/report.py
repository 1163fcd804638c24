"""Report offenses for BanPolicies through the sidecar (`interdict serve
--operator-url ...`) on loopback: the sidecar adds the pod's namespace and
ServiceAccount token, so the application needs no Kubernetes client.

```python
from interdict_blocklist import Offense, report_offenses

report_offenses([Offense("failed-login", username="mallory", ip="203.0.113.7")])
```
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._time import format_time

DEFAULT_SIDECAR = "http://127.0.0.1:8080"

_SUBJECT_FIELDS = (
    ("user_id", "userId"),
    ("username", "username"),
    ("email", "email"),
    ("ip", "ip"),
    ("key_fingerprint", "keyFingerprint"),
)


class ReportError(Exception):
    """The sidecar or the operator refused the report (``status`` is the HTTP
    status, ``message`` what they said), or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Offense:
    """One offense: its type (a lowercase token such as ``failed-login``) and
    every identifier of the subject the application knows."""

    type: str
    user_id: Optional[str] = None
    username: Optional[str] = None
    email: Optional[str] = None
    ip: Optional[str] = None
    key_fingerprint: Optional[str] = None
    scopes: Sequence[Tuple[str, str]] = field(default_factory=tuple)
    at: Optional[datetime] = None

    def to_json(self) -> Dict[str, Any]:
        if not isinstance(self.type, str) or not self.type:
            raise TypeError("Offense.type must be a non-empty str")
        subject: Dict[str, str] = {}
        for attribute, key in _SUBJECT_FIELDS:
            value = getattr(self, attribute)
            if value is None:
                continue
            if not isinstance(value, str):
                raise TypeError(f"Offense.{attribute} must be a str, got {type(value).__name__}")
            subject[key] = value
        if not subject:
            raise ValueError("an Offense needs at least one of user_id, username, email, ip, key_fingerprint")
        body: Dict[str, Any] = {"type": self.type, "subject": subject}
        if self.scopes:
            body["scopes"] = [{"kind": kind, "name": name} for kind, name in self.scopes]
        if self.at is not None:
            body["at"] = format_time(self.at)
        return body


def report_offenses(
    offenses: Sequence[Offense],
    sidecar: str = DEFAULT_SIDECAR,
    timeout: float = 5.0,
) -> Dict[str, Any]:
    """Posts ``offenses`` to the sidecar; returns the operator's answer
    (``accepted``, ``counted``, ``bans``) or raises :class:`ReportError`."""
    batch: List[Dict[str, Any]] = [offense.to_json() for offense in offenses]
    if not batch:
        raise ValueError("nothing to report")
    request = urllib.request.Request(
        sidecar.rstrip("/") + "/v1/offenses",
        data=json.dumps({"offenses": batch}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: Dict[str, Any] = json.loads(response.read().decode())
            return answer
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            message = json.loads(text).get("error", text)
        except ValueError:
            message = text
        raise ReportError(error.code, message) from None
    except (urllib.error.URLError, OSError) as error:
        raise ReportError(0, f"cannot reach the sidecar at {sidecar}: {error}") from None
