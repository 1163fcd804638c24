//! A blocklist that follows its directory: kubelet replaces a mounted ConfigMap
//! by swapping the `..data` symlink, so the directory (not a file) is watched.
//! A copy that fails to load never replaces the last good one; a copy with
//! items the reader cannot understand is used without them, and says so. So
//! does a copy with emails keyed under a key the reader does not hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::{ReadError, Skipped, document_names, load, warn_skipped};
use crate::core::{Decision, EmailKey, Entry, Index, Query};

/// One loaded version of the blocklist.
pub struct Snapshot {
    pub index: Index,
    pub loaded_at: SystemTime,
    /// The items this copy's documents held but the reader left out.
    pub skipped: Vec<Skipped>,
    /// Items whose email is keyed under a key this reader does not hold, by
    /// key id (see [`Index::foreign_email_keys`]): their bans are not enforced.
    pub foreign_email_keys: BTreeMap<String, usize>,
    pub source: Source,
}

/// Where the copy in force came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// The mounted directory (kubelet refreshes it 60–90 s after a change).
    #[default]
    Directory,
    /// The namespace's blocklist ConfigMaps, watched on the API server
    /// (a change arrives in well under a second).
    ApiServer,
}

/// Counters for health checks and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub loaded: bool,
    pub reloads: u64,
    pub reload_failures: u64,
    pub entries: usize,
    /// Entries, exemptions and revocations left out of the copy in force
    /// because the reader could not understand them (each logged when the
    /// copy was loaded).
    pub skipped: usize,
    /// Items of the copy in force whose email is keyed under a key this reader
    /// does not hold (or with no key at all), so no query can match them;
    /// logged once per copy with the key ids.
    pub email_key_mismatches: usize,
    pub last_error: Option<String>,
    pub source: Source,
}

struct Shared {
    dir: PathBuf,
    email_key: Option<EmailKey>,
    current: RwLock<Arc<Snapshot>>,
    loaded: AtomicBool,
    reloads: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// What the directory looked like at the last attempt, to skip unchanged reads.
    seen: Mutex<Option<Fingerprint>>,
    stopped: AtomicBool,
    /// An API-server watch delivers copies and is healthy: the directory (an
    /// older copy of the same ConfigMaps) is not read meanwhile.
    api_current: AtomicBool,
    hook: RwLock<Option<DecisionHook>>,
}

/// Called with every decision [`Blocklist::decide`] returns (e.g.
/// [`super::DecisionCounts::record`]); keep it cheap, it runs on each request.
pub type DecisionHook = Arc<dyn Fn(&Decision) + Send + Sync>;

/// Cheap identity of the directory's content: the `..data` target kubelet swaps,
/// and name, size and mtime of every document file (for hand-made directories).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    data_link: Option<PathBuf>,
    files: Vec<(String, u64, Option<SystemTime>)>,
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let files = document_names(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let meta = std::fs::metadata(dir.join(&name)).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            (name, size, meta.and_then(|m| m.modified().ok()))
        })
        .collect();
    Fingerprint {
        data_link: std::fs::read_link(dir.join("..data")).ok(),
        files,
    }
}

/// A shared, hot-reloading blocklist. Cloning is cheap; all clones see one copy.
#[derive(Clone)]
pub struct Blocklist {
    shared: Arc<Shared>,
}

impl Blocklist {
    /// Loads `dir` now if it can; a missing or bad directory is not an error here
    /// (an application may start before its mount is populated): [`Stats::loaded`]
    /// says whether any copy has been loaded yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::open(dir.into(), None)
    }

    /// [`Blocklist::new`] for an application that holds the operator's email
    /// key (`--email-hash-key-file`): a query's email, typed or `sha256:`,
    /// also matches entries keyed with it. Unkeyed entries still match.
    pub fn with_email_key(dir: impl Into<PathBuf>, key: EmailKey) -> Self {
        Self::open(dir.into(), Some(key))
    }

    fn open(dir: PathBuf, email_key: Option<EmailKey>) -> Self {
        let blocklist = Blocklist {
            shared: Arc::new(Shared {
                dir,
                email_key,
                current: RwLock::new(Arc::new(Snapshot {
                    index: Index::default(),
                    loaded_at: SystemTime::now(),
                    skipped: Vec::new(),
                    foreign_email_keys: BTreeMap::new(),
                    source: Source::Directory,
                })),
                loaded: AtomicBool::new(false),
                reloads: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                last_error: Mutex::new(None),
                seen: Mutex::new(None),
                stopped: AtomicBool::new(false),
                api_current: AtomicBool::new(false),
                hook: RwLock::new(None),
            }),
        };
        let _ = blocklist.reload();
        blocklist
    }

    /// Like [`Blocklist::new`], then checks the directory every `interval` on a
    /// background thread until the last clone is dropped or [`Blocklist::stop`].
    pub fn watch(dir: impl Into<PathBuf>, interval: Duration) -> Self {
        Blocklist::new(dir).watching(interval)
    }

    /// Checks the directory every `interval` on a background thread until
    /// the last clone is dropped or [`Blocklist::stop`], e.g.
    /// `Blocklist::with_email_key(dir, key).watching(interval)`.
    pub fn watching(self, interval: Duration) -> Self {
        let blocklist = self;
        let weak = Arc::downgrade(&blocklist.shared);
        std::thread::Builder::new()
            .name("interdict-blocklist-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    let Some(shared) = weak.upgrade() else { return };
                    if shared.stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let _ = (Blocklist { shared }).reload();
                }
            })
            .expect("spawn the blocklist watch thread");
        blocklist
    }

    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Reloads when the directory changed. `Ok(true)`: a new copy is in force;
    /// `Ok(false)`: nothing changed; `Err`: the new copy was refused and the
    /// previous one stays in force.
    pub fn reload(&self) -> Result<bool, ReadError> {
        let shared = &self.shared;
        if shared.api_current.load(Ordering::Acquire) {
            return Ok(false);
        }
        let now_seen = fingerprint(&shared.dir);
        {
            let mut seen = shared.seen.lock().expect("fingerprint lock");
            if seen.as_ref() == Some(&now_seen) {
                return Ok(false);
            }
            *seen = Some(now_seen);
        }
        match load(&shared.dir) {
            Ok(loaded) => {
                // Once per copy: an unchanged directory is not read again.
                self.put_in_force(loaded, Source::Directory);
                Ok(true)
            }
            Err(error) => {
                *shared.last_error.lock().expect("error lock") = Some(error.to_string());
                let waiting = !shared.loaded.load(Ordering::Acquire)
                    && matches!(error, ReadError::Dir { .. } | ReadError::Empty(_));
                if waiting {
                    // Not a refused copy: the mount is simply not populated yet.
                    tracing::info!(dir = %shared.dir.display(), %error, "waiting for a blocklist");
                } else {
                    shared.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        dir = %shared.dir.display(),
                        %error,
                        "blocklist not reloaded; the previous copy stays in force"
                    );
                }
                Err(error)
            }
        }
    }

    /// Puts a copy read from the API server in force (see
    /// [`crate::reader::api_source`]); the directory is not read again until
    /// [`Blocklist::api_lost`].
    pub fn install(&self, loaded: super::Loaded) {
        self.put_in_force(loaded, Source::ApiServer);
        self.shared.api_current.store(true, Ordering::Release);
    }

    /// A copy from the API server was refused (an incomplete shard set, a bad
    /// document): counted like a refused directory copy; the copy in force stays.
    pub fn refused(&self, error: &ReadError) {
        let shared = &self.shared;
        shared.failures.fetch_add(1, Ordering::Relaxed);
        *shared.last_error.lock().expect("error lock") = Some(error.to_string());
        tracing::warn!(%error, "blocklist from the API server not used; the previous copy stays in force");
    }

    /// The API-server watch failed: the mounted directory takes over again
    /// (read at the next check, whatever its fingerprint).
    pub fn api_lost(&self) {
        if self.shared.api_current.swap(false, Ordering::AcqRel) {
            *self.shared.seen.lock().expect("fingerprint lock") = None;
            tracing::warn!(
                "blocklist watch on the API server lost; following the mounted directory"
            );
        }
    }

    fn put_in_force(&self, loaded: super::Loaded, source: Source) {
        let shared = &self.shared;
        let count = loaded.contents.entries.len();
        let skipped = loaded.skipped.len();
        warn_skipped(&loaded.skipped);
        let index = Index::new(loaded.contents).with_email_key(shared.email_key.clone());
        let foreign_email_keys = index.foreign_email_keys();
        warn_foreign_keys(&foreign_email_keys, shared.email_key.as_ref());
        let snapshot = Arc::new(Snapshot {
            index,
            loaded_at: SystemTime::now(),
            skipped: loaded.skipped,
            foreign_email_keys,
            source,
        });
        *shared.current.write().expect("snapshot lock") = snapshot;
        shared.loaded.store(true, Ordering::Release);
        shared.reloads.fetch_add(1, Ordering::Relaxed);
        *shared.last_error.lock().expect("error lock") = None;
        let dir = shared.dir.display();
        tracing::info!(%dir, ?source, entries = count, skipped, "blocklist loaded");
    }

    /// The copy in force; hold it to answer several questions from one version.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current.read().expect("snapshot lock").clone()
    }

    /// The decision from the copy in force. Before any copy has loaded
    /// ([`Stats::loaded`] false) this would answer from nothing: use
    /// [`Blocklist::try_decide`] to refuse instead.
    pub fn decide(&self, query: &Query, now: DateTime<Utc>) -> Decision {
        let decision = self.snapshot().index.decide(query, now);
        if let Some(hook) = self.shared.hook.read().expect("hook lock").as_ref() {
            hook(&decision);
        }
        decision
    }

    /// [`Blocklist::decide`], or `None` while no copy has loaded: nothing
    /// loaded is not "nobody is banned".
    pub fn try_decide(&self, query: &Query, now: DateTime<Utc>) -> Option<Decision> {
        self.shared
            .loaded
            .load(Ordering::Acquire)
            .then(|| self.decide(query, now))
    }

    /// Calls `hook` with every decision from now on (replacing any earlier one).
    pub fn set_decision_hook(&self, hook: DecisionHook) {
        *self.shared.hook.write().expect("hook lock") = Some(hook);
    }

    /// Every active and scheduled block of the query's subject.
    pub fn blocks_of(&self, query: &Query, now: DateTime<Utc>) -> Vec<Entry> {
        self.snapshot()
            .index
            .blocks_of(query, now)
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> Stats {
        let shared = &self.shared;
        let snapshot = self.snapshot();
        Stats {
            loaded: shared.loaded.load(Ordering::Acquire),
            reloads: shared.reloads.load(Ordering::Relaxed),
            reload_failures: shared.failures.load(Ordering::Relaxed),
            entries: snapshot.index.len(),
            skipped: snapshot.skipped.len(),
            email_key_mismatches: snapshot.foreign_email_keys.values().sum(),
            last_error: shared.last_error.lock().expect("error lock").clone(),
            source: snapshot.source,
        }
    }
}

/// One warning per key id a copy's keyed emails use that this reader does not
/// hold: those bans cannot be enforced here, and that must not pass silently.
pub(crate) fn warn_foreign_keys(foreign: &BTreeMap<String, usize>, own: Option<&EmailKey>) {
    for (key_id, items) in foreign {
        match own {
            Some(own) => tracing::warn!(
                key_id = %key_id,
                own_key_id = own.id(),
                items,
                "blocklist emails keyed with another email hash key; they match no query here, \
                 so those bans are not enforced: give this reader the operator's key"
            ),
            None => tracing::warn!(
                key_id = %key_id,
                items,
                "blocklist emails keyed with an email hash key this reader does not have; they \
                 match no query here, so those bans are not enforced: give this reader the \
                 operator's key (--email-hash-key-file)"
            ),
        }
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
