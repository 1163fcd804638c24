//! Each ban compiled once per resourceVersion: a pass over 100k bans looks
//! them up instead of compiling every one again (≈ 1.6 µs each). The status
//! worker's snapshot shares the same copies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::assess::Compiled;
use super::ban::BanResource;
use crate::core::EmailKey;

/// By uid: the resourceVersion compiled, the pass that last saw it, and the result.
type Known = HashMap<String, (String, u64, Compiled)>;

#[derive(Default)]
pub struct CompiledBans {
    /// By kind and namespace (`UserBan/apps`).
    namespaces: Mutex<HashMap<String, Known>>,
    passes: AtomicU64,
}

impl CompiledBans {
    /// The compiled form of each object of one kind in one namespace (the
    /// whole list: entries for bans that are gone are dropped).
    /// `key` is the operator's email key, the same for the whole process, so
    /// it is not part of what a cached copy depends on.
    pub fn all<K: BanResource>(
        &self,
        namespace: &str,
        objects: &[Arc<K>],
        key: Option<&EmailKey>,
    ) -> Vec<Compiled> {
        let pass = self.passes.fetch_add(1, Ordering::Relaxed) + 1;
        let mut namespaces = self.namespaces.lock().expect("compiled lock");
        let known = namespaces
            .entry(format!("{}/{namespace}", K::kind(&())))
            .or_default();
        let compiled = objects
            .iter()
            .map(|object| {
                let meta = object.meta();
                let uid = meta.uid.as_deref().unwrap_or_default();
                let version = meta.resource_version.as_deref().unwrap_or_default();
                match known.get_mut(uid) {
                    Some((seen, last, compiled)) if seen == version => {
                        *last = pass;
                        compiled.clone()
                    }
                    _ => {
                        let compiled = Arc::new(object.compile(key));
                        known.insert(
                            uid.to_string(),
                            (version.to_string(), pass, compiled.clone()),
                        );
                        compiled
                    }
                }
            })
            .collect();
        known.retain(|_, (_, last, _)| *last == pass);
        compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserBan;

    fn ban(uid: &str, version: &str, user: &str) -> Arc<UserBan> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
                "metadata": { "name": uid, "namespace": "ns", "uid": uid, "resourceVersion": version,
                    "creationTimestamp": "2026-01-01T00:00:00Z" },
                "spec": { "subject": { "userId": user }, "reason": { "code": "spam" } }
            }))
            .unwrap(),
        )
    }

    #[test]
    fn compiled_once_per_version_and_forgotten_when_gone() {
        let cache = CompiledBans::default();
        let first = cache.all("ns", &[ban("a", "1", "7"), ban("b", "1", "8")], None);
        let again = cache.all("ns", &[ban("a", "1", "7"), ban("b", "2", "9")], None);
        assert!(Arc::ptr_eq(&first[0], &again[0]), "same version: same copy");
        assert!(!Arc::ptr_eq(&first[1], &again[1]), "new version: compiled");
        assert_eq!(
            again[1].as_ref().as_ref().unwrap().entry.subject.parts().1,
            "9"
        );
        cache.all("ns", &[ban("b", "2", "9")], None);
        let known = cache.namespaces.lock().unwrap();
        assert_eq!(known["UserBan/ns"].len(), 1, "a is gone");
    }
}
