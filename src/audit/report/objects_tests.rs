//! Objects as the API server returns them (built from JSON, as it sends
//! them) become rows with the published subject, the phase and the actors.

use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn meta(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut meta =
        json!({"name": name, "namespace": "apps", "creationTimestamp": "2026-11-21T10:00:00Z"});
    if let serde_json::Value::Object(extra) = extra {
        meta.as_object_mut().unwrap().extend(extra);
    }
    meta
}

#[test]
fn a_ban_row_hashes_an_email_and_names_its_maker() {
    let ban: UserBan = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
        "metadata": meta("spammer", json!({"annotations": {CREATED_BY: "ann"}})),
        "spec": {"subject": {"email": "Alice+x@Example.org"}, "reason": {"code": "spam"},
                 "appeal": {"allowed": true}},
        "status": {"phase": "Active", "effectiveFrom": "2026-11-21T10:00:00Z",
                   "expiresAt": "2026-11-28T10:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Active",
                                   "message": "Published", "lastTransitionTime": "2026-11-21T10:00:00Z"}]}
    }));
    let rows = records(
        &Objects {
            user_bans: vec![ban],
            ..Objects::default()
        },
        now(),
    );
    let row = &rows[0];
    assert_eq!(row.source, Source::Object);
    assert_eq!(row.action, "Active");
    assert_eq!(
        row.subject.as_deref(),
        Some("email:sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498")
    );
    assert_eq!(row.reason.as_deref(), Some("spam"));
    assert_eq!(row.actor.as_deref(), Some("ann"));
    assert_eq!(row.origin, Some(Origin::Manual));
    assert_eq!(row.message.as_deref(), Some("Published"));
    assert!(row.facts.appealable);
    assert_eq!(row.facts.created_by.as_deref(), Some("ann"));
    assert_eq!(
        row.time,
        "2026-11-21T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        row.facts.expires_at,
        Some("2026-11-28T10:00:00Z".parse().unwrap())
    );
}

#[test]
fn a_policy_ban_is_automatic_and_a_lifted_ban_names_who_lifted_it() {
    let automatic: FeatureBlock = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "FeatureBlock",
        "metadata": meta("auto", json!({"labels": {POLICY_LABEL: "logins"}})),
        "spec": {"subject": {"ip": "10.1.2.3/8"}, "features": ["login"], "reason": {"code": "brute-force"}},
        "status": {"phase": "Active"}
    }));
    let lifted: UserBan = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
        "metadata": meta("oops", json!({"annotations": {CREATED_BY: "ann"}})),
        "spec": {"subject": {"userId": "7"}, "reason": {"code": "spam"},
                 "lift": {"reason": "mistake", "by": "bob-in-spec"}},
        "status": {"phase": "Lifted", "liftedAt": "2026-11-21T11:00:00Z", "liftedBy": "spec.lift"}
    }));
    let objects = Objects {
        feature_blocks: vec![automatic],
        user_bans: vec![lifted.clone()],
        ..Objects::default()
    };
    let rows = records(&objects, now());
    let block = rows.iter().find(|r| r.name == "auto").unwrap();
    assert_eq!(block.origin, Some(Origin::Automatic));
    assert_eq!(block.policy.as_deref(), Some("logins"));
    assert_eq!(block.actor.as_deref(), Some("BanPolicy/logins"));
    assert_eq!(block.subject.as_deref(), Some("ip:10.0.0.0/8"));
    let ban = rows.iter().find(|r| r.name == "oops").unwrap();
    assert_eq!(
        ban.actor.as_deref(),
        Some("bob-in-spec"),
        "spec.lift.by without an annotation"
    );
    assert_eq!(ban.facts.created_by.as_deref(), Some("ann"));
    // The annotation, when present, is the record.
    let mut annotated = lifted;
    annotated
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(LIFTED_BY.into(), "bob".into());
    let rows = records(
        &Objects {
            user_bans: vec![annotated],
            ..Objects::default()
        },
        now(),
    );
    assert_eq!(rows[0].actor.as_deref(), Some("bob"));
    assert_eq!(rows[0].facts.lifted_by.as_deref(), Some("bob"));
}

#[test]
fn appeals_exemptions_and_policies_have_their_own_phases() {
    let appeal: BanAppeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal",
        "metadata": meta("please", json!({})),
        "spec": {"banRef": {"kind": "UserBan", "name": "spammer"}, "statement": "sorry",
                 "decision": {"outcome": "Approved", "reviewer": "carol"}},
        "status": {"phase": "Approved", "decidedAt": "2026-11-21T11:00:00Z"}
    }));
    let pending: BanAppeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal",
        "metadata": meta("waiting", json!({"annotations": {DECIDED_BY: "nobody-yet", CREATED_BY: "app"}})),
        "spec": {"banRef": {"kind": "FeatureBlock", "name": "f"}, "statement": "hi"},
        "status": {"phase": "Pending"}
    }));
    let ended: BanExemption = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanExemption",
        "metadata": meta("office", json!({})),
        "spec": {"subject": {"ip": "203.0.113.0/28"}, "reason": {"code": "office"},
                 "expiresAt": "2026-11-21T11:00:00Z"}
    }));
    let policy: BanPolicy = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanPolicy",
        "metadata": meta("logins", json!({})),
        "spec": {"offenses": ["failed-login"], "threshold": 5, "window": "10m", "ladder": ["1h"],
                 "mode": "Observe",
                 "template": {"userBan": {"reason": {"code": "brute-force"}}}}
    }));
    let objects = Objects {
        appeals: vec![appeal, pending],
        exemptions: vec![ended],
        policies: vec![policy],
        ..Objects::default()
    };
    let rows = records(&objects, now());
    let find = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
    let approved = find("please");
    assert_eq!(approved.action, "Approved");
    assert_eq!(
        approved.actor.as_deref(),
        Some("carol"),
        "the reviewer decided"
    );
    assert_eq!(approved.facts.appeal_of.as_deref(), Some("UserBan/spammer"));
    assert_eq!(approved.facts.decided_by.as_deref(), Some("carol"));
    let waiting = find("waiting");
    assert_eq!(
        waiting.actor.as_deref(),
        Some("app"),
        "undecided: its creator"
    );
    assert_eq!(waiting.facts.decided_by, None);
    let office = find("office");
    assert_eq!(office.action, "Expired");
    assert_eq!(office.reason.as_deref(), Some("office"));
    let logins = find("logins");
    assert_eq!(logins.action, "Observe");
    assert_eq!(logins.reason.as_deref(), Some("brute-force"));
    assert_eq!(logins.origin, None);
}

#[test]
fn events_of_interdict_kinds_carry_their_transition_id() {
    let event: Event = from(json!({
        "metadata": {"name": "spammer.5b1f0c8e2a7d4e9f3c6a1b2d", "namespace": "apps"},
        "eventTime": "2026-11-21T10:00:02.123456Z",
        "reason": "Applied", "note": "in force",
        "regarding": {"kind": "UserBan", "name": "spammer", "namespace": "apps"}
    }));
    let other: Event = from(json!({
        "metadata": {"name": "pod.1", "namespace": "apps"},
        "eventTime": "2026-11-21T10:00:02.000000Z",
        "reason": "Pulled",
        "regarding": {"kind": "Pod", "name": "web"}
    }));
    let untracked: Event = from(json!({
        "metadata": {"name": "spammer.17f3a", "namespace": "apps", "creationTimestamp": "2026-11-21T10:00:03Z"},
        "reason": "NotificationFailed",
        "regarding": {"kind": "UserBan", "name": "spammer"}
    }));
    let rows = records(
        &Objects {
            events: vec![event, other, untracked],
            ..Objects::default()
        },
        now(),
    );
    assert_eq!(rows.len(), 2, "only Events about Interdict kinds");
    assert_eq!(rows[0].source, Source::Event);
    assert_eq!(rows[0].action, "Applied");
    assert_eq!(
        rows[0].time,
        "2026-11-21T10:00:02Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        rows[0].transition.as_deref(),
        Some("5b1f0c8e2a7d4e9f3c6a1b2d")
    );
    assert_eq!(rows[1].transition, None);
    assert_eq!(rows[1].namespace, "apps", "the Event's own namespace");
    assert_eq!(
        rows[1].time,
        "2026-11-21T10:00:03Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[test]
fn the_status_copies_of_the_actors_stand_in_for_the_annotations() {
    let ban: UserBan = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
        "metadata": meta("copied", json!({})),
        "spec": {"subject": {"userId": "7"}, "reason": {"code": "spam"},
                 "lift": {"reason": "mistake", "by": "typed-bob"}},
        "status": {"phase": "Lifted", "liftedAt": "2026-11-21T11:00:00Z", "liftedBy": "spec.lift",
                   "createdBy": "system:serviceaccount:apps:ann",
                   "liftedByUser": "system:serviceaccount:apps:bob"}
    }));
    let appeal: BanAppeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal",
        "metadata": meta("decided", json!({})),
        "spec": {"banRef": {"kind": "UserBan", "name": "copied"}, "statement": "sorry",
                 "decision": {"outcome": "Denied", "reviewer": "carol"}},
        "status": {"phase": "Denied", "decidedBy": "system:serviceaccount:apps:carol"}
    }));
    let objects = Objects {
        user_bans: vec![ban],
        appeals: vec![appeal],
        ..Objects::default()
    };
    let rows = records(&objects, now());
    let ban = rows.iter().find(|r| r.name == "copied").unwrap();
    assert_eq!(
        ban.facts.created_by.as_deref(),
        Some("system:serviceaccount:apps:ann")
    );
    assert_eq!(
        ban.actor.as_deref(),
        Some("system:serviceaccount:apps:bob"),
        "the authenticated user before what was typed"
    );
    let appeal = rows.iter().find(|r| r.name == "decided").unwrap();
    assert_eq!(
        appeal.actor.as_deref(),
        Some("system:serviceaccount:apps:carol")
    );
}
