//! Whether the documents of one directory version form one blocklist.
//!
//! The operator writes each shard's ConfigMap on its own, and kubelet refreshes
//! the sources of a projected volume one by one, so a pod can meet shard 0
//! already rewritten for a doubled shard count beside shard 1 of the old count
//! (entries move between shards when the count changes), or a shard whose
//! ConfigMap is not mounted. Merging such a set drops or duplicates bans;
//! refusing it keeps the last good copy in force until the set is whole again.
//! The Python reader (`check_shards`) applies the same rules with the same
//! messages.

use std::collections::BTreeMap;
use std::fmt;

use crate::core::document::{DOCUMENT_KEY, Shard, shard_key};

/// Why the documents of a directory are not one complete shard set. File names
/// are bare names within the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardProblem {
    /// Documents with different `shard.count`: they come from different
    /// versions of the blocklist. Every document with its count, in name order.
    Counts(Vec<(String, u32)>),
    /// `shard.index` not below `shard.count`.
    OutOfRange {
        file: String,
        index: u32,
        count: u32,
    },
    /// Two documents claim the same shard.
    Duplicate {
        first: String,
        second: String,
        index: u32,
        count: u32,
    },
    /// Shards of `0..count` that no document is.
    Missing { missing: Vec<u32>, count: u32 },
}

impl fmt::Display for ShardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardProblem::Counts(files) => {
                let found: Vec<String> = files
                    .iter()
                    .map(|(name, count)| format!("{name}: {count}"))
                    .collect();
                write!(
                    f,
                    "the documents disagree on the shard count ({}), so they come from different versions",
                    found.join(", ")
                )
            }
            ShardProblem::OutOfRange { file, index, count } => {
                write!(
                    f,
                    "{file} is shard {index}, out of range for a count of {count}"
                )
            }
            ShardProblem::Duplicate {
                first,
                second,
                index,
                count,
            } => write!(f, "{first} and {second} are both shard {index} of {count}"),
            ShardProblem::Missing { missing, count } => {
                let indexes: Vec<String> = missing.iter().map(u32::to_string).collect();
                let files: Vec<String> = missing
                    .iter()
                    .map(|index| shard_key(DOCUMENT_KEY, *index))
                    .collect();
                write!(
                    f,
                    "missing shard {} of {count} ({}); mount the ConfigMap of every shard into the directory",
                    indexes.join(", "),
                    files.join(", ")
                )
            }
        }
    }
}

/// Checks that `documents` (file name and shard, in name order) are one
/// complete set: one `count` for all, every index below it and present once.
pub fn check(documents: &[(String, Shard)]) -> Result<(), ShardProblem> {
    let Some((_, first)) = documents.first() else {
        return Ok(());
    };
    let count = first.count;
    if documents.iter().any(|(_, shard)| shard.count != count) {
        return Err(ShardProblem::Counts(
            documents
                .iter()
                .map(|(name, shard)| (name.clone(), shard.count))
                .collect(),
        ));
    }
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, shard) in documents {
        if shard.index >= count {
            return Err(ShardProblem::OutOfRange {
                file: name.clone(),
                index: shard.index,
                count,
            });
        }
        if let Some(first) = seen.insert(shard.index, name) {
            return Err(ShardProblem::Duplicate {
                first: first.to_string(),
                second: name.clone(),
                index: shard.index,
                count,
            });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(ShardProblem::Missing { missing, count });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(shards: &[(&str, u32, u32)]) -> Vec<(String, Shard)> {
        shards
            .iter()
            .map(|(name, index, count)| {
                (
                    name.to_string(),
                    Shard {
                        index: *index,
                        count: *count,
                    },
                )
            })
            .collect()
    }

    fn problem(shards: &[(&str, u32, u32)]) -> String {
        check(&set(shards)).unwrap_err().to_string()
    }

    #[test]
    fn complete_sets_pass_whatever_the_file_names() {
        assert_eq!(check(&set(&[("blocklist.json", 0, 1)])), Ok(()));
        assert_eq!(
            check(&set(&[
                ("blocklist-a.json", 1, 2),
                ("blocklist-b.json", 0, 2)
            ])),
            Ok(())
        );
    }

    // The expected texts are the Python reader's too (clients/python/tests/test_shards.py).
    #[test]
    fn different_counts_name_every_file_and_count() {
        assert_eq!(
            problem(&[("blocklist-1.json", 1, 4), ("blocklist.json", 0, 2)]),
            "the documents disagree on the shard count (blocklist-1.json: 4, blocklist.json: 2), \
             so they come from different versions"
        );
    }

    #[test]
    fn a_duplicate_index_names_both_files() {
        assert_eq!(
            problem(&[("blocklist-1.json", 0, 2), ("blocklist.json", 0, 2)]),
            "blocklist-1.json and blocklist.json are both shard 0 of 2"
        );
    }

    #[test]
    fn missing_indexes_name_the_expected_files() {
        assert_eq!(
            problem(&[("blocklist-2.json", 2, 4), ("blocklist.json", 0, 4)]),
            "missing shard 1, 3 of 4 (blocklist-1.json, blocklist-3.json); \
             mount the ConfigMap of every shard into the directory"
        );
        assert!(
            problem(&[("blocklist-1.json", 1, 2)])
                .starts_with("missing shard 0 of 2 (blocklist.json)")
        );
    }

    #[test]
    fn an_index_out_of_range_names_the_file() {
        assert_eq!(
            problem(&[("blocklist-2.json", 2, 2), ("blocklist.json", 0, 2)]),
            "blocklist-2.json is shard 2, out of range for a count of 2"
        );
        assert_eq!(
            problem(&[("blocklist.json", 0, 0)]),
            "blocklist.json is shard 0, out of range for a count of 0"
        );
    }
}
