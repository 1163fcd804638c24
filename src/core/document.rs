//! The blocklist document (format v1) and the ConfigMap data that carries it.
//!
//! Rendering is deterministic: the same entries give byte-identical data, so the
//! operator can compare before writing and readers can cache by content.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entry::Mode;
use super::entry::{Entry, EntryKind, Exemption, Revocation, SubjectKey};

mod items;
pub mod time;
mod tree;

pub use items::{ItemList, SkippedItem};

/// The `format` every v1 document carries. Readers refuse other majors.
pub const FORMAT_V1: &str = "interdict.dev/blocklist/v1";
/// Data key of the JSON document in an unsharded blocklist.
pub const DOCUMENT_KEY: &str = "blocklist.json";

/// Readers load every file whose name starts with this and ends with `.json`,
/// so shards (`blocklist-1.json`, ...) merge without configuration.
pub fn is_document_file(name: &str) -> bool {
    name.starts_with("blocklist") && name.ends_with(".json") && !name.starts_with("..")
}

/// Which part of a sharded blocklist a document is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BlocklistDocument {
    pub format: String,
    pub namespace: String,
    pub shard: Shard,
    pub entries: Vec<Entry>,
    /// Added within v1: readers that predate it ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<Exemption>,
    /// Added within v1: readers that predate it ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<Revocation>,
    /// Items [`BlocklistDocument::parse`] left out because it could not
    /// understand them; never written.
    #[serde(skip)]
    pub skipped: Vec<SkippedItem>,
}

/// What a blocklist directory (or one namespace's blocklist) holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub entries: Vec<Entry>,
    pub exemptions: Vec<Exemption>,
    pub revocations: Vec<Revocation>,
}

impl From<Vec<Entry>> for Contents {
    fn from(entries: Vec<Entry>) -> Self {
        Contents {
            entries,
            exemptions: Vec::new(),
            revocations: Vec::new(),
        }
    }
}

impl Contents {
    pub fn extend(&mut self, document: BlocklistDocument) {
        self.entries.extend(document.entries);
        self.exemptions.extend(document.exemptions);
        self.revocations.extend(document.revocations);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a blocklist document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported blocklist format {found:?} (this reader understands {FORMAT_V1:?})")]
    Format { found: String },
}

impl BlocklistDocument {
    pub fn new(namespace: &str, contents: Contents) -> Self {
        let Contents {
            mut entries,
            mut exemptions,
            mut revocations,
        } = contents;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        exemptions.sort_by(|a, b| a.id.cmp(&b.id));
        revocations.sort_by(|a, b| a.id.cmp(&b.id));
        BlocklistDocument {
            format: FORMAT_V1.to_string(),
            namespace: namespace.to_string(),
            shard: Shard { index: 0, count: 1 },
            entries,
            exemptions,
            revocations,
            skipped: Vec::new(),
        }
    }

    /// Reads a v1 document. Malformed JSON, another `format` or a document
    /// without its own fields (`namespace`, `shard`, `entries`) is an error;
    /// an entry, exemption or revocation that cannot be understood is left out
    /// and listed in [`BlocklistDocument::skipped`], so one odd item never
    /// costs the others (see `docs/blocklist-format.md`).
    pub fn parse(text: &str) -> Result<Self, DocumentError> {
        items::parse(text)
    }

    /// One entry per line: readable in `kubectl get cm -o yaml` and in diffs.
    pub fn render(&self) -> String {
        let head = serde_json::json!({ "format": self.format, "namespace": self.namespace, "shard": self.shard });
        let mut head = head.to_string();
        head.pop(); // reopen the object to append the entries
        let mut out = head;
        out.push_str(",\"entries\":[");
        for (i, entry) in self.entries.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&serde_json::to_string(entry).expect("entries serialise"));
        }
        out.push_str("\n]");
        push_list(&mut out, "exemptions", &self.exemptions);
        push_list(&mut out, "revocations", &self.revocations);
        out.push_str("}\n");
        out
    }
}

/// Appends `,"name":[` one item per line `]`, or nothing for an empty list
/// (documents without these optional lists stay byte-identical to before).
fn push_list<T: Serialize>(out: &mut String, name: &str, items: &[T]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!(",\"{name}\":["));
    for (i, item) in items.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&serde_json::to_string(item).expect("blocklist items serialise"));
    }
    out.push_str("\n]");
}

/// Plain list file names: `<mode>-<subject kind>.txt`, e.g. `suspended-user-ids.txt`.
fn plain_list_name(mode: Mode, subject: &SubjectKey) -> String {
    let mode = match mode {
        Mode::Suspend => "suspended",
        Mode::Silence => "silenced",
    };
    let kind = match subject {
        SubjectKey::UserId(_) => "user-ids",
        SubjectKey::Username(_) => "usernames",
        SubjectKey::Email(_) => "emails",
        SubjectKey::Ip(_) => "ips",
        SubjectKey::KeyFingerprint(_) => "keys",
    };
    format!("{mode}-{kind}.txt")
}

/// Every plain list name, so each file exists even when empty (mounts stay stable).
pub fn plain_list_names() -> Vec<String> {
    let samples = [
        SubjectKey::UserId(String::new()),
        SubjectKey::Username(String::new()),
        SubjectKey::Email(String::new()),
        SubjectKey::Ip(String::new()),
        SubjectKey::KeyFingerprint(String::new()),
    ];
    [Mode::Suspend, Mode::Silence]
        .into_iter()
        .flat_map(|mode| samples.iter().map(move |s| plain_list_name(mode, s)))
        .collect()
}

/// The ConfigMap data for a namespace: the JSON document with every active and
/// scheduled entry, and sorted one-per-line lists of the UserBans in force at `now`
/// (plain lists carry no times, so they hold only what applies right now).
pub fn render_data(
    namespace: &str,
    contents: Contents,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    render_shard(namespace, contents, now, Shard { index: 0, count: 1 })
}

/// A data key of shard `index`: shard 0 keeps the unsharded names
/// (`blocklist.json`, `suspended-user-ids.txt`), shard 3 of several has
/// `blocklist-3.json`, `suspended-user-ids-3.txt`, so shards projected into one
/// directory never collide.
pub fn shard_key(name: &str, index: u32) -> String {
    if index == 0 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}-{index}.{extension}"),
        None => format!("{name}-{index}"),
    }
}

/// The data of one shard: its document and the plain lists of its entries.
pub fn render_shard(
    namespace: &str,
    contents: Contents,
    now: DateTime<Utc>,
    shard: Shard,
) -> BTreeMap<String, String> {
    let entries = &contents.entries;
    let mut lists: BTreeMap<String, BTreeSet<String>> = plain_list_names()
        .into_iter()
        .map(|name| (name, BTreeSet::new()))
        .collect();
    for entry in entries
        .iter()
        .filter(|e| e.kind == EntryKind::UserBan && e.in_force(now))
    {
        if let Some(mode) = entry.mode {
            let values = lists
                .entry(plain_list_name(mode, &entry.subject))
                .or_default();
            // Validation keeps line breaks out; escaping keeps any that slipped
            // into a stored object from forging a second line.
            values.insert(super::text::escape_line(entry.subject.parts().1).into_owned());
        }
    }
    let mut data: BTreeMap<String, String> = lists
        .into_iter()
        .map(|(name, values)| {
            (
                shard_key(&name, shard.index),
                values.into_iter().map(|v| v + "\n").collect(),
            )
        })
        .collect();
    let mut document = BlocklistDocument::new(namespace, contents);
    document.shard = shard;
    data.insert(shard_key(DOCUMENT_KEY, shard.index), document.render());
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::entry::fixtures::{at, user_ban};

    fn entry(id: &str, subject: SubjectKey, mode: Mode, from: i64, until: Option<i64>) -> Entry {
        Entry {
            from: at(from),
            until: until.map(at),
            ..user_ban(id, subject, mode)
        }
    }

    fn now() -> DateTime<Utc> {
        at(100)
    }

    #[test]
    fn rendering_is_order_independent_and_round_trips() {
        let a = entry(
            "UserBan/a",
            SubjectKey::UserId("2".into()),
            Mode::Suspend,
            0,
            None,
        );
        let b = entry(
            "UserBan/b",
            SubjectKey::UserId("1".into()),
            Mode::Silence,
            0,
            Some(500),
        );
        let one = render_data("apps", vec![a.clone(), b.clone()].into(), now());
        let two = render_data("apps", vec![b.clone(), a.clone()].into(), now());
        assert_eq!(one, two);
        let parsed = BlocklistDocument::parse(&one[DOCUMENT_KEY]).unwrap();
        assert_eq!(parsed.entries, vec![a, b]);
        assert_eq!(parsed.namespace, "apps");
    }

    #[test]
    fn plain_lists_hold_only_user_bans_in_force_sorted() {
        let entries = vec![
            entry(
                "UserBan/z",
                SubjectKey::UserId("9".into()),
                Mode::Suspend,
                0,
                None,
            ),
            entry(
                "UserBan/y",
                SubjectKey::UserId("10".into()),
                Mode::Suspend,
                0,
                None,
            ),
            entry(
                "UserBan/later",
                SubjectKey::UserId("7".into()),
                Mode::Suspend,
                200,
                None,
            ),
            entry(
                "UserBan/s",
                SubjectKey::Ip("10.0.0.0/8".into()),
                Mode::Silence,
                0,
                None,
            ),
        ];
        let data = render_data("apps", entries.into(), now());
        assert_eq!(data["suspended-user-ids.txt"], "10\n9\n");
        assert_eq!(data["silenced-ips.txt"], "10.0.0.0/8\n");
        assert_eq!(data["suspended-emails.txt"], "");
        assert_eq!(data.len(), 11);
    }

    #[test]
    fn other_formats_are_refused() {
        let err =
            BlocklistDocument::parse(r#"{"format":"interdict.dev/blocklist/v2","entries":[]}"#)
                .unwrap_err();
        assert!(
            err.to_string().contains("unsupported blocklist format"),
            "{err}"
        );
        assert!(BlocklistDocument::parse("{not json").is_err());
    }

    #[test]
    fn document_file_names() {
        assert!(is_document_file("blocklist.json"));
        assert!(is_document_file("blocklist-3.json"));
        assert!(!is_document_file("..data"));
        assert!(!is_document_file("suspended-user-ids.txt"));
    }
}
