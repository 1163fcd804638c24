#!/usr/bin/env python3
"""Decision and reload figures for the Python reader (not a test).

    python3 clients/python/bench.py

Builds blocklists of 10k and 100k entries with a realistic mix (mostly userId bans;
some usernames, email hashes, IPv4 /24 ranges and key fingerprints; a third
FeatureBlocks, half of them scoped to an academy; a quarter with an `until`),
writes each to a temporary directory as the operator would, and prints medians of
repeated runs: indexed decisions (`Blocklist.decide`, half hits and half misses,
every query with an IP), the linear reference `decide(contents, ...)` at 10k, and
reload time (`load_dir` + index build, as `Blocklist` does it). The figures mirror
`make bench` (benches/reader.rs) for the Rust reader. Timings are never asserted.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from interdict_blocklist import Blocklist, Index, Query, decide, format_time, hash_email, load_dir  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ACADEMIES = 50
FEATURES = ["comments", "mentorship-service", "publish", "messages"]


def entry(i: int, rng: random.Random) -> Dict[str, Any]:
    """Entry i of a document; the subject kind depends only on i, so queries know it."""
    slot = i % 10
    if slot <= 5:
        subject = {"userId": f"user-{i}"}
    elif slot == 6:
        subject = {"username": f"name-{i}"}
    elif slot == 7:
        subject = {"email": hash_email(f"u{i}@example.org")}
    elif slot == 8:
        subject = {"ip": f"10.{(i // 256) % 256}.{i % 256}.0/24"}
    else:
        subject = {"keyFingerprint": f"SHA256:key{i}"}
    feature_block = i % 3 == 0
    out: Dict[str, Any] = {
        "id": f"{'FeatureBlock' if feature_block else 'UserBan'}/ban-{i:06d}",
        "kind": "FeatureBlock" if feature_block else "UserBan",
        "subject": subject,
    }
    if feature_block:
        out["features"] = rng.sample(FEATURES, rng.randint(1, 2))
        if i % 2 == 0:
            out["scopes"] = [{"kind": "academy", "name": f"academy-{i % ACADEMIES}"}]
    else:
        out["mode"] = "Silence" if i % 7 == 0 else "Suspend"
    start = NOW - timedelta(days=rng.randint(1, 365), seconds=rng.randint(0, 86_399))
    out["from"] = format_time(start)
    if i % 4 == 0:
        out["until"] = format_time(NOW + timedelta(days=rng.randint(1, 90)))
    out["reason"] = "spam"
    out["message"] = "You have been blocked. Contact support to appeal."
    return out


def write_blocklist(directory: str, count: int) -> int:
    rng = random.Random(count)
    doc = {
        "format": "interdict.dev/blocklist/v1",
        "namespace": "bench",
        "shard": {"count": 1, "index": 0},
        "entries": [entry(i, rng) for i in range(count)],
    }
    path = os.path.join(directory, "blocklist.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    return os.path.getsize(path)


def queries(count: int, n: int = 1000) -> List[Query]:
    """Half hits (the identifier of an existing entry: user id, username, typed email,
    key, or an address inside a listed /24), half misses; every query carries an IP."""
    rng = random.Random(1)
    out = []
    for q in range(n):
        academy = [("academy", f"academy-{rng.randrange(ACADEMIES)}")]
        miss_ip = f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if q % 2:
            out.append(Query(feature="comments", user_id=f"user-miss-{q}", ip=miss_ip, scopes=academy))
            continue
        i = rng.randrange(count)
        slot = i % 10
        fields: Dict[str, Any] = {"user_id": f"user-{i}" if slot <= 5 else f"user-miss-{q}", "ip": miss_ip}
        if slot == 6:
            fields["username"] = f"name-{i}"
        elif slot == 7:
            fields["email"] = f" U{i}+promo@Example.org"
        elif slot == 8:
            fields["ip"] = f"10.{(i // 256) % 256}.{i % 256}.{rng.randrange(1, 255)}"
        elif slot == 9:
            fields["key_fingerprint"] = f"SHA256:key{i}"
        out.append(Query(feature=rng.choice(FEATURES), scopes=academy, **fields))
    return out


def per_call(batches: int, calls: int, fn: Callable[[int], Any]) -> float:
    """Seconds per call, median over batches."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for i in range(calls):
            fn(i)
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def median_seconds(runs: int, fn: Callable[[], Any]) -> float:
    samples = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def row(figure: str, value: str, extra: str = "") -> None:
    print(f"{figure:<52} {value:>14} {extra:>18}")


def main() -> None:
    began = time.perf_counter()
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, {platform.machine()})")
    row("figure", "median", "rate / note")
    for count in (10_000, 100_000):
        with tempfile.TemporaryDirectory() as tmp:
            size = write_blocklist(tmp, count)
            blocklist = Blocklist(tmp, background=False, poll_interval=3600, require_initial=True)
            assert len(blocklist.entries) == count
            qs = queries(count)
            nq = len(qs)
            decisions = [blocklist.decide(q) for q in qs]
            denied = sum(not d.allowed for d in decisions)
            # The indexed answers are the linear ones (spot check, not timed).
            contents = blocklist.contents
            for q in qs[:: max(1, nq // (50 if count > 10_000 else 200))]:
                assert blocklist.decide(q) == decide(contents, q), q

            indexed = per_call(9, 5_000, lambda i: blocklist.decide(qs[i % nq]))
            row(
                f"indexed decision, {count // 1000}k entries",
                f"{indexed * 1e6:.1f} µs",
                f"{1 / indexed:,.0f} /s",
            )
            if count == 10_000:
                linear = per_call(3, 20, lambda i: decide(contents, qs[i % nq]))
                row(
                    f"linear decide (reference), {count // 1000}k entries",
                    f"{linear * 1e6:,.0f} µs",
                    f"{1 / linear:,.0f} /s",
                )
            runs = 5 if count == 10_000 else 3
            build = median_seconds(runs, lambda: Index(contents))
            row(f"index build alone, {count // 1000}k entries", f"{build * 1e3:.1f} ms")

            def reload() -> None:
                fresh = Blocklist(tmp, background=False, poll_interval=3600, require_initial=True)
                assert len(fresh.index) == count

            total = median_seconds(runs, reload)
            row(f"reload (load_dir + index build), {count // 1000}k entries", f"{total * 1e3:.0f} ms")
            row(
                f"document, {count // 1000}k entries",
                f"{size / 1048576:.1f} MiB",
                f"{denied}/{nq} denied",
            )
            blocklist.close()
    print(f"total bench time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
