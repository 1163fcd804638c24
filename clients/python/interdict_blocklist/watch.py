"""A blocklist directory kept current while the application runs.

kubelet publishes a new version of a mounted ConfigMap by writing a timestamped
directory (`..2026_11_21_10_00_00.123456789`) and atomically renaming a new `..data`
symlink over the old one; the visible files are symlinks through `..data`. `Blocklist`
notices a new version by comparing, at every poll, the `..data` target and the name,
size, mtime and inode of every document file (so plain directories work too), and
reads a version through the directory `..data` points to, so all shards come from
the same version (and reads again if the directory changed meanwhile).

A version that cannot be loaded (malformed JSON, unknown format, ...) never replaces
the last good entries: it is counted in `reload_failures`, kept in `last_error`,
logged, and not retried until the directory changes again. A version with items the
reader cannot understand is loaded without them; they are logged once per version
and listed in `skipped`. The semantics follow the Rust reader
(`interdict::reader::Blocklist`, used by `interdict serve`).

Every loaded copy is indexed (`index.Index`) before it is swapped in, so a decision
costs a few dict lookups whatever the number of entries; the answers are those of
the linear `decide`.

Before a first copy has loaded there is nothing to decide from: questions raise
`BlocklistUnavailable` rather than answer "allowed" for subjects that may well be
banned, unless the application chose `fail_open=True`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ._time import TimeLike, format_time, to_utc
from .emails import EmailKeyLike, as_email_key
from .index import Index
from .ipnet import IPAddress
from .model import Contents, Decision, Entry, Exemption, Query, Revocation, Skipped
from .reader import (
    BlocklistError,
    ErrorKind,
    PathLike,
    _load,
    is_document_file,
    log,
    warn_foreign_keys,
    warn_skipped,
)

#: Called with every answer `Blocklist.decide` gives: the `Decision`, or None when no
#: copy was loaded (the call raised `BlocklistUnavailable`, or answered "allowed"
#: under `fail_open=True`). `DecisionCounter` is one.
DecisionHook = Callable[[Optional[Decision]], None]

Fingerprint = Tuple[Any, ...]

# A version swapped while it was being read is read again, at most this many times.
_READ_ATTEMPTS = 5


def _data_target(directory: str) -> Optional[str]:
    try:
        return os.readlink(os.path.join(directory, "..data"))
    except OSError:
        return None


def fingerprint(directory: PathLike) -> Fingerprint:
    """What changes when the directory publishes a new version."""
    directory = os.fspath(directory)
    try:
        names = sorted(n for n in os.listdir(directory) if is_document_file(n))
    except OSError as e:
        return ("unreadable", type(e).__name__)
    stats: List[Tuple[Any, ...]] = []
    for name in names:
        try:
            st = os.stat(os.path.join(directory, name))
            stats.append((name, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
        except OSError:
            stats.append((name, None))
    return (_data_target(directory), tuple(stats))


class BlocklistUnavailable(BlocklistError):
    """No copy of the blocklist has been loaded yet (the mount is not populated, or
    every copy so far was refused), so `Blocklist` cannot tell who is banned. Raised
    by its questions unless it was built with `fail_open=True`. `kind` and the
    message come from the latest load error; `path` is the directory."""


class Blocklist:
    """The entries, exemptions and revocations of a blocklist directory, reloaded when
    it changes.

    `poll_interval` seconds between checks. With `background=True` (default) a daemon
    thread polls; with `background=False` a check runs on access (`decide`, `entries`,
    ...) when `poll_interval` has passed since the last one. `reload()` checks now.

    Like the Rust reader, a directory that cannot be loaded at start is not an error
    by default (an application may start before its mount is populated): `loaded`
    stays False and `last_error` says why. `require_initial=True` raises
    `BlocklistError` instead. Until a copy loads, `decide`, `silence_for` and
    `blocks_for` raise `BlocklistUnavailable` (fail closed: a subject that may be
    banned is never answered "allowed" for want of data); with `fail_open=True` they
    answer as if nobody were banned (allowed, no Silence, no blocks) instead. Once a
    copy has loaded, a later bad copy never takes it away.

    `on_decision` (a `DecisionHook`, e.g. a `DecisionCounter`) is called with every
    answer `decide` gives, and with None for each question asked before a copy
    loaded; an exception it raises is logged, never passed to the caller.

    `email_key` (an `EmailKey`, e.g. `EmailKey.from_file(path)`, or the key's
    bytes) is the operator's email hash key (`interdict run --email-hash-key-file`):
    a query's email, typed or `sha256:`, then also matches entries keyed with it;
    unkeyed entries match either way. Entries keyed with a key the reader does not
    hold can match nothing: each copy that has some logs a warning naming the key
    id, and `stats()["emailKeyMismatches"]` counts them.

    Counters: `reloads` counts the copies loaded (the first one included);
    `reload_failures` the copies refused (each bad copy once: it is not retried until
    the directory changes again; a missing directory or a directory without any
    document before the first load is "waiting", not a failure); `last_error` is the
    latest error while it describes the directory's current content (None once a good
    copy is loaded).
    """

    def __init__(
        self,
        path: PathLike,
        poll_interval: float = 1.0,
        *,
        background: bool = True,
        require_initial: bool = False,
        fail_open: bool = False,
        on_decision: Optional[DecisionHook] = None,
        logger: Optional[logging.Logger] = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        email_key: Optional[EmailKeyLike] = None,
    ) -> None:
        self.path = os.fspath(path)
        self.email_key = as_email_key(email_key)
        self.poll_interval = float(poll_interval)
        self.fail_open = fail_open
        self.on_decision = on_decision
        self._log = logger or log
        self._clock = clock
        self._lock = threading.Lock()
        # The copy in force and its lookup tables, swapped as one object.
        self._index = Index(email_key=self.email_key)
        # The same once a copy has loaded, None before: what questions answer from,
        # read once per question so "loaded" and the copy can never disagree.
        self._loaded_index: Optional[Index] = None
        # The copy in force with the items left out of it and its emails keyed
        # with a key this reader lacks, swapped as one object (`_index` alone is
        # what decisions read).
        self._copy: Tuple[Index, Tuple[Skipped, ...], Dict[str, int]] = (self._index, (), {})
        self._loaded_at: Optional[datetime] = None
        self._seen: Optional[Fingerprint] = None
        self._last_check = 0.0
        self.reloads = 0
        self.reload_failures = 0
        self.last_error: Optional[str] = None
        self._last_kind: ErrorKind = "empty"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

        error: Optional[BlocklistError] = None
        with self._lock:
            try:
                self._check_locked()
            except BlocklistError as e:
                error = e
        if error is not None and require_initial:
            raise error
        if background:
            # The thread holds only a weak reference: a Blocklist nobody uses any more
            # is collected and its thread ends, as with the Rust reader.
            self._thread = threading.Thread(
                target=_watch,
                args=(weakref.ref(self), self._stop, self.poll_interval),
                name=f"interdict-blocklist {self.path}",
                daemon=True,
            )
            self._thread.start()

    # ------------------------------------------------------------------ state

    @property
    def entries(self) -> Tuple[Entry, ...]:
        """The entries in force (a snapshot: never mutated in place)."""
        self._maybe_poll()
        return self._index.entries

    @property
    def exemptions(self) -> Tuple[Exemption, ...]:
        """The exemptions in force (a snapshot, loaded with the entries)."""
        self._maybe_poll()
        return self._index.exemptions

    @property
    def revocations(self) -> Tuple[Revocation, ...]:
        """The revocations of ended bans in force (a snapshot, loaded with the entries)."""
        self._maybe_poll()
        return self._index.revocations

    @property
    def contents(self) -> Contents:
        """The entries, exemptions and revocations in force, and the items left out of
        them, as `load_dir` returns them (one copy)."""
        self._maybe_poll()
        index, skipped, _ = self._copy
        return Contents(
            index.entries, index.exemptions, index.revocations, skipped, self.email_key
        )

    @property
    def skipped(self) -> Tuple[Skipped, ...]:
        """The items the copy in force held but the reader could not understand and
        left out (each logged as a warning when the copy was loaded)."""
        self._maybe_poll()
        return self._copy[1]

    @property
    def foreign_email_keys(self) -> Dict[str, int]:
        """Key id -> count of the items of the copy in force whose email is keyed with
        a key this reader does not hold: they match no query (logged as a warning
        when the copy was loaded)."""
        self._maybe_poll()
        return dict(self._copy[2])

    @property
    def index(self) -> Index:
        """The entries, exemptions and revocations in force with their lookup tables (a
        snapshot, rebuilt at every reload): what `decide`, `blocks_for` and
        `silence_for` ask."""
        self._maybe_poll()
        return self._index

    @property
    def loaded(self) -> bool:
        """A copy has been loaded (readiness)."""
        return self._loaded_at is not None

    @property
    def loaded_at(self) -> Optional[datetime]:
        """When the entries in force were read (UTC), None before any load."""
        return self._loaded_at

    def stats(self) -> Dict[str, Any]:
        """`{loaded, loadedAt, reloads, reloadFailures, entries, exemptions, revocations,
        skipped, emailKeyMismatches, lastError}` for health endpoints and metrics
        (`entries`, `exemptions`, `revocations`, `skipped`, the items left out, and
        `emailKeyMismatches`, the items keyed with a key this reader does not hold,
        count the copy in force)."""
        index, _, foreign = self._copy
        return {
            "loaded": self.loaded,
            "loadedAt": format_time(self._loaded_at) if self._loaded_at else None,
            "reloads": self.reloads,
            "reloadFailures": self.reload_failures,
            "entries": len(index.entries),
            "exemptions": len(index.exemptions),
            "revocations": len(index.revocations),
            "skipped": len(self._copy[1]),
            "emailKeyMismatches": sum(foreign.values()),
            "lastError": self.last_error,
        }

    # ------------------------------------------------------------------ questions

    def decide(self, query: Query, now: Optional[TimeLike] = None) -> Decision:
        """`decide` on the entries, exemptions and revocations in force; `now` defaults
        to the current time. The answer is the linear `decide`'s, found through the index.
        `revoke_sessions_before` can be set on allowed answers too. Before a first copy
        has loaded: raises `BlocklistUnavailable`, or answers allowed with
        `fail_open=True`. Every answer is passed to `on_decision`."""
        index = self._answering()
        if index is None:
            self._observe(None)
            if self.fail_open:
                return Decision.allow()
            raise self._unavailable()
        decision = index._decide(query, self._now(now))
        self._observe(decision)
        return decision

    def blocks_for(
        self,
        query: Optional[Query] = None,
        *,
        user_id: Optional[str] = None,
        username: Optional[str] = None,
        email: Optional[str] = None,
        ip: Optional[Union[str, IPAddress]] = None,
        key_fingerprint: Optional[str] = None,
        now: Optional[TimeLike] = None,
    ) -> List[Entry]:
        """Every entry of one subject in force or scheduled at `now` (for a "my block
        status" page), earliest `from` first, then by id. Give the identifiers as
        keywords or as a `Query` (its feature and scopes are ignored); without any
        identifier, ValueError. Use `entry.in_force(now)` / `entry.state(now)` to tell
        active from scheduled. Before a first copy has loaded: raises
        `BlocklistUnavailable`, or gives [] with `fail_open=True`."""
        if query is None:
            query = Query(
                feature="",
                user_id=user_id,
                username=username,
                email=email,
                ip=ip,
                key_fingerprint=key_fingerprint,
            )
        index = self._answering()
        if index is None:
            if self.fail_open:
                return []
            raise self._unavailable()
        return index._blocks_of(query, self._now(now))

    blocks_of = blocks_for  # the Rust reader's name

    def silence_for(self, query: Query, now: Optional[TimeLike] = None) -> Optional[Entry]:
        """The Silence ban in force for the query's subject, if any: their content is
        to be hidden from others (404). The feature of `query` does not matter;
        exemptions count as in `decide` (the answer is set exactly when a decision
        for the subject has `content_hidden`). Before a first copy has loaded: raises
        `BlocklistUnavailable`, or gives None with `fail_open=True`."""
        index = self._answering()
        if index is None:
            if self.fail_open:
                return None
            raise self._unavailable()
        return index._silence_for(query, self._now(now))

    def _answering(self) -> Optional[Index]:
        """The copy to answer from, None before a first one has loaded."""
        self._maybe_poll()  # with background=False this may load the first copy
        return self._loaded_index

    def _unavailable(self) -> BlocklistUnavailable:
        why = self.last_error or "not read yet"
        return BlocklistUnavailable(
            f"blocklist {self.path} has no copy loaded yet, so no request can be decided: {why}",
            self.path,
            self._last_kind,
        )

    def _observe(self, decision: Optional[Decision]) -> None:
        hook = self.on_decision
        if hook is None:
            return
        try:
            hook(decision)
        except Exception:  # an observer must never change the answer
            self._log.exception("interdict blocklist: on_decision hook failed")

    def _now(self, now: Optional[TimeLike]) -> datetime:
        return to_utc(self._clock() if now is None else now)

    # ------------------------------------------------------------------ reloading

    def reload(self) -> bool:
        """Checks the directory now. True: a new copy is in force; False: nothing
        changed. Raises `BlocklistError` when the new copy was refused (the previous
        one stays in force)."""
        with self._lock:
            return self._check_locked()

    def close(self) -> None:
        """Stops the background thread (if any)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    stop = close

    def __enter__(self) -> "Blocklist":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    def _maybe_poll(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        if time.monotonic() - self._last_check < self.poll_interval:
            return
        if self._lock.acquire(blocking=False):  # someone else is checking: use what we have
            try:
                self._check_locked()
            except BlocklistError:
                pass
            finally:
                self._lock.release()

    def _read(self) -> Tuple[Fingerprint, Union[Contents, BlocklistError]]:
        """One consistent version: read through `..data` when there is one, and again if
        the directory changed while reading. Gives the fingerprint of the version read
        with its contents, or with the error that refused it."""
        error: Optional[BlocklistError] = None
        for _ in range(_READ_ATTEMPTS):
            before = fingerprint(self.path)
            target = before[0] if isinstance(before[0], str) else None
            read_dir = os.path.join(self.path, target) if target else self.path
            if target and not os.path.isdir(read_dir):
                read_dir = self.path
            try:
                contents = _load(read_dir, self.path)
            except BlocklistError as e:
                error = e
                if fingerprint(self.path) != before:
                    continue  # swapped while reading: read the new version
                return before, e
            if fingerprint(self.path) == before:
                return before, contents
        if error is None:
            error = BlocklistError(f"blocklist directory {self.path} keeps changing", self.path, "file")
        return fingerprint(self.path), error

    def _check_locked(self) -> bool:
        self._last_check = time.monotonic()
        if self._seen is not None and fingerprint(self.path) == self._seen:
            return False
        seen, contents = self._read()
        if isinstance(contents, BlocklistError):
            e = contents
            self._seen = seen  # a refused version is not read again until it changes
            self.last_error = str(e)
            self._last_kind = e.kind
            if not self.loaded and e.kind in ("dir", "empty"):
                # Not a refused copy: the mount is simply not populated yet.
                self._log.info("interdict blocklist: waiting for %s: %s", self.path, e)
            else:
                self.reload_failures += 1
                self._log.warning(
                    "interdict blocklist: %s not reloaded; the previous copy stays in force "
                    "(%d entries): %s",
                    self.path,
                    len(self._index),
                    e,
                )
            raise e
        # Built before the swap: readers never wait for it.
        index = Index(contents, email_key=self.email_key)
        foreign = index.foreign_email_keys()
        self._seen = seen
        self._copy = (index, contents.skipped, foreign)
        self._index = index
        self._loaded_index = index
        self._loaded_at = datetime.now(timezone.utc)
        self.last_error = None
        self.reloads += 1
        # Once per copy: an unchanged directory is not read again.
        warn_skipped(contents.skipped, self._log)
        warn_foreign_keys(foreign, self.email_key, self._log)
        self._log.info(
            "interdict blocklist: loaded %s: %d entries, %d exemptions, %d revocations, "
            "%d skipped",
            self.path,
            len(index.entries),
            len(index.exemptions),
            len(index.revocations),
            len(contents.skipped),
        )
        return True


def _watch(ref: "weakref.ReferenceType[Blocklist]", stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        blocklist = ref()
        if blocklist is None:
            return
        try:
            blocklist.reload()
        except BlocklistError:
            pass  # counted and logged by _check_locked
        except Exception:  # never let the watcher die
            blocklist._log.exception(
                "interdict blocklist: unexpected error checking %s", blocklist.path
            )
        del blocklist


__all__ = ("Blocklist", "BlocklistUnavailable", "DecisionHook", "fingerprint")
