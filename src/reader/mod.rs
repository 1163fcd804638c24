//! Loading a blocklist directory as an application pod sees it: a mounted
//! ConfigMap, where kubelet publishes files through a `..data` symlink that it
//! swaps atomically, possibly several ConfigMaps projected into one directory.

use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(feature = "operator")]
pub mod api_source;
mod counts;
mod live;
pub mod report;
mod shards;

pub use counts::{DecisionCounts, DecisionKey, MAX_SERIES};
pub use live::{Blocklist, DecisionHook, Snapshot, Source, Stats};
pub use shards::ShardProblem;

use crate::core::document::{BlocklistDocument, DocumentError, is_document_file};
pub use crate::core::document::{ItemList, SkippedItem};
use crate::core::email::EmailKeyError;
use crate::core::{Contents, EmailKey};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read blocklist directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read blocklist file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blocklist file {path}: {source}")]
    Document {
        path: PathBuf,
        source: DocumentError,
    },
    #[error("no blocklist*.json file in {0}")]
    Empty(PathBuf),
    /// The documents are not one complete shard set (see [`ShardProblem`]).
    #[error("inconsistent blocklist shards in {dir}: {problem}")]
    Shards { dir: PathBuf, problem: ShardProblem },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read email hash key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("email hash key file {path}: {source}")]
    Key {
        path: PathBuf,
        source: EmailKeyError,
    },
}

/// The email key in `path` (a mounted Secret's file): its content without the
/// blanks around it (see [`EmailKey::from_file_contents`]).
pub fn read_email_key(path: &Path) -> Result<EmailKey, KeyFileError> {
    let contents = std::fs::read(path).map_err(|source| KeyFileError::Read {
        path: path.into(),
        source,
    })?;
    EmailKey::from_file_contents(&contents).map_err(|source| KeyFileError::Key {
        path: path.into(),
        source,
    })
}

/// Names of the blocklist documents in `dir`, sorted so errors and results are reproducible.
fn document_names(dir: &Path) -> Result<Vec<String>, ReadError> {
    let listing = std::fs::read_dir(dir).map_err(|source| ReadError::Dir {
        path: dir.into(),
        source,
    })?;
    let mut names: Vec<String> = listing
        .filter_map(|item| item.ok())
        .filter_map(|item| item.file_name().into_string().ok())
        .filter(|name| is_document_file(name))
        .collect();
    names.sort();
    Ok(names)
}

/// An item a document of the directory held but the reader left out (see
/// [`BlocklistDocument::parse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The document, under the directory as the application sees it.
    pub file: PathBuf,
    pub item: SkippedItem,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocklist file {}: {}", self.file.display(), self.item)
    }
}

/// What [`load`] read: the merged contents, and the items left out of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub contents: Contents,
    /// In file name order, then list and position within each document.
    pub skipped: Vec<Skipped>,
}

/// Every entry of every blocklist document in `dir`, merged; each item left
/// out is logged (a warning naming the file and the item's `id`). [`load`]
/// returns them as well.
pub fn load_dir(dir: &Path) -> Result<Contents, ReadError> {
    let loaded = load(dir)?;
    warn_skipped(&loaded.skipped);
    Ok(loaded.contents)
}

/// Logs one warning per item left out, so an operator finds the odd item.
pub(crate) fn warn_skipped(skipped: &[Skipped]) {
    for skipped in skipped {
        tracing::warn!(
            file = %skipped.file.display(),
            list = skipped.item.list.as_str(),
            index = skipped.item.index,
            id = skipped.item.id.as_deref().unwrap_or(""),
            reason = %skipped.item.reason,
            "blocklist item skipped; the rest of the document is in force"
        );
    }
}

/// Every entry of every blocklist document in `dir`, merged, and the items
/// the documents held but the reader could not understand (left out, never
/// the whole document: see `docs/blocklist-format.md`).
///
/// In a kubelet mount the documents are read from the version `..data` points
/// at, so shards always come from one version; if kubelet swaps versions during
/// the read, the read starts again on the new one. The documents must form one
/// complete shard set ([`ReadError::Shards`] otherwise).
pub fn load(dir: &Path) -> Result<Loaded, ReadError> {
    load_dir_with(dir, &mut |path| std::fs::read_to_string(path))
}

/// [`load`] reading each document with `read`, so tests can act between reads.
fn load_dir_with(
    dir: &Path,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
) -> Result<Loaded, ReadError> {
    let data_link = dir.join("..data");
    let mut attempts = 0;
    loop {
        let version = std::fs::read_link(&data_link).ok();
        let base = version
            .as_ref()
            .map_or_else(|| dir.to_path_buf(), |v| dir.join(v));
        let result = load_documents(&base, read);
        let swapped = version.is_some() && std::fs::read_link(&data_link).ok() != version;
        attempts += 1;
        if !swapped || attempts >= 3 {
            // Errors and skipped items name the file as the application sees
            // it, not kubelet's version directory.
            return match result {
                Ok(mut loaded) => {
                    for skipped in &mut loaded.skipped {
                        skipped.file = rebase(&base, dir, std::mem::take(&mut skipped.file));
                    }
                    Ok(loaded)
                }
                Err(error) => Err(error.relative_to(&base, dir)),
            };
        }
    }
}

/// [`load`] for documents held in memory (a ConfigMap's data read from the API
/// server): file name → content, every shard's keys together. `shown` names
/// the source in errors and skipped items, as the directory does for [`load`].
pub fn load_texts(
    shown: &Path,
    documents: &std::collections::BTreeMap<String, String>,
) -> Result<Loaded, ReadError> {
    let names: Vec<String> = documents
        .keys()
        .filter(|name| is_document_file(name))
        .cloned()
        .collect();
    load_named(shown, names, &mut |path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        documents
            .get(name)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    })
}

fn load_documents(
    dir: &Path,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
) -> Result<Loaded, ReadError> {
    load_named(dir, document_names(dir)?, read)
}

fn load_named(
    dir: &Path,
    names: Vec<String>,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
) -> Result<Loaded, ReadError> {
    if names.is_empty() {
        return Err(ReadError::Empty(dir.into()));
    }
    let mut documents = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let text = read(&path).map_err(|source| ReadError::File {
            path: path.clone(),
            source,
        })?;
        let document = BlocklistDocument::parse(&text)
            .map_err(|source| ReadError::Document { path, source })?;
        documents.push((name, document));
    }
    let shards: Vec<_> = documents
        .iter()
        .map(|(name, document)| (name.clone(), document.shard))
        .collect();
    shards::check(&shards).map_err(|problem| ReadError::Shards {
        dir: dir.into(),
        problem,
    })?;
    let mut loaded = Loaded::default();
    for (name, mut document) in documents {
        let file = dir.join(&name);
        loaded
            .skipped
            .extend(document.skipped.drain(..).map(|item| Skipped {
                file: file.clone(),
                item,
            }));
        loaded.contents.extend(document);
    }
    Ok(loaded)
}

/// `path` under `shown` instead of `base`.
fn rebase(base: &Path, shown: &Path, path: PathBuf) -> PathBuf {
    // `join("")` would append a separator to the directory itself.
    match path.strip_prefix(base) {
        Ok(rest) if rest.as_os_str().is_empty() => shown.to_path_buf(),
        Ok(rest) => shown.join(rest),
        Err(_) => path,
    }
}

impl ReadError {
    fn relative_to(self, base: &Path, shown: &Path) -> Self {
        let rebase = |path: PathBuf| rebase(base, shown, path);
        match self {
            ReadError::Dir { path, source } => ReadError::Dir {
                path: rebase(path),
                source,
            },
            ReadError::File { path, source } => ReadError::File {
                path: rebase(path),
                source,
            },
            ReadError::Document { path, source } => ReadError::Document {
                path: rebase(path),
                source,
            },
            ReadError::Empty(path) => ReadError::Empty(rebase(path)),
            ReadError::Shards { dir, problem } => ReadError::Shards {
                dir: rebase(dir),
                problem,
            },
        }
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::document::{Shard, render_shard};
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::{Entry, SubjectKey};
    use std::collections::BTreeMap;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn entry(id: &str) -> Entry {
        user_ban(
            id,
            SubjectKey::UserId(id.into()),
            crate::core::Mode::Suspend,
        )
    }

    /// The data of every shard of a `count`-shard blocklist whose shard `i`
    /// holds the one entry `<tag><i>`.
    fn generation(tag: &str, count: u32) -> BTreeMap<String, String> {
        (0..count)
            .flat_map(|index| {
                render_shard(
                    "apps",
                    vec![entry(&format!("{tag}{index}"))].into(),
                    at(0),
                    Shard { index, count },
                )
            })
            .collect()
    }

    static VERSION: AtomicU64 = AtomicU64::new(0);

    /// Publishes `data` the way kubelet does: a new timestamped directory, an
    /// atomic rename of a fresh `..data` link, one symlink per key through
    /// `..data`, then the previous version removed (unless `keep_previous`).
    fn publish(dir: &Path, data: &BTreeMap<String, String>, keep_previous: bool) {
        let version = VERSION.fetch_add(1, Ordering::Relaxed);
        let real = format!("..2026_11_21_10_00_00.{version:09}");
        std::fs::create_dir(dir.join(&real)).unwrap();
        for (key, content) in data {
            std::fs::write(dir.join(&real).join(key), content).unwrap();
        }
        let staged = dir.join(format!("..data_tmp{version}"));
        symlink(&real, &staged).unwrap();
        let previous = std::fs::read_link(dir.join("..data")).ok();
        std::fs::rename(&staged, dir.join("..data")).unwrap();
        for item in std::fs::read_dir(dir).unwrap() {
            let name = item.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("..") && !data.contains_key(&name) {
                std::fs::remove_file(dir.join(&name)).unwrap();
            }
        }
        for key in data.keys() {
            let link = dir.join(key);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(key), &link).unwrap();
            }
        }
        if let Some(previous) = previous.filter(|_| !keep_previous) {
            std::fs::remove_dir_all(dir.join(previous)).unwrap();
        }
    }

    fn ids(contents: &Contents) -> Vec<String> {
        let mut ids: Vec<String> = contents.entries.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids
    }

    /// `load_dir` with `swap(n)` run right after the n-th document is read (n from 1).
    fn load_swapping(dir: &Path, mut swap: impl FnMut(u32)) -> Result<Contents, ReadError> {
        let mut reads = 0;
        load_dir_with(dir, &mut |path| {
            let text = std::fs::read_to_string(path);
            reads += 1;
            swap(reads);
            text
        })
        .map(|loaded| loaded.contents)
    }

    const OLD: [&str; 2] = ["old0", "old1"];
    const NEW: [&str; 4] = ["new0", "new1", "new2", "new3"];

    fn one_version(ids: &[String]) -> bool {
        ids == OLD || ids == NEW
    }

    #[test]
    fn reads_kubelet_layout_and_merges_shards() {
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &generation("old", 2), false);
        assert_eq!(ids(&load_dir(dir.path()).unwrap()), OLD);
        publish(dir.path(), &generation("new", 4), false);
        assert_eq!(ids(&load_dir(dir.path()).unwrap()), NEW);
    }

    #[test]
    fn a_swap_to_another_shard_count_during_the_read_never_mixes_versions() {
        for keep_previous in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            publish(dir.path(), &generation("old", 2), false);
            let loaded = load_swapping(dir.path(), |n| {
                if n == 1 {
                    publish(dir.path(), &generation("new", 4), keep_previous);
                }
            })
            .unwrap();
            assert_eq!(ids(&loaded), NEW, "keep_previous: {keep_previous}");
        }
    }

    #[test]
    fn endless_swaps_end_in_an_error_rather_than_a_mix() {
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &generation("old", 2), false);
        let loaded = load_swapping(dir.path(), |n| {
            let data = if n % 2 == 1 {
                generation("new", 4)
            } else {
                generation("old", 2)
            };
            publish(dir.path(), &data, false);
        });
        match loaded {
            Ok(contents) => assert!(one_version(&ids(&contents)), "{:?}", ids(&contents)),
            Err(error) => {
                let text = error.to_string();
                assert!(
                    text.contains(&dir.path().join("blocklist").display().to_string())
                        && !text.contains("..2026"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn an_inconsistent_shard_set_is_an_error_naming_the_mounted_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = generation("old", 2);
        data.extend(
            generation("new", 4)
                .into_iter()
                .filter(|(k, _)| k.contains("-1")),
        );
        publish(dir.path(), &data, false);
        match load_dir(dir.path()) {
            Err(ReadError::Shards {
                dir: shown,
                problem,
            }) => {
                assert_eq!(shown, dir.path());
                assert!(matches!(problem, ShardProblem::Counts(_)), "{problem}");
            }
            other => panic!("{:?}", other.map(|c| ids(&c))),
        }
        let text = load_dir(dir.path()).unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "inconsistent blocklist shards in {}: the documents disagree on the shard count \
                 (blocklist-1.json: 4, blocklist.json: 2), so they come from different versions",
                dir.path().display()
            )
        );

        let plain = tempfile::tempdir().unwrap();
        for (key, content) in generation("old", 3) {
            if key != "blocklist-1.json" {
                std::fs::write(plain.path().join(key), content).unwrap();
            }
        }
        let text = load_dir(plain.path()).unwrap_err().to_string();
        assert!(
            text.contains("missing shard 1 of 3 (blocklist-1.json)"),
            "{text}"
        );
    }

    #[test]
    fn malformed_documents_are_reported_before_the_shard_set() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = generation("old", 2);
        data.insert("blocklist-1.json".into(), "{oops".into());
        publish(dir.path(), &data, false);
        match load_dir(dir.path()) {
            Err(ReadError::Document { path, .. }) => {
                assert_eq!(path, dir.path().join("blocklist-1.json"));
            }
            other => panic!("{:?}", other.map(|c| ids(&c))),
        }
    }

    #[test]
    fn malformed_or_missing_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        match load_dir(dir.path()) {
            Err(ReadError::Empty(path)) => assert_eq!(path, dir.path()),
            other => panic!("{:?}", other.map(|c| ids(&c))),
        }
        std::fs::write(dir.path().join("blocklist.json"), "{oops").unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("blocklist.json"), "{err}");
        assert!(matches!(
            load_dir(&dir.path().join("missing")),
            Err(ReadError::Dir { .. })
        ));

        let dangling = tempfile::tempdir().unwrap();
        symlink("..2026_gone", dangling.path().join("..data")).unwrap();
        let error = load_dir(dangling.path()).unwrap_err();
        assert!(
            matches!(&error, ReadError::Dir { path, .. } if path == dangling.path()),
            "{error}"
        );
        assert!(!error.to_string().contains("..2026_gone"), "{error}");
    }

    #[test]
    fn odd_items_are_left_out_and_named_under_the_mounted_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = generation("old", 2);
        let shard = data.get_mut("blocklist-1.json").unwrap();
        *shard = shard.replacen(
            "\"entries\":[",
            "\"entries\":[{\"id\":\"UserBan/far\",\"kind\":\"UserBan\",\"subject\":{\"userId\":\"far\"},\
             \"from\":\"2027-01-15T08:00:00Z\",\"until\":\"+21192-01-01T00:00:00Z\",\"reason\":\"spam\"},",
            1,
        );
        publish(dir.path(), &data, false);
        let loaded = load(dir.path()).unwrap();
        assert_eq!(ids(&loaded.contents), OLD, "the other entries are kept");
        assert_eq!(loaded.skipped.len(), 1);
        let skipped = &loaded.skipped[0];
        assert_eq!(skipped.file, dir.path().join("blocklist-1.json"));
        assert_eq!(skipped.item.list, ItemList::Entries);
        assert_eq!(skipped.item.index, 0);
        assert_eq!(skipped.item.id.as_deref(), Some("UserBan/far"));
        let text = skipped.to_string();
        assert!(
            text.contains("entries[0] \"UserBan/far\"")
                && text.contains("+21192")
                && !text.contains("..2026"),
            "{text}"
        );
        assert_eq!(ids(&load_dir(dir.path()).unwrap()), OLD);
    }
}
