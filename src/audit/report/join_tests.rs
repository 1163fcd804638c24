//! Joining rows from the cluster and the files about the same objects.

use super::*;
use crate::audit::report::lines;

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

fn line(fields: &str, time: &str) -> Record {
    lines::parse(
        format!(r#"{{"audit":"interdict.dev/audit/v1","time":"{time}",{fields}}}"#).as_bytes(),
    )
    .unwrap()
}

fn ban_object() -> Record {
    let mut ban = Record::new(
        Source::Object,
        at("2026-11-21T10:00:00Z"),
        "UserBan",
        "apps",
        "b",
    );
    ban.action = "Lifted".into();
    ban.subject = Some("userId:7".into());
    ban.reason = Some("spam".into());
    ban.origin = Some(Origin::Manual);
    ban.facts = Facts {
        phase: Some("Lifted".into()),
        created_by: Some("ann".into()),
        lifted_by: Some("bob".into()),
        lifted_at: Some(at("2026-11-21T11:00:00Z")),
        appealable: true,
        ..Facts::default()
    };
    ban
}

#[test]
fn an_event_and_the_audit_line_of_one_transition_are_one_row() {
    let audit = line(
        r#""action":"Applied","kind":"UserBan","namespace":"apps","name":"b","transition":"aaaaaaaaaaaaaaaaaaaaaaaa","message":"m""#,
        "2026-11-21T10:00:01Z",
    );
    let mut event = Record::new(
        Source::Event,
        at("2026-11-21T10:00:01Z"),
        "UserBan",
        "apps",
        "b",
    );
    event.action = "Applied".into();
    event.transition = Some("aaaaaaaaaaaaaaaaaaaaaaaa".into());
    let mut other = event.clone();
    other.transition = Some("bbbbbbbbbbbbbbbbbbbbbbbb".into());
    let joined = join(vec![ban_object(), event, audit, other]);
    let kept: Vec<(Source, Option<&str>)> = joined
        .iter()
        .map(|r| (r.source, r.transition.as_deref()))
        .collect();
    assert_eq!(
        kept,
        [
            (Source::Object, None),
            (Source::Event, Some("bbbbbbbbbbbbbbbbbbbbbbbb")),
            (Source::Audit, Some("aaaaaaaaaaaaaaaaaaaaaaaa")),
        ]
    );
}

#[test]
fn trail_rows_take_the_objects_facts_and_identity() {
    let mut expired = Record::new(
        Source::Event,
        at("2026-11-21T11:00:00Z"),
        "UserBan",
        "apps",
        "b",
    );
    expired.action = "Lifted".into();
    let joined = join(vec![expired, ban_object()]);
    let event = joined.iter().find(|r| r.source == Source::Event).unwrap();
    assert_eq!(event.subject.as_deref(), Some("userId:7"));
    assert_eq!(event.reason.as_deref(), Some("spam"));
    assert_eq!(event.origin, Some(Origin::Manual));
    assert_eq!(event.phase(), Some("Lifted"));
    assert_eq!(event.actor.as_deref(), Some("bob"), "the lift's actor");
}

#[test]
fn an_object_known_only_from_its_lines_is_rebuilt_from_them() {
    let rows = vec![
        line(
            r#""action":"Applied","kind":"UserBan","namespace":"apps","name":"gone","subject":"userId:9","phase":"Active","from":"2026-11-20T00:00:00Z","until":"2026-11-27T00:00:00Z","reason":"fraud","actor":"ann","message":"m""#,
            "2026-11-20T00:00:01Z",
        ),
        line(
            r#""action":"Updated","kind":"UserBan","namespace":"apps","name":"gone","subject":"userId:9","phase":"Active","from":"2026-11-20T00:00:00Z","until":"2026-11-22T00:00:00Z","reason":"fraud","message":"m""#,
            "2026-11-21T00:00:00Z",
        ),
        line(
            r#""action":"Deleted","kind":"UserBan","namespace":"apps","name":"gone","subject":"userId:9","reason":"fraud","message":"m""#,
            "2026-11-21T01:00:00Z",
        ),
    ];
    let joined = join(rows);
    for row in &joined {
        assert_eq!(row.phase(), Some("Deleted"));
        assert_eq!(row.facts.created_by.as_deref(), Some("ann"));
        assert_eq!(row.facts.created, Some(at("2026-11-20T00:00:01Z")));
        assert_eq!(
            row.facts.expires_at,
            Some(at("2026-11-22T00:00:00Z")),
            "the later window"
        );
        assert_eq!(row.origin, Some(Origin::Manual));
    }
    assert_eq!(
        joined[1].actor, None,
        "an update names no actor it did not record"
    );
}

#[test]
fn appeals_speak_for_their_bans_subject_and_mark_it_appealed() {
    let mut appeal = Record::new(
        Source::Object,
        at("2026-11-21T10:30:00Z"),
        "BanAppeal",
        "apps",
        "please",
    );
    appeal.action = "Pending".into();
    appeal.facts = Facts {
        phase: Some("Pending".into()),
        appeal_of: Some("UserBan/b".into()),
        ..Facts::default()
    };
    let mut refused = appeal.clone();
    refused.name = "late".into();
    refused.facts.phase = Some("Refused".into());
    refused.facts.appeal_of = Some("UserBan/other".into());
    let mut other = ban_object();
    other.name = "other".into();
    other.facts.appealable = false;
    let joined = join(vec![ban_object(), other, appeal, refused]);
    let find = |name: &str| joined.iter().find(|r| r.name == name).unwrap();
    assert_eq!(find("please").subject.as_deref(), Some("userId:7"));
    assert_eq!(find("please").reason.as_deref(), Some("spam"));
    assert_eq!(find("please").origin, Some(Origin::Manual));
    assert!(find("b").facts.appealed);
    assert!(
        !find("other").facts.appealed,
        "a refused appeal is no appeal"
    );
    assert!(!find("other").facts.appealable);
}

#[test]
fn a_created_by_policy_event_makes_a_trail_only_ban_automatic() {
    let mut event = Record::new(
        Source::Event,
        at("2026-11-21T10:00:00Z"),
        "UserBan",
        "apps",
        "auto",
    );
    event.action = "CreatedByPolicy".into();
    let mut applied = event.clone();
    applied.action = "Applied".into();
    let joined = join(vec![event, applied]);
    assert!(joined.iter().all(|r| r.origin == Some(Origin::Automatic)));
}
