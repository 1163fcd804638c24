//! Which objects changed in each namespace since its last pass. The watch
//! feeder records every change here (its own writes' echoes too: they carry
//! the status the model reads, such as a notification's retry time); the
//! pass takes a namespace's changes and folds only those objects into its
//! model. A ban's echo is kept apart: the pass first tries to take it in
//! without reading the whole object (see `ingest::EchoView`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::api::BanKind;
use crate::core::EntryKind;
use crate::model::BanKey;

/// What changed in one namespace since its last pass.
#[derive(Default, Debug)]
pub struct Pending {
    pub bans: BTreeSet<BanKey>,
    /// Bans whose only news since the last pass is this process's own write
    /// returning through the watch (a ban also in `bans` is read whole).
    pub echoes: BTreeSet<BanKey>,
    pub exemptions: BTreeSet<String>,
    pub appeals: bool,
    pub blocklists: bool,
    /// Rebuild the model from the stores: after a re-list, or on first sight.
    pub everything: bool,
}

#[derive(Default)]
pub struct Changes {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Changes {
    fn with(&self, namespace: &str, change: impl FnOnce(&mut Pending)) {
        let mut pending = self.pending.lock().expect("changes lock");
        change(pending.entry(namespace.to_string()).or_default());
    }

    /// Records that object `name` of kind `kind` changed in `namespace`.
    pub fn object(&self, kind: &str, namespace: &str, name: &str) {
        self.with(namespace, |p| match kind {
            "UserBan" => {
                p.bans.insert(key(BanKind::UserBan, name));
            }
            "FeatureBlock" => {
                p.bans.insert(key(BanKind::FeatureBlock, name));
            }
            "BanExemption" => {
                p.exemptions.insert(name.to_string());
            }
            "BanAppeal" => p.appeals = true,
            "ConfigMap" => p.blocklists = true,
            _ => p.everything = true,
        });
    }

    /// Records that a ban's watch event was exactly this process's own write;
    /// returns how many such echoes its namespace now holds.
    pub fn echo(&self, kind: &str, namespace: &str, name: &str) -> usize {
        let kind = match kind {
            "UserBan" => BanKind::UserBan,
            "FeatureBlock" => BanKind::FeatureBlock,
            _ => {
                self.object(kind, namespace, name);
                return 0;
            }
        };
        let mut held = 0;
        self.with(namespace, |p| {
            p.echoes.insert(key(kind, name));
            held = p.echoes.len();
        });
        held
    }

    /// Records that the namespace's blocklists must be compared again.
    pub fn blocklists(&self, namespace: &str) {
        self.with(namespace, |p| p.blocklists = true);
    }

    pub fn everything(&self, namespace: &str) {
        self.with(namespace, |p| p.everything = true);
    }

    pub fn take(&self, namespace: &str) -> Pending {
        self.pending
            .lock()
            .expect("changes lock")
            .remove(namespace)
            .unwrap_or_default()
    }
}

pub fn entry_kind(kind: BanKind) -> EntryKind {
    match kind {
        BanKind::UserBan => EntryKind::UserBan,
        BanKind::FeatureBlock => EntryKind::FeatureBlock,
    }
}

pub fn ban_kind(kind: EntryKind) -> BanKind {
    match kind {
        EntryKind::UserBan => BanKind::UserBan,
        EntryKind::FeatureBlock => BanKind::FeatureBlock,
    }
}

pub fn key(kind: BanKind, name: &str) -> BanKey {
    BanKey {
        kind: entry_kind(kind),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_counted_by_namespace_and_other_kinds_recorded_as_changes() {
        let changes = Changes::default();
        assert_eq!(changes.echo("UserBan", "a", "b1"), 1);
        assert_eq!(changes.echo("UserBan", "a", "b1"), 1, "one ban once");
        assert_eq!(changes.echo("FeatureBlock", "a", "b1"), 2);
        assert_eq!(changes.echo("UserBan", "other", "b1"), 1);
        assert_eq!(changes.echo("BanExemption", "a", "x"), 0);
        let pending = changes.take("a");
        assert_eq!(pending.echoes.len(), 2);
        assert!(pending.bans.is_empty());
        assert!(pending.exemptions.contains("x"));
        assert_eq!(changes.take("a").echoes.len(), 0, "taken");
    }
}
