"""What a `Blocklist` answered, counted for an application's metrics.

```python
from interdict_blocklist import Blocklist, DecisionCounter

counter = DecisionCounter()
blocklist = Blocklist("/etc/interdict", on_decision=counter)
...
counter.snapshot()
# {("allowed", "", ""): 1200, ("denied", "Suspend", "spam"): 3, ("unavailable", "", ""): 2}
```

A metrics endpoint exports the snapshot as counters labelled outcome, mode and reason.

Keys name only what the blocklist did, never whom it concerned: a subject's id,
address or email would make a label per user (and put personal data in metrics).
"""

from __future__ import annotations

import threading
from typing import Dict, Literal, Optional, Tuple

from .model import Decision

#: `allowed` and `denied` are decisions from a loaded copy; `unavailable` a question
#: asked before any copy loaded (refused, or allowed under `fail_open=True`).
Outcome = Literal["allowed", "denied", "unavailable"]

#: (outcome, mode, reason): the decision's `mode` and `reason`, "" when unset.
CounterKey = Tuple[Outcome, str, str]


def counter_key(decision: Optional[Decision]) -> CounterKey:
    """The key an answer is counted under; None is an unavailable answer."""
    if decision is None:
        return ("unavailable", "", "")
    return ("allowed" if decision.allowed else "denied", decision.mode or "", decision.reason or "")


class DecisionCounter:
    """Counts answers by (outcome, mode, reason), safe to share between threads.

    A `DecisionHook`: pass it as `Blocklist(..., on_decision=counter)`, or call
    `record` with decisions obtained elsewhere (`Index.decide`, `decide`). An allowed
    answer for a silenced subject counts as ("allowed", "Silence", its reason); an
    unrestricted one as ("allowed", "", "")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[CounterKey, int] = {}

    def record(self, decision: Optional[Decision]) -> None:
        """Counts one answer (None: asked before any copy of the blocklist loaded)."""
        key = counter_key(decision)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def __call__(self, decision: Optional[Decision]) -> None:
        self.record(decision)

    def snapshot(self) -> Dict[CounterKey, int]:
        """A copy of the counts so far (keys seen at least once)."""
        with self._lock:
            return dict(self._counts)


__all__ = ["CounterKey", "DecisionCounter", "Outcome", "counter_key"]
