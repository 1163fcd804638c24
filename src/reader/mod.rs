//! Loading a blocklist directory as an application pod sees it: a mounted
//! ConfigMap, where kubelet publishes files through a `..data` symlink that it
//! swaps atomically, possibly several ConfigMaps projected into one directory.

use std::path::{Path, PathBuf};

mod live;

pub use live::{Blocklist, Snapshot, Stats};

use crate::core::Contents;
use crate::core::document::{BlocklistDocument, DocumentError, is_document_file};

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

/// Every entry of every blocklist document in `dir`, merged.
///
/// In a kubelet mount the documents are read from the version `..data` points
/// at, so shards always come from one version; if kubelet swaps versions during
/// the read, the read starts again on the new one.
pub fn load_dir(dir: &Path) -> Result<Contents, ReadError> {
    let data_link = dir.join("..data");
    let mut attempts = 0;
    loop {
        let version = std::fs::read_link(&data_link).ok();
        let base = version
            .as_ref()
            .map_or_else(|| dir.to_path_buf(), |v| dir.join(v));
        let result = load_documents(&base);
        let swapped = version.is_some() && std::fs::read_link(&data_link).ok() != version;
        attempts += 1;
        if !swapped || attempts >= 3 {
            // Errors name the file as the application sees it, not kubelet's version directory.
            return result.map_err(|error| error.relative_to(&base, dir));
        }
    }
}

fn load_documents(dir: &Path) -> Result<Contents, ReadError> {
    let names = document_names(dir)?;
    if names.is_empty() {
        return Err(ReadError::Empty(dir.into()));
    }
    let mut contents = Contents::default();
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|source| ReadError::File {
            path: path.clone(),
            source,
        })?;
        let document = BlocklistDocument::parse(&text)
            .map_err(|source| ReadError::Document { path, source })?;
        contents.extend(document);
    }
    Ok(contents)
}

impl ReadError {
    fn relative_to(self, base: &Path, shown: &Path) -> Self {
        let rebase = |path: PathBuf| match path.strip_prefix(base) {
            Ok(rest) => shown.join(rest),
            Err(_) => path,
        };
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::document::render_data;
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::{Entry, SubjectKey};
    use std::os::unix::fs::symlink;

    fn entry(id: &str) -> Entry {
        user_ban(
            id,
            SubjectKey::UserId(id.into()),
            crate::core::Mode::Suspend,
        )
    }

    /// Lays files out the way kubelet does: a timestamped directory, `..data`
    /// pointing at it, and one symlink per key through `..data`.
    fn kubelet_layout(dir: &Path, files: &[(&str, String)]) {
        let real = dir.join("..2026_11_21_10_00_00.000000001");
        std::fs::create_dir(&real).unwrap();
        for (name, content) in files {
            std::fs::write(real.join(name), content).unwrap();
            symlink(Path::new("..data").join(name), dir.join(name)).unwrap();
        }
        symlink(real.file_name().unwrap(), dir.join("..data")).unwrap();
    }

    #[test]
    fn reads_kubelet_layout_and_merges_shards() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(10);
        let first = render_data("apps", vec![entry("a")].into(), now)
            .remove("blocklist.json")
            .unwrap();
        let second = render_data("apps", vec![entry("b")].into(), now)
            .remove("blocklist.json")
            .unwrap();
        kubelet_layout(
            dir.path(),
            &[
                ("blocklist.json", first),
                ("blocklist-1.json", second),
                ("suspended-user-ids.txt", "a\n".into()),
            ],
        );
        let mut ids: Vec<String> = load_dir(dir.path())
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn malformed_or_missing_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_dir(dir.path()), Err(ReadError::Empty(_))));
        std::fs::write(dir.path().join("blocklist.json"), "{oops").unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("blocklist.json"), "{err}");
        assert!(matches!(
            load_dir(&dir.path().join("missing")),
            Err(ReadError::Dir { .. })
        ));
    }
}
