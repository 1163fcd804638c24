//! The bans every bench creates: one realistic mix, shared by the operator
//! bench (created on the control plane) and the memory bench (held in memory).

use chrono::{DateTime, Utc};
use interdict::api::UserBan;
use serde_json::json;

/// A UserBan of the benchmark mix: 60 % user ids, 10 % each usernames,
/// emails, IPv4 /24 ranges and key fingerprints; a quarter with a duration.
pub fn ban(name: &str, i: usize) -> UserBan {
    let subject = match i % 10 {
        0..=5 => json!({ "userId": format!("user-{i}") }),
        6 => json!({ "username": format!("name-{i}") }),
        7 => json!({ "email": format!("u{i}@example.org") }),
        8 => json!({ "ip": format!("10.{}.{}.0/24", (i / 256) % 256, i % 256) }),
        _ => json!({ "keyFingerprint": format!("SHA256:key{i}") }),
    };
    let mut spec = json!({
        "subject": subject,
        "reason": { "code": "spam", "notes": format!("bench ticket #{i}") },
        "message": "Your account is suspended for spamming.",
    });
    if i.is_multiple_of(4) {
        spec["duration"] = json!("30d");
    }
    user_ban(name, spec)
}

/// A plain Suspend ban that ends at `until`.
pub fn expiring_ban(name: &str, i: usize, until: DateTime<Utc>) -> UserBan {
    user_ban(
        name,
        json!({
            "subject": { "userId": format!("expiring-{i}") },
            "reason": { "code": "spam" },
            "message": "Your account is suspended for spamming.",
            "expiresAt": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}

fn user_ban(name: &str, spec: serde_json::Value) -> UserBan {
    serde_json::from_value(json!({
        "apiVersion": "interdict.dev/v1alpha1",
        "kind": "UserBan",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("a valid UserBan")
}
