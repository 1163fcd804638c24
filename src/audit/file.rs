//! The audit file the operator appends to: every line sealed into the chain
//! (`chain`), the file rotated by size into `FILE.1`, `FILE.2`, … with the
//! chain running on across them, and a file whose end does not verify never
//! continued silently.
//!
//! Damage at the end (a write cut short by a crash, a hand edit, lines from
//! before the chain) is left exactly as found: the file is rotated away and
//! the new file starts with a `ChainRestarted` line from `GENESIS` saying what
//! was found, so a verifier reports the break instead of a chain that quietly
//! skips it.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::AuditRecord;
use super::chain::{self, Fault, GENESIS, Sealed};

/// How much of a file's end is read at open for transition ids: far more
/// than one pass can repeat.
const TAIL_BYTES: u64 = 64 * 1024 * 1024;

/// When the file is rotated and how many rotated files stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would take the file past this size; 0: never.
    pub max_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.keep`); at least one.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 100 * 1024 * 1024,
            keep: 10,
        }
    }
}

/// `FILE.n`, the `n`th most recent rotated file.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// A path's rotation set and its place in it: `(F, n)` for `F.n` (n ≥ 1),
/// `(path, 0)` for anything else.
pub fn rotation_of(path: &Path) -> (PathBuf, u32) {
    let text = path.to_string_lossy();
    if let Some((base, n)) = text.rsplit_once('.')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = n.parse::<u32>()
        && n > 0
    {
        return (PathBuf::from(base), n);
    }
    (path.to_path_buf(), 0)
}

/// Orders paths so that each file's rotation set (`F.n`, …, `F.1`, `F`, which
/// a shell glob `F*` lists in another order) reads oldest first, the set
/// where its first member was given; other paths keep their place.
pub fn in_chain_order(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut sets: Vec<(PathBuf, Vec<(u32, PathBuf)>)> = Vec::new();
    for path in paths {
        let (base, n) = rotation_of(path);
        match sets.iter_mut().find(|(b, _)| *b == base) {
            Some((_, members)) => members.push((n, path.clone())),
            None => sets.push((base, vec![(n, path.clone())])),
        }
    }
    sets.into_iter()
        .flat_map(|(_, mut members)| {
            // Higher numbers are older; the base (0) is the newest of all.
            members.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
            members.into_iter().map(|(_, path)| path)
        })
        .collect()
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

/// The last `limit` bytes of an open file.
fn tail_of(file: &mut File, limit: u64) -> std::io::Result<Vec<u8>> {
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(limit)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `limit` bytes of the file at `path`, if there is one.
fn tail_at(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut file) => tail_of(&mut file, limit).map(Some),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The transition ids of the lines in `bytes` (a partial first line is skipped).
fn transitions_in(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line.get("transition")?.as_str().map(str::to_string))
        .collect()
}

/// Makes renames and a new file in `path`'s directory durable. Not every
/// filesystem can sync a directory; the lines themselves are synced anyway.
fn sync_directory(path: &Path) {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(directory) = File::open(directory) {
        let _ = directory.sync_all();
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

pub struct AuditFile {
    path: PathBuf,
    rotation: Rotation,
    /// None after a failed write: the next append opens the file again and
    /// checks its end first, since the failed write may have left half a line.
    file: Option<File>,
    /// The file's length as this process last left it.
    size: u64,
    /// `hash` of the last line: the next line's `prev`.
    head: String,
}

/// An opened audit file, the transition ids found at its end (and at the end
/// of `FILE.1` when the file is short, so a rotation just before a restart
/// does not let a transition be recorded twice), and the lines opening wrote.
pub struct Opened {
    pub file: AuditFile,
    pub transitions: Vec<String>,
    pub written: Vec<String>,
}

impl AuditFile {
    pub fn open(path: &Path, rotation: Rotation, now: DateTime<Utc>) -> std::io::Result<Opened> {
        let mut file = AuditFile {
            path: path.to_path_buf(),
            rotation: Rotation {
                keep: rotation.keep.max(1),
                ..rotation
            },
            file: None,
            size: 0,
            head: GENESIS.to_string(),
        };
        let mut written = Vec::new();
        let transitions = file.attach(now, &mut written)?;
        Ok(Opened {
            file,
            transitions,
            written,
        })
    }

    /// The hash the next line will carry as `prev`.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Seals `record` (one serialised JSON object) into the chain and appends
    /// it, rotating first when it would take the file past its size. Every
    /// line written goes to `written`, in order: a `ChainRestarted` line when
    /// the file had to be checked again and its end did not verify, then the
    /// record. On an error the record is not in the file.
    pub fn append(
        &mut self,
        record: &str,
        now: DateTime<Utc>,
        written: &mut Vec<String>,
    ) -> std::io::Result<()> {
        let result = self.try_append(record, now, written);
        if result.is_err() {
            self.file = None;
        }
        result
    }

    fn try_append(
        &mut self,
        record: &str,
        now: DateTime<Utc>,
        written: &mut Vec<String>,
    ) -> std::io::Result<()> {
        let moved = match &self.file {
            None => true,
            Some(file) => {
                let length = file.metadata()?.len();
                if length != self.size {
                    tracing::warn!(
                        file = %self.path.display(),
                        expected = self.size,
                        found = length,
                        "the audit file changed under this process (another writer?); \
                         continuing from its last line"
                    );
                }
                length != self.size
            }
        };
        if moved {
            self.attach(now, written)?;
        }
        let sealed = chain::seal(&self.head, record);
        let length = sealed.line.len() as u64 + 1;
        if self.rotation.max_bytes > 0
            && self.size > 0
            && self.size + length > self.rotation.max_bytes
        {
            self.rotate()?;
        }
        written.push(self.write(sealed)?);
        Ok(())
    }

    /// Opens the file and finds where its chain stands; returns the
    /// transition ids near its end.
    fn attach(
        &mut self,
        now: DateTime<Utc>,
        written: &mut Vec<String>,
    ) -> std::io::Result<Vec<String>> {
        let mut file = open_append(&self.path)?;
        let tail = tail_of(&mut file, TAIL_BYTES)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        let previous = rotated(&self.path, 1);
        let before = if self.size < TAIL_BYTES {
            tail_at(&previous, TAIL_BYTES - self.size)?
        } else {
            None
        };
        let mut transitions = before.as_deref().map(transitions_in).unwrap_or_default();
        transitions.extend(transitions_in(&tail));

        let name = file_name(&self.path);
        let damage: Option<(Fault, String)> = match chain::last_link(&tail) {
            Ok(Some(link)) => {
                self.head = link.hash;
                None
            }
            // An empty file continues the chain of the one rotated before it.
            Ok(None) => match before.as_deref().map(chain::last_link) {
                None | Some(Ok(None)) => {
                    self.head = GENESIS.to_string();
                    None
                }
                Some(Ok(Some(link))) => {
                    self.head = link.hash;
                    None
                }
                Some(Err(fault)) => {
                    let at = format!("the last line of {}", file_name(&previous));
                    Some((fault, at))
                }
            },
            Err(fault) => {
                self.rotate()?;
                let at = format!("the last line of {name} (now {})", file_name(&previous));
                Some((fault, at))
            }
        };
        if let Some((fault, at)) = damage {
            let message = format!("{at}: {fault}; a new chain starts here");
            tracing::error!(
                file = %self.path.display(),
                reason = fault.code(),
                "the audit file's last line does not verify: {message}"
            );
            let record = AuditRecord::chain_restarted(now, &name, fault.code(), message);
            let record = serde_json::to_string(&record).expect("audit records serialise");
            self.head = GENESIS.to_string();
            written.push(self.write(chain::seal(GENESIS, &record))?);
        }
        Ok(transitions)
    }

    /// `FILE` becomes `FILE.1`, older files move up one, the one past `keep`
    /// (and any left over from a larger `keep`) is deleted, and an empty
    /// `FILE` takes its place. The chain's head stays: the new file's first
    /// line continues from the rotated file's last.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let keep = self.rotation.keep;
        let mut n = keep;
        loop {
            match std::fs::remove_file(rotated(&self.path, n)) {
                Ok(()) => n += 1,
                Err(error) if error.kind() == ErrorKind::NotFound => break,
                Err(error) => return Err(error),
            }
        }
        for n in (1..keep).rev() {
            match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        let file = open_append(&self.path)?;
        sync_directory(&self.path);
        self.file = Some(file);
        self.size = 0;
        tracing::info!(file = %self.path.display(), "rotated the audit file");
        Ok(())
    }

    fn write(&mut self, sealed: Sealed) -> std::io::Result<String> {
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("the audit file is not open"));
        };
        let mut bytes = Vec::with_capacity(sealed.line.len() + 1);
        bytes.extend_from_slice(sealed.line.as_bytes());
        bytes.push(b'\n');
        if let Err(error) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            // A full disk takes part of a line before it refuses the rest:
            // cut the file back to its last whole line, so the record is not
            // in the file at all and the chain goes on from that line. (Should
            // the cut fail too, the next open finds the damage and says so.)
            let _ = file.set_len(self.size);
            return Err(error);
        }
        self.size += bytes.len() as u64;
        self.head = sealed.hash;
        Ok(sealed.line)
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
