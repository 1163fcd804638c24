//! Splitting a large blocklist across several ConfigMaps (each well under the
//! 1 MiB object limit). Entries go to shards by a hash of their id, so one ban
//! change rewrites one shard; the shard count only grows (doubling), so the
//! assignment stays stable and pods mount a fixed set of ConfigMaps.

use std::collections::BTreeMap;

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

/// The data of every shard, index 0 first. Exemptions travel in shard 0.
/// When even `max_count` shards cannot stay under `max_bytes`, the result uses
/// `max_count` and some shard is too large: the caller reports it.
pub fn render_shards(
    namespace: &str,
    contents: Contents,
    now: DateTime<Utc>,
    limits: Limits,
) -> Vec<BTreeMap<String, String>> {
    let max_count = limits.max_count.max(1);
    let mut count = limits.min_count.clamp(1, max_count);
    loop {
        let shards = split(namespace, &contents, now, count);
        let fits = shards
            .iter()
            .all(|data| data.values().map(String::len).sum::<usize>() <= limits.max_bytes);
        if fits || count >= max_count {
            return shards;
        }
        count = (count * 2).min(max_count);
    }
}

fn split(
    namespace: &str,
    contents: &Contents,
    now: DateTime<Utc>,
    count: u32,
) -> Vec<BTreeMap<String, String>> {
    let mut parts: Vec<Contents> = (0..count).map(|_| Contents::default()).collect();
    parts[0].exemptions = contents.exemptions.clone();
    for entry in &contents.entries {
        parts[shard_of(&entry.id, count) as usize]
            .entries
            .push(entry.clone());
    }
    for revocation in &contents.revocations {
        parts[shard_of(&revocation.id, count) as usize]
            .revocations
            .push(revocation.clone());
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            render_shard(
                namespace,
                part,
                now,
                Shard {
                    index: index as u32,
                    count,
                },
            )
        })
        .collect()
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
