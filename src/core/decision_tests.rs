use super::*;
use crate::core::email::hash_email;
use crate::core::entry::fixtures::at;

fn user_ban(id: &str, subject: SubjectKey, mode: Mode) -> Entry {
    Entry {
        message: Some("You are banned".into()),
        ..crate::core::entry::fixtures::user_ban(id, subject, mode)
    }
}

fn feature_block(
    id: &str,
    subject: SubjectKey,
    features: &[&str],
    scopes: &[(&str, &str)],
) -> Entry {
    Entry {
        id: id.into(),
        kind: EntryKind::FeatureBlock,
        mode: None,
        features: features.iter().map(|f| f.to_string()).collect(),
        scopes: scopes
            .iter()
            .map(|(k, n)| Scope {
                kind: k.to_string(),
                name: n.to_string(),
            })
            .collect(),
        ..user_ban(id, subject, Mode::Suspend)
    }
}

fn scope(kind: &str, name: &str) -> Scope {
    Scope {
        kind: kind.into(),
        name: name.into(),
    }
}

fn ask_user(user: &str, feature: &str, scopes: Vec<Scope>) -> Query {
    Query {
        user_id: Some(user.into()),
        feature: feature.into(),
        scopes,
        ..Default::default()
    }
}

#[test]
fn scope_rules() {
    let entries = vec![
        feature_block(
            "FeatureBlock/everywhere",
            SubjectKey::UserId("1".into()),
            &["mentorship-service"],
            &[],
        ),
        feature_block(
            "FeatureBlock/academy",
            SubjectKey::UserId("2".into()),
            &["mentorship-service"],
            &[("academy", "downtown-miami")],
        ),
        feature_block(
            "FeatureBlock/two",
            SubjectKey::UserId("3".into()),
            &["mentorship-service"],
            &[("cohort", "4geeks-fs-1"), ("service", "geekpal-1-1")],
        ),
    ];
    let cases = [
        // (user, feature, request context, allowed)
        ("1", "mentorship-service", vec![], false),
        (
            "1",
            "mentorship-service",
            vec![scope("academy", "anywhere")],
            false,
        ),
        ("1", "other-service", vec![], true),
        (
            "2",
            "mentorship-service",
            vec![scope("academy", "downtown-miami")],
            false,
        ),
        (
            "2",
            "mentorship-service",
            vec![scope("academy", "madrid")],
            true,
        ),
        ("2", "mentorship-service", vec![], true),
        (
            "2",
            "mentorship-service",
            vec![scope("cohort", "downtown-miami")],
            true,
        ),
        (
            "3",
            "mentorship-service",
            vec![scope("academy", "x"), scope("service", "geekpal-1-1")],
            false,
        ),
        (
            "3",
            "mentorship-service",
            vec![scope("cohort", "4geeks-fs-1")],
            false,
        ),
        (
            "3",
            "mentorship-service",
            vec![scope("cohort", "4geeks-fs-2")],
            true,
        ),
        ("4", "mentorship-service", vec![], true),
    ];
    for (user, feature, context, allowed) in cases {
        let decision = decide(&entries, &ask_user(user, feature, context.clone()), at(10));
        assert_eq!(
            decision.allowed, allowed,
            "user {user} feature {feature} context {context:?}"
        );
    }
}

#[test]
fn star_blocks_every_feature() {
    let entries = vec![feature_block(
        "FeatureBlock/all",
        SubjectKey::UserId("1".into()),
        &["*"],
        &[],
    )];
    for feature in ["EXPENSES", "CONVERSATIONS", "anything"] {
        let decision = decide(&entries, &ask_user("1", feature, vec![]), at(1));
        assert!(!decision.allowed, "{feature}");
        assert_eq!(decision.mode.as_deref(), Some("FeatureBlock"));
    }
}

#[test]
fn every_subject_kind() {
    let entries = vec![
        user_ban("UserBan/id", SubjectKey::UserId("42".into()), Mode::Suspend),
        user_ban(
            "UserBan/name",
            SubjectKey::Username("mallory".into()),
            Mode::Suspend,
        ),
        user_ban(
            "UserBan/mail",
            SubjectKey::Email(hash_email("eve@example.org")),
            Mode::Suspend,
        ),
        user_ban(
            "UserBan/v4",
            SubjectKey::Ip("198.51.100.0/24".into()),
            Mode::Suspend,
        ),
        user_ban(
            "UserBan/v6",
            SubjectKey::Ip("2001:db8::/32".into()),
            Mode::Suspend,
        ),
        user_ban(
            "UserBan/key",
            SubjectKey::KeyFingerprint("SHA256:abc".into()),
            Mode::Suspend,
        ),
    ];
    let base = Query {
        feature: "comments".into(),
        ..Default::default()
    };
    let denied = |q: Query| !decide(&entries, &q, at(1)).allowed;
    assert!(denied(Query {
        user_id: Some("42".into()),
        ..base.clone()
    }));
    assert!(!denied(Query {
        user_id: Some("43".into()),
        ..base.clone()
    }));
    assert!(denied(Query {
        username: Some("mallory".into()),
        ..base.clone()
    }));
    assert!(!denied(Query {
        username: Some("Mallory".into()),
        ..base.clone()
    }));
    assert!(denied(Query {
        email: Some("  EVE+work@Example.org ".into()),
        ..base.clone()
    }));
    assert!(denied(Query {
        email: Some(hash_email("eve@example.org")),
        ..base.clone()
    }));
    assert!(!denied(Query {
        email: Some("eve2@example.org".into()),
        ..base.clone()
    }));
    assert!(denied(Query {
        ip: Some("198.51.100.77".parse().unwrap()),
        ..base.clone()
    }));
    assert!(denied(Query {
        ip: Some("::ffff:198.51.100.77".parse().unwrap()),
        ..base.clone()
    }));
    assert!(!denied(Query {
        ip: Some("198.51.101.1".parse().unwrap()),
        ..base.clone()
    }));
    assert!(denied(Query {
        ip: Some("2001:db8:1::9".parse().unwrap()),
        ..base.clone()
    }));
    assert!(!denied(Query {
        ip: Some("2001:db9::9".parse().unwrap()),
        ..base.clone()
    }));
    assert!(denied(Query {
        key_fingerprint: Some("SHA256:abc".into()),
        ..base.clone()
    }));
    assert!(!denied(Query {
        key_fingerprint: Some("SHA256:abd".into()),
        ..base.clone()
    }));
    // Any identifier of the request can match.
    assert!(denied(Query {
        user_id: Some("7".into()),
        ip: Some("198.51.100.1".parse().unwrap()),
        ..base.clone()
    }));
}

#[test]
fn time_boundaries_from_inclusive_until_exclusive() {
    let entry = Entry {
        from: at(10),
        until: Some(at(20)),
        ..user_ban("UserBan/t", SubjectKey::UserId("1".into()), Mode::Suspend)
    };
    let entries = [entry];
    let q = ask_user("1", "x", vec![]);
    assert!(decide(&entries, &q, at(9)).allowed);
    assert!(!decide(&entries, &q, at(10)).allowed);
    assert!(!decide(&entries, &q, at(19) + chrono::Duration::milliseconds(999)).allowed);
    assert!(decide(&entries, &q, at(20)).allowed);
}

#[test]
fn silence_keeps_login_read_export_and_hides_content() {
    let entries = [user_ban(
        "UserBan/quiet",
        SubjectKey::UserId("1".into()),
        Mode::Silence,
    )];
    for feature in SILENCE_ALLOWED_FEATURES {
        assert!(
            decide(&entries, &ask_user("1", feature, vec![]), at(1)).allowed,
            "{feature}"
        );
    }
    let publish = decide(&entries, &ask_user("1", "publish", vec![]), at(1));
    assert!(!publish.allowed);
    assert_eq!(publish.mode.as_deref(), Some("Silence"));
    assert!(publish.content_hidden);
}

#[test]
fn most_severe_then_longest_wins_regardless_of_order() {
    let block = Entry {
        until: Some(at(1000)),
        ..feature_block(
            "FeatureBlock/a",
            SubjectKey::UserId("1".into()),
            &["*"],
            &[],
        )
    };
    let short = Entry {
        until: Some(at(50)),
        ..user_ban(
            "UserBan/short",
            SubjectKey::UserId("1".into()),
            Mode::Suspend,
        )
    };
    let long = Entry {
        until: Some(at(500)),
        ..user_ban(
            "UserBan/long",
            SubjectKey::UserId("1".into()),
            Mode::Suspend,
        )
    };
    let q = ask_user("1", "x", vec![]);
    for entries in [
        vec![block.clone(), short.clone(), long.clone()],
        vec![long.clone(), short.clone(), block.clone()],
    ] {
        let decision = decide(&entries, &q, at(1));
        assert_eq!(decision.ban.as_deref(), Some("UserBan/long"));
        assert_eq!(decision.until, Some(at(500)));
        assert_eq!(decision.mode.as_deref(), Some("Suspend"));
        assert_eq!(decision.message.as_deref(), Some("You are banned"));
    }
}

#[test]
fn silenced_subject_allowed_to_log_in_still_has_content_hidden() {
    let entries = [user_ban(
        "UserBan/quiet",
        SubjectKey::UserId("1".into()),
        Mode::Silence,
    )];
    let login = decide(&entries, &ask_user("1", "login", vec![]), at(1));
    assert!(login.allowed);
    assert!(login.content_hidden);
    assert_eq!(login.mode.as_deref(), Some("Silence"));
    let stranger = decide(&entries, &ask_user("2", "login", vec![]), at(1));
    assert_eq!(stranger, Decision::allow());
}

#[test]
fn features_and_scope_kinds_ignore_ascii_case_scope_names_do_not() {
    let entries = vec![feature_block(
        "FeatureBlock/f",
        SubjectKey::UserId("1".into()),
        &["EXPENSES"],
        &[("academy", "Downtown")],
    )];
    let q = |feature: &str, kind: &str, name: &str| ask_user("1", feature, vec![scope(kind, name)]);
    assert!(!decide(&entries, &q("expenses", "Academy", "Downtown"), at(1)).allowed);
    assert!(decide(&entries, &q("expenses", "academy", "downtown"), at(1)).allowed);
}

#[test]
fn hashed_email_queries_accept_any_prefix_case() {
    let entries = [user_ban(
        "UserBan/mail",
        SubjectKey::Email(hash_email("eve@example.org")),
        Mode::Suspend,
    )];
    let hash = hash_email("eve@example.org")
        .replace("sha256:", "SHA256:")
        .to_uppercase();
    let q = Query {
        email: Some(hash),
        feature: "x".into(),
        ..Default::default()
    };
    assert!(!decide(&entries, &q, at(1)).allowed);
}
