//! A namespace's ban records, found by their key without holding it twice.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::record::{BanFacts, BanKey, Published};

/// What the model keeps of one ban: its facts and what it publishes now.
pub struct BanRecord {
    pub facts: BanFacts,
    pub published: Published,
}

/// Hashed and compared by key only, so the set finds a record by its key.
struct Keyed(Box<BanRecord>);

impl Hash for Keyed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.facts.key.hash(state);
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0.facts.key == other.0.facts.key
    }
}

impl Eq for Keyed {}

impl Borrow<BanKey> for Keyed {
    fn borrow(&self) -> &BanKey {
        &self.0.facts.key
    }
}

/// A set of records rather than a map from key to record: the key is in
/// the record's facts already, and a map held it a second time (its name a
/// second string) in every slot: ≈ 6 MB at 100k bans. Boxed, so a slot the
/// table keeps empty costs a pointer rather than a whole record.
#[derive(Default)]
pub struct BanRecords(HashSet<Keyed>);

impl BanRecords {
    pub fn get(&self, key: &BanKey) -> Option<&BanRecord> {
        self.0.get(key).map(|keyed| keyed.0.as_ref())
    }

    /// Changes one record in place. `change` must leave its key as it is.
    pub fn update<R>(
        &mut self,
        key: &BanKey,
        change: impl FnOnce(&mut BanRecord) -> R,
    ) -> Option<R> {
        // A set lends no mutable access: the record is taken out and put
        // back, two lookups with no allocation.
        let Keyed(mut record) = self.0.take(key)?;
        let result = change(&mut record);
        debug_assert!(record.facts.key == *key, "a record's key never changes");
        self.0.insert(Keyed(record));
        Some(result)
    }

    /// Puts `record` in place of the one with its key; returns that one.
    pub fn replace(&mut self, record: BanRecord) -> Option<Box<BanRecord>> {
        self.0
            .replace(Keyed(Box::new(record)))
            .map(|Keyed(old)| old)
    }

    pub fn remove(&mut self, key: &BanKey) -> Option<Box<BanRecord>> {
        self.0.take(key).map(|Keyed(old)| old)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &BanRecord> {
        self.0.iter().map(|keyed| keyed.0.as_ref())
    }

    pub fn keys(&self) -> impl Iterator<Item = &BanKey> {
        self.iter().map(|record| &record.facts.key)
    }
}
