//! The blocklist the reader benches load: a realistic mix of entries, the
//! queries asked of it, and the files `interdict serve` reads. Shared by
//! `benches/reader.rs` and `benches/hostile.rs` through `#[path]`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use chrono::{TimeZone, Utc};
use interdict::core::document::render_data;
use interdict::core::{Entry, EntryKind, Mode, Query, Scope, SubjectKey};

pub fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

/// A realistic mix: mostly user-id bans, some scoped feature blocks, emails, IP ranges.
pub fn entries(count: usize) -> Vec<Entry> {
    (0..count)
        .map(|i| {
            let subject = match i % 10 {
                0..=5 => SubjectKey::UserId(format!("user-{i}")),
                6 => SubjectKey::Username(format!("name-{i}")),
                7 => SubjectKey::Email(interdict::core::email::hash_email(&format!(
                    "u{i}@example.org"
                ))),
                8 => SubjectKey::Ip(format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)),
                _ => SubjectKey::KeyFingerprint(format!("SHA256:key{i}")),
            };
            let feature_block = i % 3 == 0;
            Entry {
                id: format!(
                    "{}/ban-{i:06}",
                    if feature_block {
                        "FeatureBlock"
                    } else {
                        "UserBan"
                    }
                ),
                kind: if feature_block {
                    EntryKind::FeatureBlock
                } else {
                    EntryKind::UserBan
                },
                subject,
                mode: (!feature_block).then_some(Mode::Suspend),
                features: if feature_block {
                    vec!["comments".into(), "mentorship-service".into()]
                } else {
                    vec![]
                },
                scopes: if feature_block && i % 2 == 0 {
                    vec![Scope {
                        kind: "academy".into(),
                        name: format!("academy-{}", i % 50),
                    }]
                } else {
                    vec![]
                },
                from: at(0),
                until: (i % 4 == 0).then(|| at(86_400)),
                reason: "spam".into(),
                message: Some("You are blocked.".into()),
                revoke_sessions_before: None,
                appeal_instructions: None,
                global: false,
            }
        })
        .collect()
}

pub fn queries(count: usize) -> Vec<Query> {
    (0..1000)
        .map(|i| {
            let n = (i * 7919) % (count * 2); // half hit, half miss
            Query {
                user_id: Some(format!("user-{n}")),
                ip: Some(IpAddr::from([
                    10,
                    (n / 256 % 256) as u8,
                    (n % 256) as u8,
                    9,
                ])),
                feature: "comments".into(),
                scopes: vec![Scope {
                    kind: "academy".into(),
                    name: "academy-3".into(),
                }],
                ..Default::default()
            }
        })
        .collect()
}

pub fn write_blocklist(dir: &Path, entries: Vec<Entry>) {
    let data: BTreeMap<String, String> = render_data("bench", entries.into(), at(1));
    for (key, value) in data {
        std::fs::write(dir.join(key), value).unwrap();
    }
}
