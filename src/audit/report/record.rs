//! One row of an audit report, whatever it was read from: an object as it
//! stands in the cluster, one of its Events, or one audit line. A plain struct,
//! so that filters, figures and renderers are functions of data and the
//! collection that fills it (API server, files) stays at the edge.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a row was read from.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An object as it is now: its row's action is its phase.
    Object,
    /// An Event regarding an object (the API server keeps them about an hour).
    Event,
    /// A line of an audit file (the durable record).
    Audit,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Object => "object",
            Source::Event => "event",
            Source::Audit => "audit",
        }
    }
}

/// Whether a moderator or a BanPolicy made a ban.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Manual,
    Automatic,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Manual => "manual",
            Origin::Automatic => "automatic",
        }
    }
}

/// The kinds a report reads, in the order reports list them.
pub const KINDS: [&str; 5] = [
    "UserBan",
    "FeatureBlock",
    "BanAppeal",
    "BanExemption",
    "BanPolicy",
];

/// Kinds that take something away from a subject.
pub fn is_ban(kind: &str) -> bool {
    kind == "UserBan" || kind == "FeatureBlock"
}

/// What is known about the object a row concerns. Every row of one object
/// carries the same facts once [`super::join`] has merged them, so the
/// figures can be computed from whichever of its rows a filter kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Where the object stands now: a ban's or appeal's `status.phase`, an
    /// exemption's `Active`/`Expired`, a policy's mode; `Deleted` for an
    /// object known only from a trail that ends with its deletion.
    pub phase: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// A ban's computed window (`status.effectiveFrom` / `status.expiresAt`).
    pub effective_from: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    /// When an appeal was decided (`status.decidedAt`).
    pub decided_at: Option<DateTime<Utc>>,
    /// A ban whose `spec.appeal.allowed` is true, or that received an appeal.
    pub appealable: bool,
    /// A ban that received an appeal the operator accepted (not refused).
    pub appealed: bool,
    /// An appeal's ban, `Kind/name` in the appeal's namespace.
    pub appeal_of: Option<String>,
    /// Who created, lifted, decided it, when recorded.
    pub created_by: Option<String>,
    pub lifted_by: Option<String>,
    pub decided_by: Option<String>,
    /// When and by whom it was deleted (its `Deleted` audit line).
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<String>,
}

impl Facts {
    /// Fills what `self` does not know from `other`.
    pub fn fill_from(&mut self, other: &Facts) {
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.phase, &other.phase);
        fill(&mut self.created, &other.created);
        fill(&mut self.effective_from, &other.effective_from);
        fill(&mut self.expires_at, &other.expires_at);
        fill(&mut self.lifted_at, &other.lifted_at);
        fill(&mut self.decided_at, &other.decided_at);
        fill(&mut self.appeal_of, &other.appeal_of);
        fill(&mut self.created_by, &other.created_by);
        fill(&mut self.lifted_by, &other.lifted_by);
        fill(&mut self.decided_by, &other.decided_by);
        fill(&mut self.deleted_at, &other.deleted_at);
        fill(&mut self.deleted_by, &other.deleted_by);
        self.appealable |= other.appealable;
        self.appealed |= other.appealed;
    }
}

/// One row of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub source: Source,
    /// An object's creation, an Event's time, an audit line's `time`.
    pub time: DateTime<Utc>,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// An object row's phase; an Event's reason or an audit line's action.
    pub action: String,
    /// The subject as published (`userId:42`, `email:sha256:<hex>`): an
    /// address is never held in clear. An appeal carries its ban's.
    pub subject: Option<String>,
    /// The reason code (`spam`); an appeal carries its ban's.
    pub reason: Option<String>,
    pub actor: Option<String>,
    /// Bans only (and appeals, from their ban).
    pub origin: Option<Origin>,
    /// The BanPolicy that made an automatic ban.
    pub policy: Option<String>,
    pub message: Option<String>,
    /// The transition id shared by an Event and its audit line.
    pub transition: Option<String>,
    pub facts: Facts,
}

impl Record {
    /// A row with only its identity; the rest is filled by who makes it.
    pub fn new(
        source: Source,
        time: DateTime<Utc>,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Record {
            source,
            time,
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            action: String::new(),
            subject: None,
            reason: None,
            actor: None,
            origin: None,
            policy: None,
            message: None,
            transition: None,
            facts: Facts::default(),
        }
    }

    /// Which object the row concerns: kind, namespace, name.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The phase used by `--outcome`: the object's, else what the row says.
    pub fn phase(&self) -> Option<&str> {
        self.facts.phase.as_deref()
    }
}

/// An object's identity across sources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// Rows in report order: by time, then by object, objects before their trail.
pub fn sort(records: &mut [Record]) {
    records.sort_by(|a, b| {
        (a.time, &a.namespace, &a.kind, &a.name, a.source, &a.action).cmp(&(
            b.time,
            &b.namespace,
            &b.kind,
            &b.name,
            b.source,
            &b.action,
        ))
    });
}
