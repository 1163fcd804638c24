//! Which rows a report keeps. Every filter is a plain predicate on a joined
//! row, so an object's Events and audit lines are kept or dropped with the
//! object's own facts (its phase, its subject, its origin).

use chrono::{DateTime, Utc};

use super::identifier::Identifier;
use super::record::{Origin, Record};

/// A time window: `from` inclusive, `to` exclusive, either open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Window {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| from <= at) && self.to.is_none_or(|to| at < to)
    }
}

/// The filters of `interdict audit`; an empty list keeps everything.
/// Values within one filter are alternatives, filters combine with "and".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub window: Window,
    /// Reason codes, compared ignoring ASCII case.
    pub reasons: Vec<String>,
    /// Actors: a row is kept when it names one, or its object was created,
    /// lifted or decided by one.
    pub actors: Vec<String>,
    pub subjects: Vec<Identifier>,
    /// Kind names as the API spells them (`UserBan`).
    pub kinds: Vec<String>,
    /// The object's phase: `Active`, `Lifted`, `Approved`, …
    pub outcomes: Vec<String>,
    pub origin: Option<Origin>,
}

fn any_or<T>(wanted: &[T], test: impl Fn(&T) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(test)
}

impl Filter {
    pub fn keeps(&self, record: &Record) -> bool {
        let facts = &record.facts;
        self.window.contains(record.time)
            && any_or(&self.kinds, |k| *k == record.kind)
            && any_or(&self.reasons, |r| {
                record
                    .reason
                    .as_deref()
                    .is_some_and(|code| code.eq_ignore_ascii_case(r))
            })
            && any_or(&self.actors, |a| {
                [
                    &record.actor,
                    &facts.created_by,
                    &facts.lifted_by,
                    &facts.decided_by,
                ]
                .into_iter()
                .any(|actor| actor.as_deref() == Some(a.as_str()))
            })
            && any_or(&self.subjects, |s| {
                record.subject.as_deref().is_some_and(|p| s.matches(p))
            })
            && any_or(&self.outcomes, |o| record.phase() == Some(o.as_str()))
            && self.origin.is_none_or(|o| record.origin == Some(o))
    }

    /// Whether an act (a creation, lift or decision) at `at` by `actor`
    /// counts in the figures: inside the window, by a wanted actor.
    pub fn keeps_act(&self, at: Option<DateTime<Utc>>, actor: Option<&str>) -> bool {
        at.is_none_or(|at| self.window.contains(at))
            && any_or(&self.actors, |a| actor == Some(a.as_str()))
    }
}

pub fn apply(records: Vec<Record>, filter: &Filter) -> Vec<Record> {
    records.into_iter().filter(|r| filter.keeps(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::record::{Facts, Source};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn row(kind: &str, name: &str) -> Record {
        let mut record = Record::new(
            Source::Object,
            at("2026-11-10T00:00:00Z"),
            kind,
            "apps",
            name,
        );
        record.subject = Some("userId:42".into());
        record.reason = Some("spam".into());
        record.actor = Some("ann".into());
        record.origin = Some(Origin::Manual);
        record.facts = Facts {
            phase: Some("Active".into()),
            created_by: Some("ann".into()),
            lifted_by: Some("bob".into()),
            ..Facts::default()
        };
        record
    }

    #[test]
    fn an_empty_filter_keeps_everything() {
        assert!(Filter::default().keeps(&row("UserBan", "a")));
    }

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end() {
        let record = row("UserBan", "a");
        let window = |from: &str, to: &str| Filter {
            window: Window {
                from: Some(at(from)),
                to: Some(at(to)),
            },
            ..Filter::default()
        };
        assert!(window("2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z").keeps(&record));
        assert!(!window("2026-11-09T00:00:00Z", "2026-11-10T00:00:00Z").keeps(&record));
        assert!(!window("2026-11-10T00:00:01Z", "2026-11-11T00:00:00Z").keeps(&record));
        let open_end = Filter {
            window: Window {
                from: Some(at("2026-11-01T00:00:00Z")),
                to: None,
            },
            ..Filter::default()
        };
        assert!(open_end.keeps(&record));
    }

    #[test]
    fn each_filter_tests_its_field_and_values_are_alternatives() {
        let record = row("UserBan", "a");
        let cases: Vec<(Filter, bool)> = vec![
            (
                Filter {
                    reasons: vec!["SPAM".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    reasons: vec!["fraud".into(), "spam".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    reasons: vec!["fraud".into()],
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    actors: vec!["ann".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    actors: vec!["bob".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    actors: vec!["carol".into()],
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    kinds: vec!["FeatureBlock".into()],
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    kinds: vec!["FeatureBlock".into(), "UserBan".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    outcomes: vec!["Active".into()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    outcomes: vec!["Lifted".into()],
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    origin: Some(Origin::Manual),
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    origin: Some(Origin::Automatic),
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    subjects: vec![Identifier::user_id("42").unwrap()],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    subjects: vec![Identifier::username("42").unwrap()],
                    ..Filter::default()
                },
                false,
            ),
            (
                Filter {
                    subjects: vec![
                        Identifier::username("x").unwrap(),
                        Identifier::user_id("42").unwrap(),
                    ],
                    ..Filter::default()
                },
                true,
            ),
            (
                Filter {
                    reasons: vec!["spam".into()],
                    outcomes: vec!["Expired".into()],
                    ..Filter::default()
                },
                false,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(filter.keeps(&record), expected, "{filter:?}");
        }
    }

    #[test]
    fn rows_without_the_field_are_dropped_by_its_filter() {
        let mut policy = row("BanPolicy", "p");
        policy.origin = None;
        policy.subject = None;
        assert!(
            !Filter {
                origin: Some(Origin::Manual),
                ..Filter::default()
            }
            .keeps(&policy)
        );
        assert!(
            !Filter {
                subjects: vec![Identifier::user_id("42").unwrap()],
                ..Filter::default()
            }
            .keeps(&policy)
        );
    }

    #[test]
    fn acts_count_inside_the_window_by_the_wanted_actors() {
        let filter = Filter {
            window: Window {
                from: Some(at("2026-11-01T00:00:00Z")),
                to: None,
            },
            actors: vec!["ann".into()],
            ..Filter::default()
        };
        assert!(filter.keeps_act(Some(at("2026-11-02T00:00:00Z")), Some("ann")));
        assert!(filter.keeps_act(None, Some("ann")));
        assert!(!filter.keeps_act(Some(at("2026-10-31T00:00:00Z")), Some("ann")));
        assert!(!filter.keeps_act(Some(at("2026-11-02T00:00:00Z")), Some("bob")));
        assert!(!filter.keeps_act(Some(at("2026-11-02T00:00:00Z")), None));
        assert!(Filter::default().keeps_act(None, None));
    }
}
