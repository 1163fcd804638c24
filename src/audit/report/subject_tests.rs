//! The subject report finds what names the subject, and only that, and
//! never prints an address read from the cluster.

use serde_json::json;

use super::*;
use crate::audit::report::render::subject::{json as to_json, markdown};

const HASH: &str = "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498";
/// How the cluster holds the address: it must never be printed.
const HELD: &str = "alice+shop@example.org";
/// How the requester typed it.
const TYPED: &str = "Alice@Example.ORG";

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "apps", "creationTimestamp": "2026-11-21T10:00:00Z"})
}

fn inputs() -> Inputs {
    let by_email = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan", "metadata": meta("by-email"),
        "spec": {"subject": {"email": HELD}, "reason": {"code": "spam", "notes": "ticket 9"},
                 "message": "Suspended.", "appeal": {"allowed": true, "instructions": "Reply."}},
        "status": {"phase": "Active", "effectiveFrom": "2026-11-21T10:00:00Z",
                   "notifications": [{"key": "k", "event": "Applied", "sink": "email",
                                      "state": "Delivered", "occurredAt": "2026-11-21T10:00:01Z"}]}
    }));
    let by_contact = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan", "metadata": meta("by-contact"),
        "spec": {"subject": {"userId": "42"}, "reason": {"code": "abuse"}, "contact": {"email": HELD}}
    }));
    let unrelated = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan", "metadata": meta("someone-else"),
        "spec": {"subject": {"email": "bob@example.org"}, "reason": {"code": "spam"}}
    }));
    let block = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "FeatureBlock", "metadata": meta("no-comments"),
        "spec": {"subject": {"email": HELD}, "features": ["comments"],
                 "scopes": [{"kind": "page", "name": "/p/1"}], "reason": {"code": "abuse"}},
        "status": {"phase": "Lifted", "liftedAt": "2026-11-21T11:00:00Z", "liftedBy": "BanAppeal/please"}
    }));
    let appeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal", "metadata": meta("please"),
        "spec": {"banRef": {"kind": "FeatureBlock", "name": "no-comments"}, "statement": "It was a joke.",
                 "decision": {"outcome": "Approved", "reviewer": "carol", "notes": "fair"}},
        "status": {"phase": "Approved", "decidedAt": "2026-11-21T11:00:00Z"}
    }));
    let contact_appeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal", "metadata": meta("by-mail"),
        "spec": {"banRef": {"kind": "UserBan", "name": "gone"}, "statement": "Why?",
                 "contact": {"email": HELD}},
        "status": {"phase": "Refused", "conditions": [{"type": "Ready", "status": "True",
            "reason": "Refused", "message": "the ban does not exist",
            "lastTransitionTime": "2026-11-21T10:00:00Z"}]}
    }));
    let other_appeal = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal", "metadata": meta("other"),
        "spec": {"banRef": {"kind": "UserBan", "name": "someone-else"}, "statement": "no"}
    }));
    let exemption = from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "BanExemption", "metadata": meta("vip"),
        "spec": {"subject": {"email": HELD}, "reason": {"code": "staff"}}
    }));
    let event = |name: &str, regarding: &str, kind: &str| {
        from(json!({
            "metadata": {"name": name, "namespace": "apps"},
            "eventTime": "2026-11-21T10:00:02.000000Z", "reason": "Applied", "note": "in force",
            "regarding": {"kind": kind, "name": regarding, "namespace": "apps"}
        }))
    };
    let document = json!({"format": "interdict.dev/blocklist/v1", "namespace": "apps",
        "shard": {"index": 0, "count": 1},
        "entries": [
            {"id": "UserBan/by-email", "kind": "UserBan", "subject": {"email": HASH}, "mode": "Suspend",
             "from": "2026-11-21T10:00:00Z", "reason": "spam"},
            {"id": "UserBan/someone-else", "kind": "UserBan", "subject": {"userId": "1"}, "mode": "Suspend",
             "from": "2026-11-21T10:00:00Z", "reason": "spam"}],
        "exemptions": [{"id": "BanExemption/vip", "subject": {"email": HASH}}]});
    let config_map = from(json!({
        "metadata": {"name": "interdict-blocklist", "namespace": "apps"},
        "data": {"blocklist.json": document.to_string(),
                 "suspended-emails.txt": format!("{HASH}\nsha256:0000\n"),
                 "suspended-user-ids.txt": "1\n"}
    }));
    let line = |n: u64, record: Value| AuditLine {
        file: "audit.jsonl".into(),
        line: n,
        record,
    };
    Inputs {
        objects: Objects {
            user_bans: vec![by_email, by_contact, unrelated],
            feature_blocks: vec![block],
            appeals: vec![appeal, contact_appeal, other_appeal],
            exemptions: vec![exemption],
            policies: vec![],
            events: vec![
                event("by-email.1", "by-email", "UserBan"),
                event("please.1", "please", "BanAppeal"),
                event("someone-else.1", "someone-else", "UserBan"),
            ],
        },
        blocklists: vec![config_map],
        audit_lines: vec![
            line(
                1,
                json!({"time": "2026-11-21T10:00:01Z", "action": "Applied", "kind": "UserBan",
                           "namespace": "apps", "name": "deleted-since", "subject": format!("email:{HASH}"),
                           "message": "Suspend of email:sha256:7a64… in force"}),
            ),
            line(
                2,
                json!({"time": "2026-11-21T11:00:00Z", "action": "AppealApproved", "kind": "BanAppeal",
                           "namespace": "apps", "name": "please", "message": "FeatureBlock no-comments: approved"}),
            ),
            line(
                3,
                json!({"time": "2026-11-21T11:00:00Z", "action": "Applied", "kind": "UserBan",
                           "namespace": "apps", "name": "someone-else", "subject": "userId:1", "message": "m"}),
            ),
        ],
    }
}

fn report(identifier: Identifier, typed: &str) -> SubjectReport {
    build(
        Requested::new(identifier, typed),
        &inputs(),
        Searched {
            namespaces: vec!["apps".into()],
            not_searched: vec![NotSearched {
                namespace: "shop".into(),
                why: "you may not list userbans in namespace shop".into(),
            }],
            audit_files: vec!["audit.jsonl".into()],
        },
        now(),
    )
}

#[test]
fn everything_naming_the_address_is_found_and_nothing_else() {
    let report = report(Identifier::email(TYPED).unwrap(), TYPED);
    assert!(!report.nothing_held);
    let bans: Vec<(&str, &str)> = report
        .bans
        .iter()
        .map(|b| (b.name.as_str(), b.matched_by))
        .collect();
    assert_eq!(
        bans,
        [
            ("no-comments", "subject"),
            ("by-contact", "contact email"),
            ("by-email", "subject")
        ]
    );
    let by_email = &report.bans[2];
    assert_eq!(by_email.reason.notes.as_deref(), Some("ticket 9"));
    assert_eq!(by_email.mode.as_deref(), Some("Suspend"));
    assert_eq!(by_email.notifications.len(), 1);
    assert_eq!(
        report.bans[1].contact.as_deref(),
        Some(format!("email:{HASH}").as_str())
    );
    assert_eq!(report.bans[0].scopes, ["page=/p/1"]);
    let appeals: Vec<(&str, &str)> = report
        .appeals
        .iter()
        .map(|a| (a.name.as_str(), a.matched_by))
        .collect();
    assert_eq!(appeals, [("by-mail", "contact email"), ("please", "ban")]);
    assert_eq!(
        report.appeals[1].decision.as_ref().unwrap().reviewer,
        "carol"
    );
    assert_eq!(
        report.appeals[0].message.as_deref(),
        Some("the ban does not exist")
    );
    assert_eq!(report.exemptions.len(), 1);
    let events: Vec<&str> = report.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["by-email", "please"]);
    let lines: Vec<u64> = report.audit_lines.iter().map(|l| l.line).collect();
    assert_eq!(
        lines,
        [1, 2],
        "by subject, and the appeal's line by its object"
    );
    let published: Vec<(&str, &str)> = report
        .published
        .iter()
        .map(|p| (p.key.as_str(), p.item))
        .collect();
    assert_eq!(
        published,
        [
            ("blocklist.json", "entry"),
            ("blocklist.json", "exemption"),
            ("suspended-emails.txt", "list")
        ]
    );
}

#[test]
fn the_address_is_shown_as_typed_and_never_as_held() {
    let report = report(Identifier::email(TYPED).unwrap(), TYPED);
    for output in [to_json(&report), markdown(&report)] {
        assert!(
            !output.to_lowercase().contains("example.org") || output.contains(TYPED),
            "{output}"
        );
        assert!(
            !output.contains(HELD),
            "the held spelling leaked:\n{output}"
        );
        assert!(
            !output.contains("alice@example.org"),
            "a canonical address leaked:\n{output}"
        );
        assert!(output.contains(TYPED));
        assert!(output.contains(HASH));
    }
    let document: Value = serde_json::from_str(&to_json(&report)).unwrap();
    assert_eq!(document["subject"]["asGiven"], TYPED);
    assert_eq!(document["subject"]["published"], format!("email:{HASH}"));
    assert_eq!(document["nothingHeld"], false);
    assert_eq!(document["searched"]["notSearched"][0]["namespace"], "shop");
}

#[test]
fn the_markdown_document_reads_as_sections() {
    let text = markdown(&report(Identifier::email(TYPED).unwrap(), TYPED));
    assert!(text.starts_with("# Data held about a subject\n\n- Requested: email Alice@Example.ORG (as given by the requester)\n"), "{text}");
    assert!(
        text.contains("- **Not searched**: shop: you may not list userbans in namespace shop\n")
    );
    assert!(text.contains("## Bans and feature blocks (3)\n\n### FeatureBlock apps/no-comments\n"));
    assert!(text.contains("| moderators' notes | ticket 9 |"));
    assert!(text.contains("| appeal | allowed: Reply. |"));
    assert!(text.contains("| appeal | not allowed |"));
    assert!(text.contains("| statement | It was a joke. |"));
    assert!(text.contains("| lifted by | BanAppeal/please |"), "{text}");
    assert!(text.contains("## Published in blocklists (3)"));
    assert!(text.contains("| audit.jsonl:2 |"));
}

#[test]
fn an_unknown_subject_is_an_explicit_nothing_held() {
    let report = report(Identifier::user_id("nobody").unwrap(), "nobody");
    assert!(report.nothing_held);
    assert!(report.counts().values().all(|n| *n == 0));
    assert!(markdown(&report).contains("**Nothing held.**"));
    let document: Value = serde_json::from_str(&to_json(&report)).unwrap();
    assert_eq!(document["nothingHeld"], true);
}

#[test]
fn an_address_inside_a_banned_range_finds_the_range() {
    let mut inputs = inputs();
    inputs.objects.user_bans.push(from(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan", "metadata": meta("range"),
        "spec": {"subject": {"ip": "203.0.113.0/24"}, "reason": {"code": "abuse"}}
    })));
    inputs.blocklists.push(from(json!({
        "metadata": {"name": "interdict-blocklist-1", "namespace": "apps"},
        "data": {"suspended-ips-1.txt": "203.0.113.0/24\n"}
    })));
    let report = build(
        Requested::new(Identifier::ip("203.0.113.9").unwrap(), "203.0.113.9"),
        &inputs,
        Searched::default(),
        now(),
    );
    assert_eq!(report.bans.len(), 1);
    assert_eq!(report.bans[0].name, "range");
    assert_eq!(report.published.len(), 1);
    assert_eq!(report.published[0].key, "suspended-ips-1.txt");
}
