"""A blocklist directory kept current while the application runs.

kubelet publishes a new version of a mounted ConfigMap by writing a timestamped
directory (`..2026_11_21_10_00_00.123456789`) and atomically renaming a new `..data`
symlink over the old one; the visible files are symlinks through `..data`. `Blocklist`
notices a new version by comparing, at every poll, the `..data` target and the name,
size, mtime and inode of every document file (so plain directories work too), and
reads a version through the directory `..data` points to, so all shards come from
the same version.

A version that cannot be loaded (malformed JSON, unknown format, ...) never replaces
the last good entries: it is counted in `reload_failures`, kept in `last_error`,
logged, and not retried until the directory changes again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Iterable, List, Optional, Tuple

from ._time import TimeLike, to_utc
from .decision import decide, silence_of, subject_matcher
from .model import Decision, Entry, Query
from .reader import BlocklistError, PathLike, _load, is_document_file

log = logging.getLogger("interdict_blocklist")

Fingerprint = Tuple[object, ...]

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
    stats = []
    for name in names:
        try:
            st = os.stat(os.path.join(directory, name))
            stats.append((name, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
        except OSError:
            stats.append((name, None))
    return (_data_target(directory), tuple(stats))


class Blocklist:
    """The entries of a blocklist directory, reloaded when it changes.

    `poll_interval` seconds between checks. With `background=True` (default) a daemon
    thread polls; with `background=False` a check runs on access (`decide`, `entries`,
    ...) when `poll_interval` has passed since the last one. `reload()` checks now.

    The first load must succeed (`BlocklistError` otherwise) unless
    `require_initial=False`, in which case the blocklist starts empty, records the
    error and keeps trying.

    Counters: `reloads` is the number of new versions loaded after the first load;
    `reload_failures` the number of versions that could not be loaded (each bad
    version counts once: it is not retried until the directory changes again);
    `last_error` the message of the latest failure while it is the directory's
    current content (None once a good version is loaded).
    """

    def __init__(
        self,
        path: PathLike,
        poll_interval: float = 1.0,
        *,
        background: bool = True,
        require_initial: bool = True,
        logger: Optional[logging.Logger] = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.path = os.fspath(path)
        self.poll_interval = float(poll_interval)
        self._log = logger or log
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: Tuple[Entry, ...] = ()
        self._loaded_at: Optional[datetime] = None
        self._seen: Optional[Fingerprint] = None
        self._last_check = 0.0
        self.reloads = 0
        self.reload_failures = 0
        self.last_error: Optional[str] = None
        self.last_error_at: Optional[datetime] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

        with self._lock:
            ok = self._check_locked(initial=True)
        if not ok and require_initial:
            raise BlocklistError(self.last_error or f"cannot load {self.path}", self.path)
        if background:
            self._thread = threading.Thread(
                target=self._run, name=f"interdict-blocklist {self.path}", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------ state

    @property
    def entries(self) -> Tuple[Entry, ...]:
        """The last good entries (a snapshot: never mutated in place)."""
        self._maybe_poll()
        return self._entries

    @property
    def loaded_at(self) -> Optional[datetime]:
        """When the current entries were read (UTC), None before any good load."""
        return self._loaded_at

    @property
    def healthy(self) -> bool:
        """The directory's current content is what is in use."""
        return self._loaded_at is not None and self.last_error is None

    # ------------------------------------------------------------------ questions

    def decide(self, query: Query, now: TimeLike = None) -> Decision:
        """`decide` on the current entries; `now` defaults to the current time."""
        return decide(self.entries, query, self._now(now))

    def blocks_for(
        self,
        *,
        user_id: Optional[str] = None,
        username: Optional[str] = None,
        email: Optional[str] = None,
        ip=None,
        key_fingerprint: Optional[str] = None,
        now: TimeLike = None,
    ) -> List[Entry]:
        """Every active and scheduled entry of one subject (for "my block status"),
        ordered by `from`, then id. Use `entry.state(now)` to tell them apart."""
        now = self._now(now)
        query = Query(
            feature="",
            user_id=user_id,
            username=username,
            email=email,
            ip=ip,
            key_fingerprint=key_fingerprint,
        )
        matches = subject_matcher(query)
        found = [e for e in self.entries if (e.until is None or now < e.until) and matches(e)]
        return sorted(found, key=lambda e: (e.from_, e.id))

    def silence_for(self, query: Query, now: TimeLike = None) -> Optional[Entry]:
        """The Silence ban in force for the query's subject, if any: their content is
        to be hidden from others (404). The feature of `query` does not matter."""
        return silence_of(self.entries, query, self._now(now))

    def _now(self, now: TimeLike) -> datetime:
        return to_utc(self._clock() if now is None else now)

    # ------------------------------------------------------------------ reloading

    def reload(self) -> bool:
        """Checks the directory now; True when new entries were loaded."""
        with self._lock:
            return self._check_locked()

    def close(self) -> None:
        """Stops the background thread (if any)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> "Blocklist":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.reload()
            except Exception:  # never let the watcher die
                self._log.exception("interdict blocklist: unexpected error checking %s", self.path)

    def _maybe_poll(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        now = time.monotonic()
        if now - self._last_check < self.poll_interval:
            return
        if self._lock.acquire(blocking=False):  # someone else is checking: use what we have
            try:
                self._check_locked()
            finally:
                self._lock.release()

    def _read(self) -> Tuple[Fingerprint, List[Entry]]:
        """One consistent version: read through `..data` when there is one, and again if
        the directory changed while reading."""
        last_error: Optional[BlocklistError] = None
        for _ in range(_READ_ATTEMPTS):
            before = fingerprint(self.path)
            target = before[0] if isinstance(before[0], str) else None
            read_dir = os.path.join(self.path, target) if target else self.path
            if target and not os.path.isdir(read_dir):
                read_dir = self.path
            try:
                entries = _load(read_dir, self.path)
            except BlocklistError as e:
                if fingerprint(self.path) != before:
                    last_error = e
                    continue
                e.fingerprint = before  # type: ignore[attr-defined]
                raise
            if fingerprint(self.path) == before:
                return before, entries
        if last_error is not None:
            last_error.fingerprint = fingerprint(self.path)  # type: ignore[attr-defined]
            raise last_error
        raise BlocklistError(f"blocklist directory {self.path} keeps changing", self.path)

    def _check_locked(self, initial: bool = False) -> bool:
        self._last_check = time.monotonic()
        current = fingerprint(self.path)
        if not initial and current == self._seen:
            return False
        try:
            seen, entries = self._read()
        except BlocklistError as e:
            self._seen = getattr(e, "fingerprint", current)
            self.last_error = str(e)
            self.last_error_at = datetime.now(timezone.utc)
            self.reload_failures += 1
            if self._loaded_at is None:
                self._log.error("interdict blocklist: cannot load %s: %s", self.path, e)
            else:
                self._log.error(
                    "interdict blocklist: keeping the %d entries loaded at %s: %s",
                    len(self._entries),
                    self._loaded_at.isoformat(),
                    e,
                )
            return False
        self._seen = seen
        self._entries = tuple(entries)
        self._loaded_at = datetime.now(timezone.utc)
        self.last_error = None
        if not initial:
            self.reloads += 1
            self._log.info(
                "interdict blocklist: reloaded %s: %d entries", self.path, len(self._entries)
            )
        return True


__all__: Iterable[str] = ("Blocklist", "fingerprint")
