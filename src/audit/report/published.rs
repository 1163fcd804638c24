//! Where the blocklist ConfigMaps publish a subject: items of the JSON
//! documents (entries, exemptions, revocations) and lines of the plain
//! lists. Read leniently: an item a reader would skip still names the subject.

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

use super::held::PublishedHeld;
use super::subject::Requested;

/// A blocklist item's `subject` (`{"email": "sha256:…"}`) as `kind:value`.
fn item_subject(item: &Value) -> Option<String> {
    let (kind, value) = item.get("subject")?.as_object()?.iter().next()?;
    Some(format!("{kind}:{}", value.as_str()?))
}

/// The subject kind a plain list holds, from its name
/// (`suspended-emails.txt`, `silenced-user-ids-3.txt`).
fn list_kind(key: &str) -> Option<&'static str> {
    let stem = key.strip_suffix(".txt")?;
    let rest = stem
        .strip_prefix("suspended-")
        .or_else(|| stem.strip_prefix("silenced-"))?;
    [
        ("user-ids", "userId"),
        ("usernames", "username"),
        ("emails", "email"),
        ("ips", "ip"),
        ("keys", "keyFingerprint"),
    ]
    .into_iter()
    .find(|(name, _)| {
        rest == *name
            || rest
                .strip_prefix(name)
                .and_then(|s| s.strip_prefix('-'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
    .map(|(_, kind)| kind)
}

pub fn published(config_maps: &[ConfigMap], requested: &Requested) -> Vec<PublishedHeld> {
    let mut found = Vec::new();
    for config_map in config_maps {
        let namespace = config_map.metadata.namespace.clone().unwrap_or_default();
        let name = config_map.metadata.name.clone().unwrap_or_default();
        let Some(data) = &config_map.data else {
            continue;
        };
        for (key, text) in data {
            let mut push = |item, id: Option<String>, value| {
                found.push(PublishedHeld {
                    namespace: namespace.clone(),
                    config_map: name.clone(),
                    key: key.clone(),
                    item,
                    id,
                    value,
                });
            };
            if crate::core::document::is_document_file(key) {
                // Read leniently: what a reader would skip still names the subject.
                let Ok(document) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                for (list, item) in [
                    ("entries", "entry"),
                    ("exemptions", "exemption"),
                    ("revocations", "revocation"),
                ] {
                    for value in document
                        .get(list)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if item_subject(value).is_some_and(|s| requested.identifier.matches(&s)) {
                            let id = value.get("id").and_then(Value::as_str).map(str::to_string);
                            push(item, id, value.clone());
                        }
                    }
                }
            } else if let Some(kind) = list_kind(key) {
                for line in text.lines() {
                    if requested.identifier.matches_value(kind, line) {
                        push("list", None, Value::String(line.to_string()));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list_names_give_their_subject_kind() {
        assert_eq!(list_kind("suspended-emails.txt"), Some("email"));
        assert_eq!(list_kind("silenced-user-ids-3.txt"), Some("userId"));
        assert_eq!(list_kind("suspended-usernames.txt"), Some("username"));
        assert_eq!(list_kind("suspended-keys.txt"), Some("keyFingerprint"));
        assert_eq!(list_kind("suspended-user-ids-x.txt"), None);
        assert_eq!(list_kind("blocklist.json"), None);
    }

    #[test]
    fn a_blocklist_item_names_its_subject_as_rows_do() {
        let item = serde_json::json!({"id": "UserBan/a", "subject": {"ip": "10.0.0.0/8"}});
        assert_eq!(item_subject(&item).as_deref(), Some("ip:10.0.0.0/8"));
        assert_eq!(item_subject(&serde_json::json!({"id": "x"})), None);
    }
}
