"""Read Interdict blocklists (format v1) and decide requests, standard library only.

```python
from interdict_blocklist import Blocklist, Query

blocklist = Blocklist("/etc/interdict")          # the mounted ConfigMap, hot-reloaded
decision = blocklist.decide(Query(feature="mentorship-service", user_id="123",
                                  scopes=[("academy", "downtown-miami")]))
if not decision.allowed:
    print(decision.message)
```

The decision logic is a port of `interdict::core::decision`; the shared vectors in
the repository's `tests/vectors/` keep both identical. `decide(load_dir(path), ...)`
scans every entry (the reference); `Blocklist` and `Index` answer the same from an
index built once per loaded copy. Until its first copy loads, `Blocklist` raises
`BlocklistUnavailable` instead of answering (`fail_open=True` answers "allowed").
`interdict_blocklist.wsgi` and `interdict_blocklist.asgi` guard web applications.
When the operator keys email hashes, give readers its key:
`Blocklist(path, email_key=EmailKey.from_file("/etc/interdict-key/key"))`.
"""

from ._time import format_time, parse_time
from .counters import DecisionCounter
from .decision import blocks_of, decide, precedence, silence_of, subject_matcher
from .emails import HASH_PREFIX, KEYED_PREFIX, EmailKey, canonical_email, hash_email
from .index import Index
from .ipnet import IpNet
from .model import (
    SILENCE_ALLOWED_FEATURES,
    SUBJECT_KINDS,
    Contents,
    Decision,
    Entry,
    Exemption,
    Notice,
    NoticePhase,
    Query,
    Revocation,
    Scope,
    Skipped,
    SkippedItem,
)
from .reader import (
    DOCUMENT_KEY,
    FORMAT_V1,
    BlocklistError,
    Document,
    DocumentError,
    is_document_file,
    load_dir,
    parse_document,
)
from .report import Offense, ReportError, report_offenses
from .watch import Blocklist, BlocklistUnavailable, DecisionHook

__version__ = "0.1.0"

__all__ = [
    "Blocklist",
    "BlocklistError",
    "BlocklistUnavailable",
    "Contents",
    "DOCUMENT_KEY",
    "Decision",
    "DecisionCounter",
    "DecisionHook",
    "Document",
    "DocumentError",
    "EmailKey",
    "Entry",
    "Exemption",
    "FORMAT_V1",
    "HASH_PREFIX",
    "Index",
    "Notice",
    "NoticePhase",
    "Offense",
    "IpNet",
    "KEYED_PREFIX",
    "Query",
    "ReportError",
    "Revocation",
    "SILENCE_ALLOWED_FEATURES",
    "SUBJECT_KINDS",
    "Scope",
    "Skipped",
    "SkippedItem",
    "blocks_of",
    "canonical_email",
    "decide",
    "format_time",
    "hash_email",
    "is_document_file",
    "load_dir",
    "parse_document",
    "parse_time",
    "precedence",
    "report_offenses",
    "silence_of",
    "subject_matcher",
]
