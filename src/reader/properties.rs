//! Property tests of loading damaged blocklists: documents the operator
//! renders (one, or a set of shards), then damaged the way a byte-level
//! corruption, a cut-off write or a hand edit damages them, loaded with
//! [`load_texts`] as a reader loads a directory.
//!
//! What the format can and cannot detect decides what is checked. A document
//! carries no entry count and no digest; its integrity is its JSON syntax
//! (one object that closes on its last line), its `format`, its shard fields
//! (every set must be complete, from one version), and one item per line with
//! each item read on its own. So:
//!
//! - a load never panics, and a refusal names the file or directory at fault;
//! - a document cut anywhere before its closing brace is refused, never loaded
//!   with fewer entries;
//! - one damaged byte costs at most the one item on its line: every other
//!   entry loads unchanged, and the damaged entry either loads (changed: a
//!   value edit no reader can see without a digest) or is reported in
//!   `skipped`; entries loaded plus entries skipped is the original count.
//!   Hence every query the whole blocklist denies is still denied, unless the
//!   only entries denying it are on the damaged line;
//! - a repeated field costs its own item (skipped, reported) or, at the top
//!   level, the whole document; another `format` or impossible shard fields
//!   refuse the document;
//! - a shard set missing a document, holding a document twice or mixing two
//!   shard counts is refused; file names themselves do not matter.
//!
//! Not detectable, and documented in `docs/reliability.md`: a whole item line
//! removed (with its comma), and a value changed inside an item.
//!
//! Cases: proptest's default (256), `PROPTEST_CASES=N` for more.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::{ReadError, load_texts};
use crate::core::document::{BlocklistDocument, ItemList, Shard, render_data, render_shard};
use crate::core::entry::fixtures::at;
use crate::core::shard::plan;
use crate::core::{Contents, Entry, EntryKind, Mode, Query, Scope, SubjectKey, decide_contents};

const DIR: &str = "/blocklist";

// ------------------------------------------------------------------ contents

fn subject() -> impl Strategy<Value = SubjectKey> {
    prop_oneof![
        "[a-z0-9ü ]{1,8}".prop_map(SubjectKey::UserId),
        "[A-Za-z]{1,8}".prop_map(SubjectKey::Username),
        "[a-z]{1,6}@example\\.org"
            .prop_map(|e| SubjectKey::Email(crate::core::email::hash_email(&e))),
        (any::<u32>(), 8u8..=32).prop_map(|(a, p)| SubjectKey::Ip(
            crate::core::ip::IpNet::containing(IpAddr::V4(a.into()), p).to_string()
        )),
        (any::<u128>(), 32u8..=128).prop_map(|(a, p)| SubjectKey::Ip(
            crate::core::ip::IpNet::containing(IpAddr::V6(a.into()), p).to_string()
        )),
        "SHA256:[A-Za-z0-9+/]{4,12}".prop_map(SubjectKey::KeyFingerprint),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        subject(),
        prop_oneof![
            Just(None),
            Just(Some(Mode::Suspend)),
            Just(Some(Mode::Silence))
        ],
        proptest::collection::vec("[a-z*]{1,6}", 1..3),
        proptest::collection::vec(("[a-z]{1,5}", "[a-z0-9/]{1,6}"), 0..3),
        0i64..100,
        proptest::option::of(1i64..1000),
        "[a-z-]{1,8}",
        proptest::option::of("[ -~é🚫]{0,20}"),
    )
        .prop_map(
            |(subject, mode, features, scopes, from, length, reason, message)| {
                let kind = if mode.is_some() {
                    EntryKind::UserBan
                } else {
                    EntryKind::FeatureBlock
                };
                let feature_block = kind == EntryKind::FeatureBlock;
                Entry {
                    id: String::new(),
                    kind,
                    subject,
                    mode,
                    features: if feature_block { features } else { vec![] },
                    scopes: if feature_block {
                        scopes
                            .into_iter()
                            .map(|(kind, name)| Scope { kind, name })
                            .collect()
                    } else {
                        vec![]
                    },
                    from: at(from),
                    until: length.map(|l| at(from + l)),
                    reason,
                    message,
                    revoke_sessions_before: None,
                    appeal_instructions: None,
                    global: false,
                }
            },
        )
}

/// 1 to 12 entries with distinct ids.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec(entry(), 1..12).prop_map(|entries| {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let kind = if e.kind == EntryKind::UserBan {
                    "UserBan"
                } else {
                    "FeatureBlock"
                };
                e.id = format!("{kind}/ban-{i}");
                e
            })
            .collect()
    })
}

/// For each entry, a query it denies at its own start: its subject, a
/// feature it blocks, and its scopes as the request's context.
fn probes(entries: &[Entry]) -> Vec<(Query, DateTime<Utc>)> {
    entries
        .iter()
        .map(|entry| {
            let mut query = Query {
                feature: match entry.features.first().map(String::as_str) {
                    Some("*") | None => "publish".into(),
                    Some(feature) => feature.into(),
                },
                scopes: entry.scopes.clone(),
                ..Query::default()
            };
            match &entry.subject {
                SubjectKey::UserId(v) => query.user_id = Some(v.clone()),
                SubjectKey::Username(v) => query.username = Some(v.clone()),
                SubjectKey::Email(v) => query.email = Some(v.clone()),
                SubjectKey::Ip(v) => {
                    let net: crate::core::ip::IpNet = v.parse().expect("rendered networks parse");
                    query.ip = Some(net.network());
                }
                SubjectKey::KeyFingerprint(v) => query.key_fingerprint = Some(v.clone()),
            }
            (query, entry.from)
        })
        .collect()
}

fn denied(contents: &Contents, probe: &(Query, DateTime<Utc>)) -> bool {
    !decide_contents(contents, &probe.0, probe.1).allowed
}

// ------------------------------------------------------------------ damage

/// One byte damaged at a position (taken modulo the text's length).
#[derive(Clone, Debug)]
enum ByteDamage {
    Flip { at: usize, mask: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
}

fn byte_damage() -> impl Strategy<Value = ByteDamage> {
    // Bytes that matter to JSON's structure, and any byte at all.
    let byte = prop_oneof![
        3 => prop::sample::select(&b"{}[]\",:\\0 \n-tnfe9.\x00\x7f"[..]),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| ByteDamage::Flip { at, mask }),
        (any::<usize>(), byte).prop_map(|(at, byte)| ByteDamage::Insert { at, byte }),
        any::<usize>().prop_map(|at| ByteDamage::Delete { at }),
    ]
}

/// Applies `damage` to `text`; gives the bytes and the byte range of the
/// original text the damage touched. A result that is not UTF-8 is given as
/// `None`: a reader's read of the file fails on it before parsing.
fn damaged(text: &str, damage: &ByteDamage) -> (Option<String>, usize) {
    let mut bytes = text.as_bytes().to_vec();
    let at = match damage {
        ByteDamage::Flip { at, mask } => {
            let at = at % bytes.len();
            bytes[at] ^= mask;
            at
        }
        ByteDamage::Insert { at, byte } => {
            let at = at % (bytes.len() + 1);
            bytes.insert(at, *byte);
            at
        }
        ByteDamage::Delete { at } => {
            let at = at % bytes.len();
            bytes.remove(at);
            at
        }
    };
    (String::from_utf8(bytes).ok(), at)
}

/// The lines of a rendered document the byte at `at` belongs to: its own,
/// and for a damaged line break also the next one (the two may merge).
/// Inserting at a line's start touches that line.
fn touched_lines(text: &str, at: usize) -> BTreeSet<usize> {
    let line = text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    let mut lines = BTreeSet::from([line]);
    if text.as_bytes().get(at) == Some(&b'\n') {
        lines.insert(line + 1);
    }
    lines
}

/// The line of each entry in a rendered document: `render` writes the head on
/// line 0, then one entry per line.
fn entry_line(index: usize) -> usize {
    index + 1
}

fn load(files: &BTreeMap<String, String>) -> Result<super::Loaded, ReadError> {
    load_texts(Path::new(DIR), files)
}

/// A refusal says which file, or which directory's set, is at fault.
fn assert_clear(error: &ReadError, file: &str) -> Result<(), TestCaseError> {
    let text = error.to_string();
    prop_assert!(
        text.contains(file) || text.contains(DIR),
        "the error names neither {} nor the directory: {}",
        file,
        text
    );
    Ok(())
}

/// The property of one damaged byte in `file` of `original` (a complete set
/// of documents): see the module header.
fn check_byte_damage(
    original: &BTreeMap<String, String>,
    file: &str,
    damage: &ByteDamage,
) -> Result<(), TestCaseError> {
    let full = load(original).expect("what the operator renders loads");
    prop_assert!(full.skipped.is_empty());
    let text = &original[file];
    let document_entries = BlocklistDocument::parse(text).unwrap().entries;
    let (bytes, at) = damaged(text, damage);
    let Some(bytes) = bytes else {
        return Ok(()); // not UTF-8: the read itself refuses it
    };
    let mut files = original.clone();
    files.insert(file.to_string(), bytes);
    let loaded = match load(&files) {
        Err(error) => return assert_clear(&error, file),
        Ok(loaded) => loaded,
    };
    let touched = touched_lines(text, at);
    let damaged_entries: Vec<&Entry> = document_entries
        .iter()
        .enumerate()
        .filter(|(i, _)| touched.contains(&entry_line(*i)))
        .map(|(_, e)| e)
        .collect();
    // Every entry off the damaged line is loaded, unchanged.
    for entry in &full.contents.entries {
        if !damaged_entries.contains(&entry) {
            prop_assert!(
                loaded.contents.entries.contains(entry),
                "{} lost, though the damage at byte {} was not on its line",
                entry.id,
                at
            );
        }
    }
    // Nothing vanishes unreported: each entry is loaded or listed as skipped.
    // The damage may also make one item of its own (a byte inserted in an
    // empty list: `[0]`), which is reported, never loaded.
    let skipped_entries = loaded
        .skipped
        .iter()
        .filter(|s| s.item.list == ItemList::Entries)
        .count();
    let accounted = loaded.contents.entries.len() + skipped_entries;
    let written = full.contents.entries.len();
    prop_assert!(
        loaded.contents.entries.len() <= written && (written..=written + 1).contains(&accounted),
        "entries loaded plus skipped must be the entries written (at most one more item skipped): {} loaded, {} skipped, {} written",
        loaded.contents.entries.len(),
        skipped_entries,
        written
    );
    // Decisions: what the whole blocklist denies stays denied, unless only
    // entries on the damaged line denied it.
    for probe in probes(&full.contents.entries) {
        if denied(&full.contents, &probe) && !denied(&loaded.contents, &probe) {
            let deniers: Vec<&Entry> = full
                .contents
                .entries
                .iter()
                .filter(|e| denied(&Contents::from(vec![(*e).clone()]), &probe))
                .collect();
            prop_assert!(
                deniers.iter().all(|e| damaged_entries.contains(e)),
                "{:?} allowed after damage at byte {} off the line of its ban",
                probe.0,
                at
            );
        }
    }
    Ok(())
}

fn one_document(entries: Vec<Entry>) -> BTreeMap<String, String> {
    let data = render_data("apps", entries.into(), at(0));
    data.into_iter()
        .filter(|(name, _)| name == "blocklist.json")
        .collect()
}

fn shards(entries: Vec<Entry>, count: u32) -> BTreeMap<String, String> {
    plan("apps", entries.into(), at(0), count)
        .iter()
        .flat_map(|p| p.render("apps", at(0)))
        .filter(|(name, _)| name.ends_with(".json"))
        .collect()
}

/// A document with one member of the object on `line` written twice (the
/// member `member` of it, modulo its count).
fn repeat_member(text: &str, line: usize, member: usize) -> Option<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let target = lines.get(line)?;
    let trailing_comma = target.ends_with(',');
    let body = target.trim_end_matches(',');
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object()?;
    let (key, value) = object.iter().nth(member % object.len())?;
    let mut rewritten = body.to_string();
    rewritten.pop(); // the closing brace
    rewritten.push_str(&format!(",{}:{}}}", serde_json::json!(key), value));
    if trailing_comma {
        rewritten.push(',');
    }
    lines[line] = rewritten;
    Some(lines.join("\n"))
}

/// Replaces the head's `"key":value` by `"key":replacement` (the head is the
/// first line, holding `format`, `namespace` and `shard`).
fn edit_head(text: &str, key: &str, replacement: &str) -> String {
    let (head, rest) = text
        .split_once('\n')
        .expect("a rendered document has lines");
    let mut value: serde_json::Value =
        serde_json::from_str(&format!("{}]}}", head)).expect("the head reopens as JSON");
    value[key] = serde_json::from_str(replacement).expect("replacements are JSON");
    value.as_object_mut().unwrap().remove("entries");
    let mut head = value.to_string();
    head.pop(); // reopen the object to append the entries, as `render` does
    format!("{head},\"entries\":[\n{rest}")
}

proptest! {
    /// Random bytes and random JSON never panic the reader, and a document
    /// that loads from them holds only items it could read.
    #[test]
    fn arbitrary_text_is_refused_or_read_never_a_panic(
        text in prop_oneof![
            ".{0,200}",
            "[\\[\\]{}\",:0-9a-z \n]{0,200}",
            Just(String::new()),
        ]
    ) {
        let files = BTreeMap::from([("blocklist.json".to_string(), text)]);
        match load(&files) {
            Ok(loaded) => prop_assert!(loaded.skipped.iter().all(|s| !s.item.reason.is_empty())),
            Err(error) => assert_clear(&error, "blocklist.json")?,
        }
    }

    #[test]
    fn one_damaged_byte_costs_at_most_its_own_item(
        entries in entries(),
        damage in byte_damage(),
    ) {
        check_byte_damage(&one_document(entries), "blocklist.json", &damage)?;
    }

    #[test]
    fn one_damaged_byte_in_a_shard_costs_at_most_its_own_item(
        entries in entries(),
        count in prop::sample::select(&[2u32, 4][..]),
        which in any::<prop::sample::Index>(),
        damage in byte_damage(),
    ) {
        let files = shards(entries, count);
        let names: Vec<String> = files.keys().cloned().collect();
        let file = which.get(&names).clone();
        check_byte_damage(&files, &file, &damage)?;
    }

    /// A write cut short is refused, never read as a shorter blocklist.
    #[test]
    fn a_truncated_document_is_refused(entries in entries(), cut in any::<prop::sample::Index>()) {
        let files = one_document(entries);
        let text = &files["blocklist.json"];
        let content = text.trim_end().len();
        let cut = cut.index(content);
        // Cuts fall on character boundaries: the render is ASCII but for
        // messages and ids, and a cut inside a character fails the read anyway.
        prop_assume!(text.is_char_boundary(cut));
        let mut truncated = files.clone();
        truncated.insert("blocklist.json".into(), text[..cut].to_string());
        match load(&truncated) {
            Ok(loaded) => prop_assert!(
                false,
                "cut at {} of {}: loaded {} entries",
                cut,
                content,
                loaded.contents.entries.len()
            ),
            Err(error) => assert_clear(&error, "blocklist.json")?,
        }
    }

    /// A repeated field inside an entry costs that entry alone, reported; one
    /// in the document's head refuses the document.
    #[test]
    fn a_repeated_field_costs_its_item_or_the_document(
        entries in entries(),
        line in any::<prop::sample::Index>(),
        member in any::<usize>(),
    ) {
        let files = one_document(entries.clone());
        let text = &files["blocklist.json"];
        let line = line.index(entries.len() + 1);
        let edited = if line == 0 {
            let (head, rest) = text.split_once('\n').unwrap();
            let key = ["\"format\":", "\"namespace\":", "\"shard\":"][member % 3];
            let start = head.find(key).unwrap();
            let end = if key == "\"shard\":" {
                start + head[start..].find('}').unwrap() + 1
            } else {
                start + key.len() + head[start + key.len() + 1..].find('"').unwrap() + 2
            };
            format!("{}{},{}\n{}", &head[..end], &head[start..end], &head[end..], rest)
        } else {
            repeat_member(text, line, member).unwrap()
        };
        let mut files = files.clone();
        files.insert("blocklist.json".into(), edited);
        match load(&files) {
            Err(error) => {
                prop_assert_eq!(line, 0, "an entry's repeated field refused the whole document: {}", error);
                assert_clear(&error, "blocklist.json")?;
            }
            Ok(loaded) => {
                prop_assert!(line > 0, "a repeated head field was accepted");
                let index = line - 1;
                prop_assert_eq!(loaded.skipped.len(), 1);
                prop_assert_eq!(loaded.skipped[0].item.index, index);
                let mut expected = entries.clone();
                expected.sort_by(|a, b| a.id.cmp(&b.id));
                let lost = expected.remove(index);
                prop_assert_eq!(loaded.skipped[0].item.id.as_deref(), Some(lost.id.as_str()));
                prop_assert_eq!(&loaded.contents.entries, &expected);
            }
        }
    }

    /// Another format, or shard fields that do not make one complete set,
    /// refuse the document; the one format and `{index: 0, count: 1}` load.
    #[test]
    fn format_and_shard_fields_are_checked(
        entries in entries(),
        format in prop_oneof![
            Just("interdict.dev/blocklist/v1".to_string()),
            Just("interdict.dev/blocklist/v2".to_string()),
            Just("interdict.dev/blocklist/v1 ".to_string()),
            Just("Interdict.dev/blocklist/v1".to_string()),
            "[a-z./0-9]{0,30}",
        ],
        index in prop_oneof![Just(0i64), Just(1), 0i64..5, Just(-1), Just(1 << 40)],
        count in prop_oneof![Just(1i64), Just(0), 0i64..5, Just(-1), Just(1 << 40)],
    ) {
        let files = one_document(entries);
        let text = edit_head(&files["blocklist.json"], "format", &serde_json::json!(format).to_string());
        let text = edit_head(&text, "shard", &format!("{{\"index\":{index},\"count\":{count}}}"));
        let mut edited = files.clone();
        edited.insert("blocklist.json".into(), text);
        let expected_ok = format == crate::core::FORMAT_V1 && index == 0 && count == 1;
        match load(&edited) {
            Ok(loaded) => {
                prop_assert!(expected_ok, "format {:?}, shard {}/{} loaded", format, index, count);
                prop_assert_eq!(loaded.contents, load(&files).unwrap().contents);
            }
            Err(error) => {
                prop_assert!(!expected_ok, "the original's fields refused: {}", error);
                assert_clear(&error, "blocklist.json")?;
            }
        }
    }

    /// A shard set with a document missing, one document twice, or documents
    /// of two shard counts is refused; renaming the files changes nothing.
    #[test]
    fn incomplete_or_mixed_shard_sets_are_refused(
        entries in entries(),
        count in prop::sample::select(&[2u32, 4][..]),
        which in any::<prop::sample::Index>(),
        how in 0u8..4,
    ) {
        let files = shards(entries.clone(), count);
        let names: Vec<String> = files.keys().cloned().collect();
        let file = which.get(&names).clone();
        let mut edited = files.clone();
        let expect_refused = match how {
            0 => {
                edited.remove(&file);
                true
            }
            1 => {
                edited.insert("blocklist-copy.json".into(), files[&file].clone());
                true
            }
            2 => {
                // The same shard index from the blocklist at twice the count,
                // as kubelet shows it while the count doubles.
                let index = BlocklistDocument::parse(&files[&file]).unwrap().shard.index;
                let other = render_shard(
                    "apps",
                    Contents::from(entries.clone()),
                    at(0),
                    Shard { index, count: count * 2 },
                );
                let (_, text) = other.into_iter().find(|(n, _)| n.ends_with(".json")).unwrap();
                edited.insert(file.clone(), text);
                true
            }
            _ => {
                edited = files
                    .values()
                    .enumerate()
                    .map(|(i, text)| (format!("blocklist-renamed-{}.json", names.len() - i), text.clone()))
                    .collect();
                false
            }
        };
        match load(&edited) {
            Ok(loaded) => {
                prop_assert!(!expect_refused, "damage {} to {} loaded", how, file);
                let mut got = loaded.contents.entries.clone();
                let mut want = entries.clone();
                got.sort_by(|a, b| a.id.cmp(&b.id));
                want.sort_by(|a, b| a.id.cmp(&b.id));
                prop_assert_eq!(got, want);
            }
            Err(error) => {
                prop_assert!(expect_refused, "renamed files refused: {}", error);
                prop_assert!(matches!(error, ReadError::Shards { .. }), "{}", error);
                assert_clear(&error, &file)?;
            }
        }
    }
}

#[test]
fn the_damage_model_finds_entry_lines() {
    // The properties rely on one entry per line after the head.
    let files = one_document(vec![
        crate::core::entry::fixtures::user_ban(
            "UserBan/a",
            SubjectKey::UserId("1".into()),
            Mode::Suspend,
        ),
        crate::core::entry::fixtures::user_ban(
            "UserBan/b",
            SubjectKey::UserId("2".into()),
            Mode::Suspend,
        ),
    ]);
    let text = &files["blocklist.json"];
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[entry_line(0)].contains("UserBan/a"), "{text}");
    assert!(lines[entry_line(1)].contains("UserBan/b"), "{text}");
    let b = text.find("UserBan/b").unwrap();
    assert_eq!(touched_lines(text, b), BTreeSet::from([entry_line(1)]));
    // Deleting the line break after entry a touches a's line and b's.
    let newline = text.find("UserBan/a").unwrap()
        + text[text.find("UserBan/a").unwrap()..].find('\n').unwrap();
    assert_eq!(touched_lines(text, newline), BTreeSet::from([1, 2]));
}
