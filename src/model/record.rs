//! What the model keeps of each ban and exemption.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::core::Entry;
use crate::core::compile::{CompileError, CompiledBan};
use crate::core::{EntryKind, Exemption, Revocation, SubjectKey};

/// A ban's identity in its namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BanKey {
    pub kind: EntryKind,
    pub name: String,
}

impl BanKey {
    /// `UserBan/<name>`: the published entry's id, which picks its shard.
    pub fn id(&self) -> String {
        let kind = match self.kind {
            EntryKind::UserBan => "UserBan",
            EntryKind::FeatureBlock => "FeatureBlock",
        };
        format!("{kind}/{}", self.name)
    }
}

/// An object's uid, as 128 bits of its SHA-256: what tells one object from
/// another of the same name (deleted and created again) in 16 bytes rather
/// than the 60 a uid string takes, once per ban. Not chosen by whoever
/// names objects (the API server sets uids), so collisions need no defence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Uid([u8; 16]);

impl Uid {
    /// `None` for an object without a uid (not yet created).
    pub fn of(uid: Option<&str>) -> Option<Uid> {
        use sha2::{Digest, Sha256};
        let uid = uid.filter(|u| !u.is_empty())?;
        let digest = Sha256::digest(uid.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        // Bytes, not a u128: an `Option` of them fits in the record's
        // padding, where a u128's 16-byte alignment would round the record up.
        Some(Uid(first))
    }
}

/// What ingest extracts from a ban object: everything the model needs, and
/// nothing more (no spec, no status, no metadata beyond identity).
#[derive(Clone, Debug)]
pub struct BanFacts {
    pub key: BanKey,
    pub uid: Option<Uid>,
    pub generation: Option<i64>,
    /// Compiled once per resourceVersion, shared with whoever else needs it.
    pub compiled: Arc<Result<CompiledBan, CompileError>>,
    /// When the ban was lifted (its status, `spec.lift` or an approved
    /// appeal), and who or what lifted it (`spec.lift`, `BanAppeal/<name>`,
    /// a moderator; empty when the status names none). Boxed: most bans are
    /// never lifted, and the pair inline cost 32 bytes in every record.
    pub lifted: Option<Box<(DateTime<Utc>, String)>>,
    /// Being deleted: publishes nothing any more.
    pub deleting: bool,
    /// When a permanent ban is due for review.
    pub review_at: Option<DateTime<Utc>>,
    /// When a notification of it is due to be tried again.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What an echo (this process's own write to a ban, returning through the
/// watch) can tell the model: the status and metadata facts it keeps. Read without the ban's spec, which an echo leaves as it
/// was at the same generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoFacts {
    pub key: BanKey,
    pub uid: Option<Uid>,
    pub generation: Option<i64>,
    /// The status's lift: when, and by what (empty when the status names none).
    pub lifted: Option<(DateTime<Utc>, String)>,
    pub deleting: bool,
    pub retry_at: Option<DateTime<Utc>>,
}

impl EchoFacts {
    /// Whether `facts` already say everything this echo says.
    pub fn agrees_with(&self, facts: &BanFacts) -> bool {
        facts.key == self.key
            && facts.uid == self.uid
            && facts.generation == self.generation
            && facts.deleting == self.deleting
            && facts.retry_at == self.retry_at
            && facts.lifted.as_deref() == self.lifted.as_ref()
    }
}

/// What ingest extracts from an exemption object.
#[derive(Clone, Debug)]
pub struct ExemptionFacts {
    pub name: String,
    pub compiled: Result<Exemption, CompileError>,
    pub deleting: bool,
}

impl ExemptionFacts {
    /// When what it publishes changes by itself: its end.
    pub fn timeline(&self) -> Vec<DateTime<Utc>> {
        self.compiled
            .as_ref()
            .ok()
            .and_then(|x| x.until)
            .into_iter()
            .collect()
    }

    /// The exemption as published at `now`, if it is.
    pub fn in_force(&self, now: DateTime<Utc>) -> Option<&Exemption> {
        self.compiled
            .as_ref()
            .ok()
            .filter(|x| !self.deleting && x.in_force(now))
    }
}

/// What one ban contributes to its shard at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    Nothing,
    /// In force or scheduled.
    Entry(SharedEntry),
    /// Ended, but its session revocation still holds. Boxed: rare, and
    /// four times the size of the other variants in every ban's record.
    Revocation(Box<Revocation>),
}

/// A published entry, shared with the ban's compiled form rather than
/// copied: the record and the shard hold a pointer each, so 100k bans keep
/// one copy of their entries, not three.
#[derive(Clone, Debug)]
pub struct SharedEntry(Arc<Result<CompiledBan, CompileError>>);

impl SharedEntry {
    /// `None` for a ban that did not compile: it publishes nothing.
    fn of(compiled: &Arc<Result<CompiledBan, CompileError>>) -> Option<SharedEntry> {
        compiled.is_ok().then(|| SharedEntry(compiled.clone()))
    }

    pub fn entry(&self) -> &Entry {
        match self.0.as_ref() {
            Ok(compiled) => &compiled.entry,
            Err(_) => unreachable!("only compiled bans are shared as entries"),
        }
    }
}

impl PartialEq for SharedEntry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.entry() == other.entry()
    }
}

impl Eq for SharedEntry {}

impl BanFacts {
    pub fn subject(&self) -> Option<&SubjectKey> {
        Some(&self.compiled.as_ref().as_ref().ok()?.entry.subject)
    }

    /// When it was lifted, if it was.
    pub fn lifted_at(&self) -> Option<DateTime<Utc>> {
        self.lifted.as_ref().map(|lift| lift.0)
    }

    /// When it stopped applying, once it has: lifted, or expired.
    pub fn ended_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let compiled = self.compiled.as_ref().as_ref().ok()?;
        match self.lifted_at() {
            Some(at) if at <= now => Some(at),
            _ => compiled.window.until.filter(|until| *until <= now),
        }
    }

    /// What it publishes at `now`, given whether an exemption holds it back.
    /// The same rules as a from-scratch pass over the namespace.
    pub fn published(&self, exempted: bool, now: DateTime<Utc>, retention: Duration) -> Published {
        let Ok(compiled) = self.compiled.as_ref() else {
            return Published::Nothing;
        };
        if self.deleting || exempted {
            return Published::Nothing;
        }
        let entry = &compiled.entry;
        match self.ended_at(now) {
            None => SharedEntry::of(&self.compiled).map_or(Published::Nothing, Published::Entry),
            Some(end) => match entry.revoke_sessions_before {
                Some(before) if now < end + retention => {
                    Published::Revocation(Box::new(Revocation {
                        id: entry.id.clone(),
                        subject: entry.subject.clone(),
                        before,
                        until: end + retention,
                    }))
                }
                _ => Published::Nothing,
            },
        }
    }

    /// Every future time at which what it publishes, or its status, changes
    /// by itself: its start, its end, the end of its revocation window, its
    /// review date.
    pub fn timeline(&self, retention: Duration) -> Vec<DateTime<Utc>> {
        let Ok(compiled) = self.compiled.as_ref() else {
            return Vec::new();
        };
        let window = compiled.window;
        // Both possible ends and both revocation ends: which one applies
        // depends on the time (a lift only counts once it has happened), and
        // a wake-up too many costs nothing.
        let ends = [self.lifted_at(), window.until];
        let revocation_ends = ends
            .into_iter()
            .flatten()
            .filter(|_| compiled.entry.revoke_sessions_before.is_some())
            .map(|end| end + retention);
        [Some(window.from), self.review_at, self.retry_at]
            .into_iter()
            .chain(ends)
            .flatten()
            .chain(revocation_ends)
            .collect()
    }
}
