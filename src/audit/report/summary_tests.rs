//! Figures checked against numbers worked out by hand from a small,
//! fully described set of objects.

use super::*;
use crate::audit::report::filter::Window;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

struct Spec<'a> {
    kind: &'a str,
    name: &'a str,
    phase: &'a str,
    reason: Option<&'a str>,
    origin: Option<Origin>,
    created: &'a str,
    created_by: Option<&'a str>,
    from: Option<&'a str>,
    until: Option<&'a str>,
    lifted: Option<(&'a str, &'a str)>,
    decided: Option<(&'a str, &'a str)>,
    appealable: bool,
    appealed: bool,
}

const BAN: Spec<'static> = Spec {
    kind: "UserBan",
    name: "",
    phase: "Active",
    reason: Some("spam"),
    origin: Some(Origin::Manual),
    created: "2026-11-01T00:00:00Z",
    created_by: None,
    from: None,
    until: None,
    lifted: None,
    decided: None,
    appealable: false,
    appealed: false,
};

fn object(spec: Spec<'_>) -> Record {
    let mut record = Record::new(
        Source::Object,
        at(spec.created),
        spec.kind,
        "apps",
        spec.name,
    );
    record.action = spec.phase.into();
    record.reason = spec.reason.map(str::to_string);
    record.origin = spec.origin;
    record.facts = Facts {
        phase: Some(spec.phase.into()),
        created: Some(at(spec.created)),
        created_by: spec.created_by.map(str::to_string),
        effective_from: spec.from.map(at),
        expires_at: spec.until.map(at),
        lifted_at: spec.lifted.map(|(t, _)| at(t)),
        lifted_by: spec.lifted.map(|(_, by)| by.to_string()),
        decided_at: spec.decided.map(|(t, _)| at(t)),
        decided_by: spec.decided.map(|(_, by)| by.to_string()),
        appealable: spec.appealable,
        appealed: spec.appealed,
        ..Facts::default()
    };
    record
}

fn trail(of: &Record, source: Source, action: &str, time: &str) -> Record {
    let mut record = of.clone();
    record.source = source;
    record.action = action.into();
    record.time = at(time);
    record
}

/// Four bans (one automatic, one permanent, one lifted), three appeals
/// (approved, denied, refused), an exemption, and two trail rows.
fn sample() -> Vec<Record> {
    let a = object(Spec {
        name: "a",
        phase: "Expired",
        created_by: Some("ann"),
        from: Some("2026-11-01T00:00:00Z"),
        until: Some("2026-11-08T00:00:00Z"),
        appealable: true,
        appealed: true,
        ..BAN
    });
    let b = object(Spec {
        name: "b",
        phase: "Lifted",
        created: "2026-11-02T00:00:00Z",
        created_by: Some("ann"),
        from: Some("2026-11-02T00:00:00Z"),
        until: Some("2026-11-09T00:00:00Z"),
        lifted: Some(("2026-11-03T12:00:00Z", "bob")),
        appealable: true,
        appealed: true,
        ..BAN
    });
    let c = object(Spec {
        kind: "FeatureBlock",
        name: "c",
        phase: "Expired",
        reason: Some("abuse"),
        origin: Some(Origin::Automatic),
        created: "2026-11-03T00:00:00Z",
        created_by: Some("BanPolicy/p"),
        from: Some("2026-11-03T00:00:00Z"),
        until: Some("2026-11-03T01:00:00Z"),
        ..BAN
    });
    let d = object(Spec {
        name: "d",
        reason: Some("fraud"),
        from: Some("2026-11-04T00:00:00Z"),
        appealable: true,
        ..BAN
    });
    let appeal = |name, phase, decided| {
        object(Spec {
            kind: "BanAppeal",
            name,
            phase,
            origin: Some(Origin::Manual),
            decided,
            ..BAN
        })
    };
    let x = appeal("x", "Denied", Some(("2026-11-02T00:00:00Z", "carol")));
    let y = appeal("y", "Approved", Some(("2026-11-03T12:00:00Z", "carol")));
    let z = appeal("z", "Refused", None);
    let e = object(Spec {
        kind: "BanExemption",
        name: "e",
        reason: Some("office"),
        origin: None,
        created_by: Some("ann"),
        ..BAN
    });
    let applied = trail(&a, Source::Event, "Applied", "2026-11-01T00:00:01Z");
    let lifted = trail(&b, Source::Audit, "Lifted", "2026-11-03T12:00:00Z");
    vec![a, b, c, d, x, y, z, e, applied, lifted]
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn every_figure_matches_the_hand_count() {
    let summary = summarize(&sample(), &Filter::default());
    assert_eq!(summary.rows, 10);
    assert_eq!(summary.objects, 8, "trail rows add no objects");
    let phases: BTreeMap<String, BTreeMap<String, u64>> = [
        (
            "BanAppeal",
            counts(&[("Approved", 1), ("Denied", 1), ("Refused", 1)]),
        ),
        ("BanExemption", counts(&[("Active", 1)])),
        ("FeatureBlock", counts(&[("Expired", 1)])),
        (
            "UserBan",
            counts(&[("Active", 1), ("Expired", 1), ("Lifted", 1)]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(summary.by_kind_and_phase, phases);
    // Appeals carry their ban's reason for filtering, but are not actions with a reason.
    assert_eq!(
        summary.actions_by_reason,
        counts(&[("abuse", 1), ("fraud", 1), ("office", 1), ("spam", 2)])
    );
    // Creations: a, b, e by ann; c by its policy; d, x, y, z unrecorded.
    // Lifts: b by bob. Decisions: x and y by carol.
    assert_eq!(
        summary.actions_by_actor,
        counts(&[
            ("-", 4),
            ("BanPolicy/p", 1),
            ("ann", 3),
            ("bob", 1),
            ("carol", 2)
        ])
    );
    assert_eq!(
        summary.bans,
        Bans {
            total: 4,
            automatic: 1,
            manual: 3,
            permanent: 1
        }
    );
    assert_eq!(
        (
            summary.appeal_rate.numerator,
            summary.appeal_rate.denominator
        ),
        (2, 3)
    );
    assert_eq!(summary.appeal_rate.display(), "2/3 (66.7%)");
    assert_eq!(summary.overturn_rate.display(), "1/2 (50.0%)");
    assert_eq!(summary.overturn_rate.rate, Some(0.5));
    // a: 7d, b: lifted after 1d12h, c: 1h; d is permanent and left out.
    assert_eq!(
        summary.median_ban_duration,
        MedianDuration {
            seconds: Some(129_600),
            text: Some("1d12h".into()),
            bans: 3
        }
    );
    assert_eq!(
        summary.trail_by_action,
        counts(&[("Applied", 1), ("Lifted", 1)])
    );
}

#[test]
fn the_figures_list_prints_every_number_once_in_order() {
    let figures = summarize(&sample(), &Filter::default()).figures();
    let line = |figure: &str, key: &str| {
        figures
            .iter()
            .find(|f| f.figure == figure && f.key == key)
            .map(|f| f.value.clone())
            .unwrap_or_else(|| panic!("no {figure} {key}"))
    };
    assert_eq!(line("rows", ""), "10");
    assert_eq!(line("objects by kind and phase", "UserBan Lifted"), "1");
    assert_eq!(line("actions by reason", "spam"), "2");
    assert_eq!(line("actions by actor", "carol"), "2");
    assert_eq!(line("bans", "automatic"), "1");
    assert_eq!(line("appeal rate", ""), "2/3 (66.7%)");
    assert_eq!(line("overturn rate", ""), "1/2 (50.0%)");
    assert_eq!(line("median ban duration", ""), "1d12h");
    assert_eq!(line("median ban duration", "bans measured"), "3");
    assert_eq!(line("trail by action", "Lifted"), "1");
    assert_eq!(figures[0].figure, "rows");
    assert_eq!(figures.last().unwrap().figure, "trail by action");
}

#[test]
fn acts_outside_the_window_or_by_other_actors_are_not_counted() {
    let window = Filter {
        window: Window {
            from: Some(at("2026-11-02T00:00:00Z")),
            to: Some(at("2026-11-03T00:00:00Z")),
        },
        ..Filter::default()
    };
    // The objects are given; only the acts are judged by time: b's creation
    // and x's decision fall on 2 November.
    let summary = summarize(&sample(), &window);
    assert_eq!(
        summary.actions_by_actor,
        counts(&[("ann", 1), ("carol", 1)])
    );
    let carol = Filter {
        actors: vec!["carol".into()],
        ..Filter::default()
    };
    assert_eq!(
        summarize(&sample(), &carol).actions_by_actor,
        counts(&[("carol", 2)])
    );
}

#[test]
fn a_deletion_is_an_act_of_whoever_deleted() {
    let mut gone = object(Spec {
        name: "gone",
        phase: "Deleted",
        created_by: Some("ann"),
        ..BAN
    });
    gone.facts.deleted_at = Some(at("2026-11-05T00:00:00Z"));
    gone.facts.deleted_by = Some("dora".into());
    let summary = summarize(&[gone], &Filter::default());
    assert_eq!(summary.actions_by_actor, counts(&[("ann", 1), ("dora", 1)]));
}

#[test]
fn nothing_to_count_gives_zeros_and_no_rates() {
    let summary = summarize(&[], &Filter::default());
    assert_eq!(summary.rows, 0);
    assert_eq!(summary.appeal_rate.rate, None);
    assert_eq!(summary.overturn_rate.display(), "0/0 (-)");
    assert_eq!(summary.median_ban_duration.seconds, None);
    let figures = summary.figures();
    assert!(
        figures
            .iter()
            .any(|f| f.figure == "median ban duration" && f.value == "-")
    );
}

#[test]
fn an_even_count_takes_the_mean_of_the_middle_two_and_a_lift_before_the_start_is_zero() {
    assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    assert_eq!(median(vec![10, 20]), Some(15));
    assert_eq!(median(vec![]), None);
    let lifted_early = object(Spec {
        name: "early",
        from: Some("2026-11-05T00:00:00Z"),
        until: Some("2026-11-06T00:00:00Z"),
        lifted: Some(("2026-11-04T00:00:00Z", "ann")),
        ..BAN
    });
    let summary = summarize(&[lifted_early], &Filter::default());
    assert_eq!(summary.median_ban_duration.seconds, Some(0));
}

#[test]
fn durations_read_in_the_largest_units() {
    for (seconds, text) in [
        (0, "0s"),
        (45, "45s"),
        (3_600, "1h"),
        (9_000, "2h30m"),
        (129_600, "1d12h"),
        (604_800, "7d"),
        (90_061, "1d1h1m1s"),
        (-5, "0s"),
    ] {
        assert_eq!(human_duration(seconds), text);
    }
}
