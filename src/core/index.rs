//! Entries indexed by subject, so a decision costs a few hash lookups instead of
//! a scan: what applications need with 100k bans loaded. The rules themselves
//! stay in [`super::decision`]; the index only narrows the candidates.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::decision::{Decision, Query, Subjects, decide_for};
use super::email::{EmailKey, keyed_key_id};
use super::entry::{Entry, SubjectKey};
use super::ip::IpNet;

#[derive(Default)]
pub struct Index {
    entries: Vec<Entry>,
    exemptions: Vec<crate::core::Exemption>,
    revocations: Vec<crate::core::Revocation>,
    user_ids: HashMap<String, Vec<u32>>,
    usernames: HashMap<String, Vec<u32>>,
    emails: HashMap<String, Vec<u32>>,
    keys: HashMap<String, Vec<u32>>,
    networks: HashMap<IpNet, Vec<u32>>,
    /// Distinct prefix lengths present, per family: an address is looked up once per length.
    v4_prefixes: Vec<u8>,
    v6_prefixes: Vec<u8>,
    /// The reader's key for keyed email hashes, if it has one.
    email_key: Option<EmailKey>,
}

impl Index {
    pub fn new(contents: impl Into<crate::core::Contents>) -> Self {
        let crate::core::Contents {
            entries,
            exemptions,
            revocations,
        } = contents.into();
        let mut index = Index {
            exemptions,
            revocations,
            ..Index::default()
        };
        for (position, entry) in entries.iter().enumerate() {
            let position = position as u32;
            let slot = match &entry.subject {
                SubjectKey::UserId(v) => index.user_ids.entry(v.clone()).or_default(),
                SubjectKey::Username(v) => index.usernames.entry(v.clone()).or_default(),
                SubjectKey::Email(v) => index.emails.entry(v.clone()).or_default(),
                SubjectKey::KeyFingerprint(v) => index.keys.entry(v.clone()).or_default(),
                SubjectKey::Ip(text) => {
                    // An unparsable address can match nothing, as in the linear rules.
                    let Ok(net) = text.parse::<IpNet>() else {
                        continue;
                    };
                    let prefixes = if net.is_ipv4() {
                        &mut index.v4_prefixes
                    } else {
                        &mut index.v6_prefixes
                    };
                    if !prefixes.contains(&net.prefix()) {
                        prefixes.push(net.prefix());
                    }
                    index.networks.entry(net).or_default()
                }
            };
            slot.push(position);
        }
        index.entries = entries;
        index
    }

    /// Answers with `key`: a query's email then also matches entries keyed
    /// with it (unkeyed `sha256:` entries still match).
    pub fn with_email_key(mut self, key: Option<EmailKey>) -> Self {
        self.email_key = key;
        self
    }

    pub fn email_key(&self) -> Option<&EmailKey> {
        self.email_key.as_ref()
    }

    /// Items (entries, exemptions, revocations) whose email is keyed with a
    /// key this index does not hold, by key id: no query can ever match them,
    /// so their bans are not enforced here. Empty when every keyed item is
    /// under this index's key.
    pub fn foreign_email_keys(&self) -> BTreeMap<String, usize> {
        let own = self.email_key.as_ref().map(EmailKey::id);
        let mut foreign = BTreeMap::new();
        let subjects = self
            .entries
            .iter()
            .map(|e| &e.subject)
            .chain(self.exemptions.iter().map(|x| &x.subject))
            .chain(self.revocations.iter().map(|r| &r.subject));
        for subject in subjects {
            if let SubjectKey::Email(value) = subject
                && let Some(id) = keyed_key_id(value)
                && Some(id) != own
            {
                *foreign.entry(id.to_string()).or_default() += 1;
            }
        }
        foreign
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn candidates(&self, subjects: &Subjects) -> Vec<u32> {
        let mut found = Vec::new();
        let mut exact = |map: &HashMap<String, Vec<u32>>, key: &Option<String>| {
            if let Some(hits) = key.as_deref().and_then(|k| map.get(k)) {
                found.extend_from_slice(hits);
            }
        };
        exact(&self.user_ids, &subjects.user_id);
        exact(&self.usernames, &subjects.username);
        exact(&self.emails, &subjects.email_hash);
        exact(&self.emails, &subjects.email_keyed);
        exact(&self.keys, &subjects.key_fingerprint);
        if let Some(ip) = subjects.ip {
            let prefixes = if ip.is_ipv4() {
                &self.v4_prefixes
            } else {
                &self.v6_prefixes
            };
            for prefix in prefixes {
                if let Some(hits) = self.networks.get(&IpNet::containing(ip, *prefix)) {
                    found.extend_from_slice(hits);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The same answer as [`super::decide_keyed`] over everything, with this
    /// index's key.
    pub fn decide(&self, query: &Query, now: DateTime<Utc>) -> Decision {
        let subjects = Subjects::of(query, self.email_key.as_ref());
        let candidates = self.candidates(&subjects);
        decide_for(
            &subjects,
            candidates.iter().map(|&i| &self.entries[i as usize]),
            &self.exemptions,
            &self.revocations,
            query,
            now,
        )
    }

    /// Every block of the subject that is in force or scheduled at `now`, earliest
    /// first: what a "my block status" page lists. The query's feature and scopes
    /// are ignored.
    pub fn blocks_of(&self, query: &Query, now: DateTime<Utc>) -> Vec<&Entry> {
        let subjects = Subjects::of(query, self.email_key.as_ref());
        let mut blocks: Vec<&Entry> = self
            .candidates(&subjects)
            .into_iter()
            .map(|i| &self.entries[i as usize])
            .filter(|e| e.until.is_none_or(|until| now < until) && subjects.matches(&e.subject))
            .collect();
        blocks.sort_by(|a, b| a.from.cmp(&b.from).then_with(|| a.id.cmp(&b.id)));
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::entry::{EntryKind, Mode, Scope};
    use crate::core::{decide, decide_keyed};
    use proptest::prelude::*;

    fn key() -> EmailKey {
        EmailKey::new(b"index-test-key-0123456789").unwrap()
    }

    fn other_key() -> EmailKey {
        EmailKey::new(b"index-test-key-9876543210").unwrap()
    }

    fn subject_strategy() -> impl Strategy<Value = SubjectKey> {
        prop_oneof![
            (0u8..4).prop_map(|n| SubjectKey::UserId(n.to_string())),
            (0u8..3).prop_map(|n| SubjectKey::Username(format!("user{n}"))),
            (0u8..3).prop_map(
                |n| SubjectKey::Email(crate::core::email::hash_email(&format!("u{n}@example.org")))
            ),
            (0u8..3)
                .prop_map(|n| SubjectKey::Email(key().hash_email(&format!("u{n}@example.org")))),
            (0u8..3).prop_map(|n| SubjectKey::Email(
                other_key().hash_email(&format!("u{n}@example.org"))
            )),
            (0u8..3).prop_map(|n| SubjectKey::KeyFingerprint(format!("key{n}"))),
            (0u8..4, prop::sample::select(vec![8u8, 16, 24, 32])).prop_map(|(n, p)| {
                SubjectKey::Ip(
                    IpNet::containing(format!("10.{n}.1.7").parse().unwrap(), p).to_string(),
                )
            }),
            (0u8..3, prop::sample::select(vec![32u8, 64, 128])).prop_map(|(n, p)| {
                SubjectKey::Ip(
                    IpNet::containing(format!("2001:db8:{n}::7").parse().unwrap(), p).to_string(),
                )
            }),
        ]
    }

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (
            subject_strategy(),
            0u8..4,
            0i64..20,
            prop::option::of(1i64..20),
            prop::sample::subsequence(vec!["a", "b", "*"], 1..=2),
            prop::sample::subsequence(vec![("academy", "x"), ("cohort", "y")], 0..=2),
        )
            .prop_map(|(subject, kind, from, length, features, scopes)| {
                let mut entry = user_ban(
                    "",
                    subject,
                    if kind == 1 {
                        Mode::Silence
                    } else {
                        Mode::Suspend
                    },
                );
                entry.from = at(from);
                entry.until = length.map(|l| at(from + l));
                if kind >= 2 {
                    entry.kind = EntryKind::FeatureBlock;
                    entry.mode = None;
                    entry.features = features.into_iter().map(String::from).collect();
                    entry.scopes = scopes
                        .into_iter()
                        .map(|(k, n)| Scope {
                            kind: k.into(),
                            name: n.into(),
                        })
                        .collect();
                }
                entry
            })
    }

    fn query_strategy() -> impl Strategy<Value = Query> {
        (
            prop::option::of(0u8..4),
            prop::option::of(0u8..3),
            prop::option::of(0u8..3),
            prop::option::of(prop_oneof![
                (0u8..4).prop_map(|n| format!("10.{n}.1.7")),
                (0u8..4).prop_map(|n| format!("::ffff:10.{n}.9.9")),
                (0u8..3).prop_map(|n| format!("2001:db8:{n}::1")),
            ]),
            prop::sample::select(vec!["a", "b", "login", "c"]),
            prop::sample::subsequence(vec![("academy", "x"), ("cohort", "z")], 0..=2),
        )
            .prop_map(|(user, name, email, ip, feature, scopes)| Query {
                user_id: user.map(|n| n.to_string()),
                username: name.map(|n| format!("user{n}")),
                email: email.map(|n| format!(" U{n}+tag@Example.org")),
                ip: ip.map(|text| text.parse().unwrap()),
                key_fingerprint: None,
                feature: feature.into(),
                scopes: scopes
                    .into_iter()
                    .map(|(k, n)| Scope {
                        kind: k.into(),
                        name: n.into(),
                    })
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn index_agrees_with_the_linear_rules(
            entries in prop::collection::vec(entry_strategy(), 0..30),
            query in query_strategy(),
            now in 0i64..45,
            keyed in any::<bool>(),
        ) {
            let entries: Vec<Entry> = entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| Entry { id: format!("Kind/{i:02}"), ..e })
                .collect();
            let key = keyed.then(key);
            let index = Index::new(entries.clone()).with_email_key(key.clone());
            let contents = crate::core::Contents::from(entries.clone());
            prop_assert_eq!(
                index.decide(&query, at(now)),
                decide_keyed(&contents, &query, key.as_ref(), at(now))
            );
            if !keyed {
                prop_assert_eq!(index.decide(&query, at(now)), decide(&entries, &query, at(now)));
            }
        }
    }

    #[test]
    fn blocks_of_lists_active_and_scheduled_of_one_subject() {
        let mine = |id: &str, from, until: Option<i64>| Entry {
            from: at(from),
            until: until.map(at),
            ..user_ban(id, SubjectKey::UserId("7".into()), Mode::Suspend)
        };
        let index = Index::new(vec![
            mine("UserBan/past", 0, Some(5)),
            mine("UserBan/now", 0, None),
            mine("UserBan/later", 50, Some(60)),
            user_ban(
                "UserBan/other",
                SubjectKey::UserId("8".into()),
                Mode::Suspend,
            ),
        ]);
        let query = Query {
            user_id: Some("7".into()),
            ..Default::default()
        };
        let ids: Vec<&str> = index
            .blocks_of(&query, at(10))
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(ids, ["UserBan/now", "UserBan/later"]);
    }

    #[test]
    fn a_keyed_index_matches_both_forms_and_names_foreign_keys() {
        let email = |id: &str, value: String| user_ban(id, SubjectKey::Email(value), Mode::Suspend);
        let unkeyed = crate::core::email::hash_email("eve@example.org");
        let entries = vec![
            email("UserBan/keyed", key().keyed(&unkeyed)),
            email("UserBan/foreign", other_key().keyed(&unkeyed)),
            email(
                "UserBan/plain",
                crate::core::email::hash_email("bob@example.org"),
            ),
        ];
        let ask = |index: &Index, email: &str| {
            let query = Query {
                email: Some(email.into()),
                feature: "x".into(),
                ..Default::default()
            };
            index.decide(&query, at(1)).ban
        };
        let keyed = Index::new(entries.clone()).with_email_key(Some(key()));
        assert_eq!(
            ask(&keyed, "Eve+x@Example.org").as_deref(),
            Some("UserBan/keyed")
        );
        assert_eq!(ask(&keyed, &unkeyed).as_deref(), Some("UserBan/keyed"));
        assert_eq!(
            ask(&keyed, "bob@example.org").as_deref(),
            Some("UserBan/plain")
        );
        let other_id = other_key().id().to_string();
        assert_eq!(
            keyed.foreign_email_keys(),
            BTreeMap::from([(other_id.clone(), 1)])
        );

        let keyless = Index::new(entries);
        assert_eq!(ask(&keyless, "eve@example.org"), None);
        assert_eq!(
            ask(&keyless, "bob@example.org").as_deref(),
            Some("UserBan/plain")
        );
        assert_eq!(
            keyless.foreign_email_keys(),
            BTreeMap::from([(key().id().to_string(), 1), (other_id, 1)])
        );
    }
}
