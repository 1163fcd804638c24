//! Splitting a large blocklist across several ConfigMaps (each well under the
//! 1 MiB object limit). Entries go to shards by a hash of their id, so one ban
//! change rewrites one shard; the shard count only grows (doubling), so the
//! assignment stays stable and pods mount a fixed set of ConfigMaps.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};

use super::document::{Contents, Shard, render_shard};

/// FNV-1a, 64 bit: tiny, stable across versions and platforms (a std hasher is
/// neither guaranteed), which the assignment must be.
pub fn shard_of(id: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    (hash % u64::from(count.max(1))) as u32
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A shard's data must stay under this many bytes.
    pub max_bytes: usize,
    /// Never fewer shards than this (the count already in use).
    pub min_count: u32,
    /// Never more shards than this (what pods mount, and RBAC allows).
    pub max_count: u32,
}

/// One shard's part of a blocklist, with a fingerprint of everything its
/// rendering depends on: equal fingerprints render to equal data, so a caller
/// that remembers them renders only the shards that changed.
pub struct ShardPlan {
    pub shard: Shard,
    pub contents: Contents,
    pub fingerprint: u64,
}

impl ShardPlan {
    pub fn render(&self, namespace: &str, now: DateTime<Utc>) -> BTreeMap<String, String> {
        render_shard(namespace, self.contents.clone(), now, self.shard)
    }
}

/// Splits `contents` into `count` shards. Exemptions travel in shard 0.
pub fn plan(namespace: &str, contents: Contents, now: DateTime<Utc>, count: u32) -> Vec<ShardPlan> {
    let count = count.max(1);
    let mut parts: Vec<Contents> = (0..count).map(|_| Contents::default()).collect();
    parts[0].exemptions = contents.exemptions;
    for entry in contents.entries {
        parts[shard_of(&entry.id, count) as usize]
            .entries
            .push(entry);
    }
    for revocation in contents.revocations {
        parts[shard_of(&revocation.id, count) as usize]
            .revocations
            .push(revocation);
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(index, contents)| {
            let shard = Shard {
                index: index as u32,
                count,
            };
            ShardPlan {
                fingerprint: fingerprint(namespace, shard, &contents, now),
                shard,
                contents,
            }
        })
        .collect()
}

/// The contents of every shard, back in one piece.
pub fn merge(plans: Vec<ShardPlan>) -> Contents {
    let mut all = Contents::default();
    for plan in plans {
        all.entries.extend(plan.contents.entries);
        all.exemptions.extend(plan.contents.exemptions);
        all.revocations.extend(plan.contents.revocations);
    }
    all
}

/// Order-independent (the caller's order is a store's), and time enters only
/// through what rendering reads of it: which entries are in force.
fn fingerprint(namespace: &str, shard: Shard, contents: &Contents, now: DateTime<Utc>) -> u64 {
    fn one(item: impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        item.hash(&mut hasher);
        hasher.finish()
    }
    let mut sum = one((namespace, shard.index, shard.count));
    for entry in &contents.entries {
        sum = sum.wrapping_add(one((0u8, entry, entry.in_force(now))));
    }
    for exemption in &contents.exemptions {
        sum = sum.wrapping_add(one((1u8, exemption)));
    }
    for revocation in &contents.revocations {
        sum = sum.wrapping_add(one((2u8, revocation)));
    }
    sum
}

/// The data of every shard, index 0 first, rendered all at once: the
/// reference the operator's incremental publication (which renders only
/// changed shards) must agree with. When even `max_count` shards cannot stay
/// under `max_bytes`, the result uses `max_count` and some shard is too large.
#[cfg(test)]
pub fn render_shards(
    namespace: &str,
    contents: Contents,
    now: DateTime<Utc>,
    limits: Limits,
) -> Vec<BTreeMap<String, String>> {
    let max_count = limits.max_count.max(1);
    let mut count = limits.min_count.clamp(1, max_count);
    let mut contents = contents;
    loop {
        let plans = plan(namespace, contents, now, count);
        let shards: Vec<_> = plans.iter().map(|p| p.render(namespace, now)).collect();
        let fits = shards
            .iter()
            .all(|data| data.values().map(String::len).sum::<usize>() <= limits.max_bytes);
        if fits || count >= max_count {
            return shards;
        }
        contents = merge(plans);
        count = (count * 2).min(max_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::document::{BlocklistDocument, is_document_file};
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::{Mode, SubjectKey};

    fn contents(count: usize) -> Contents {
        (0..count)
            .map(|i| {
                user_ban(
                    &format!("UserBan/ban-{i:04}"),
                    SubjectKey::UserId(i.to_string()),
                    Mode::Suspend,
                )
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn ids(shards: &[BTreeMap<String, String>]) -> Vec<String> {
        let mut ids: Vec<String> = shards
            .iter()
            .flat_map(|data| data.iter().filter(|(k, _)| is_document_file(k)))
            .flat_map(|(_, text)| BlocklistDocument::parse(text).unwrap().entries)
            .map(|e| e.id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn fingerprints_follow_content_not_order() {
        let fingerprints = |contents: Contents| -> Vec<u64> {
            plan("apps", contents, at(0), 4)
                .iter()
                .map(|p| p.fingerprint)
                .collect()
        };
        let before = fingerprints(contents(40));
        let mut reversed = contents(40);
        reversed.entries.reverse();
        assert_eq!(fingerprints(reversed), before);
        let mut changed = contents(40);
        changed.entries[7].message = Some("changed".into());
        let after = fingerprints(changed);
        let moved: Vec<usize> = (0..4).filter(|i| before[*i] != after[*i]).collect();
        assert_eq!(moved.len(), 1, "one change, one shard");
    }

    #[test]
    fn small_blocklists_stay_in_one_unsharded_configmap() {
        let shards = render_shards(
            "apps",
            contents(3),
            at(0),
            Limits {
                max_bytes: 900 * 1024,
                min_count: 1,
                max_count: 16,
            },
        );
        assert_eq!(shards.len(), 1);
        assert!(
            shards[0].contains_key("blocklist.json")
                && shards[0].contains_key("suspended-user-ids.txt")
        );
    }

    #[test]
    fn large_blocklists_split_under_the_limit_and_keep_every_entry() {
        let limits = Limits {
            max_bytes: 8 * 1024,
            min_count: 1,
            max_count: 64,
        };
        let shards = render_shards("apps", contents(300), at(0), limits);
        assert!(
            shards.len() > 1 && shards.len().is_power_of_two(),
            "{}",
            shards.len()
        );
        for (index, data) in shards.iter().enumerate() {
            assert!(
                data.values().map(String::len).sum::<usize>() <= limits.max_bytes,
                "shard {index} too large"
            );
            if index > 0 {
                assert!(
                    data.contains_key(&format!("blocklist-{index}.json")),
                    "{:?}",
                    data.keys()
                );
                assert!(data.contains_key(&format!("suspended-user-ids-{index}.txt")));
            }
        }
        let expected: Vec<String> = (0..300).map(|i| format!("UserBan/ban-{i:04}")).collect();
        assert_eq!(ids(&shards), expected);
    }

    #[test]
    fn one_change_rewrites_one_shard() {
        let limits = Limits {
            max_bytes: 8 * 1024,
            min_count: 1,
            max_count: 64,
        };
        let before = render_shards("apps", contents(300), at(0), limits);
        let mut changed = contents(300);
        changed.entries[42].message = Some("edited".into());
        let after = render_shards(
            "apps",
            changed,
            at(0),
            Limits {
                min_count: before.len() as u32,
                ..limits
            },
        );
        assert_eq!(after.len(), before.len());
        let rewritten = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(rewritten, 1);
    }

    #[test]
    fn assignment_is_stable() {
        // Pinned: readers and operators of any version must agree.
        assert_eq!(
            shard_of("UserBan/spammer-123", 16),
            shard_of("UserBan/spammer-123", 16)
        );
        assert_eq!(shard_of("", 8), (0xcbf29ce484222325u64 % 8) as u32);
        assert_eq!(shard_of("anything", 1), 0);
    }
}
