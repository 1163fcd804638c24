//! The published items of a namespace, by shard, with what changed since the
//! last render.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::core::shard::shard_of;
use crate::core::{Contents, Entry, Exemption, Revocation};

use super::record::{Published, SharedEntry};

/// A published entry in its shard, ordered and found by its id. The id is
/// the entry's own (no copy of it as a key: 100k bans would hold 100k more
/// strings).
#[derive(Clone, Debug)]
struct ById(SharedEntry);

impl ById {
    fn id(&self) -> &str {
        &self.0.entry().id
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ById {}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id().cmp(other.id())
    }
}

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.id()
    }
}

#[derive(Default)]
struct Shard {
    entries: BTreeSet<ById>,
    revocations: BTreeMap<String, Revocation>,
    dirty: bool,
}

pub struct Shards {
    shards: Vec<Shard>,
}

impl Shards {
    pub fn new(count: u32) -> Self {
        Shards {
            shards: (0..count.max(1)).map(|_| Shard::default()).collect(),
        }
    }

    pub fn count(&self) -> u32 {
        self.shards.len() as u32
    }

    pub fn index_of(&self, id: &str) -> u32 {
        shard_of(id, self.count())
    }

    /// Puts what ban `id` publishes in its shard; marks the shard dirty when
    /// that changes it.
    pub fn set(&mut self, id: &str, published: &Published) {
        let index = self.index_of(id) as usize;
        let shard = &mut self.shards[index];
        let changed = match published {
            Published::Nothing => {
                let a = shard.entries.remove(id);
                let b = shard.revocations.remove(id).is_some();
                a || b
            }
            Published::Entry(entry) => {
                debug_assert_eq!(entry.entry().id, id, "an entry is filed under its own id");
                let b = shard.revocations.remove(id).is_some();
                // The newest compiled form replaces an equal older one, so
                // the older one is freed rather than kept alive by the shard.
                let a = shard.entries.get(id).is_none_or(|slot| slot.0 != *entry);
                shard.entries.replace(ById(entry.clone()));
                a || b
            }
            Published::Revocation(revocation) => {
                let a = shard.entries.remove(id);
                let b = shard.revocations.get(id) != Some(revocation.as_ref());
                if b {
                    shard
                        .revocations
                        .insert(id.to_string(), revocation.as_ref().clone());
                }
                a || b
            }
        };
        shard.dirty |= changed;
    }

    /// Renders differ although the items did not (an entry's start passed:
    /// the plain lists hold only what is in force).
    pub fn touch(&mut self, id: &str) {
        let index = self.index_of(id) as usize;
        self.shards[index].dirty = true;
    }

    /// Exemptions travel in shard 0.
    pub fn touch_exemptions(&mut self) {
        self.shards[0].dirty = true;
    }

    /// Spreads every item over `count` shards; every shard must be written again.
    pub fn regroup(&mut self, count: u32) {
        let old = std::mem::replace(
            &mut self.shards,
            (0..count.max(1)).map(|_| Shard::default()).collect(),
        );
        for shard in old {
            for entry in shard.entries {
                let index = shard_of(entry.id(), self.count()) as usize;
                self.shards[index].entries.insert(entry);
            }
            for (id, revocation) in shard.revocations {
                let index = shard_of(&id, self.count()) as usize;
                self.shards[index].revocations.insert(id, revocation);
            }
        }
        for shard in &mut self.shards {
            shard.dirty = true;
        }
    }

    /// Every published entry, shard by shard.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.shards
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.0.entry()))
    }

    pub fn dirty(&self) -> Vec<u32> {
        (0..self.count())
            .filter(|i| self.shards[*i as usize].dirty)
            .collect()
    }

    pub fn clean(&mut self, index: u32) {
        self.shards[index as usize].dirty = false;
    }

    pub fn mark_all_dirty(&mut self) {
        for shard in &mut self.shards {
            shard.dirty = true;
        }
    }

    /// One shard's contents, as the renderer takes them.
    pub fn contents(&self, index: u32, exemptions: &[Exemption]) -> Contents {
        let shard = &self.shards[index as usize];
        Contents {
            entries: shard.entries.iter().map(|e| e.0.entry().clone()).collect(),
            exemptions: if index == 0 {
                exemptions.to_vec()
            } else {
                Vec::new()
            },
            revocations: shard.revocations.values().cloned().collect(),
        }
    }
}
