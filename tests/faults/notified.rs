//! Notifications under faults: once the receivers are back, every notified
//! transition of a ban that still exists has reached the webhook and (under
//! the same key) the SMTP server, and none twice. A
//! redelivery with the same idempotency key (sent, then the answer lost to a
//! fault) is the documented at-least-once contract and counted apart; two
//! different keys for one transition would be two notifications. (Appeal
//! events are one per appeal, and the receiver's record names the ban only:
//! they are not counted per ban.)

use std::collections::{BTreeMap, BTreeSet};

use crate::invariants::Observed;

/// One delivery as the receiver got it: (event, ban name, idempotency key).
pub type Delivery = (String, String, String);

/// Transitions that notify (`Transition::notifies`), by their Event reason.
const NOTIFIED: [&str; 4] = ["Applied", "Activated", "Expired", "Lifted"];

/// Violations in `observed` given every webhook delivery and the keys of
/// every email so far, and how many webhook deliveries repeated a key.
pub fn check(
    observed: &Observed,
    deliveries: &[Delivery],
    emailed: &BTreeSet<String>,
) -> (Vec<String>, usize) {
    let ns = &observed.namespace;
    let names: BTreeSet<&str> = observed
        .bans
        .iter()
        .filter_map(|b| b.metadata.name.as_deref())
        .collect();
    let mut keys: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    let mut repeated = 0;
    for (event, name, key) in deliveries {
        // An appeal event is one per appeal, and a ban may have several
        // appeals: only the ban's own transitions are one per ban.
        if names.contains(name.as_str())
            && NOTIFIED.contains(&event.as_str())
            && !keys
                .entry((event.as_str(), name.as_str()))
                .or_default()
                .insert(key.as_str())
        {
            repeated += 1;
        }
    }
    let mut violations: Vec<String> = keys
        .iter()
        .filter(|(_, keys)| keys.len() > 1)
        .map(|((event, name), keys)| {
            format!(
                "{ns}/{name}: {} notifications {event} (keys {keys:?})",
                keys.len()
            )
        })
        .collect();
    // Each notified transition's Event names its ban: it must have arrived.
    for event in &observed.events {
        let reason = event.reason.as_deref().unwrap_or_default();
        let regarding = event.regarding.as_ref();
        let Some(name) = regarding.and_then(|r| r.name.as_deref()) else {
            continue;
        };
        if regarding.and_then(|r| r.kind.as_deref()) != Some("UserBan")
            || !NOTIFIED.contains(&reason)
            || !names.contains(name)
        {
            continue;
        }
        if !keys.contains_key(&(reason, name)) {
            violations.push(format!("{ns}/{name}: {reason} was never notified"));
        }
    }
    // A workload ban has a contact address (a probe has none): what reached
    // the webhook reached the SMTP server too, under the same key.
    let addressed: BTreeSet<&str> = observed
        .bans
        .iter()
        .filter(|b| b.spec.contact.as_ref().is_some_and(|c| c.email.is_some()))
        .filter_map(|b| b.metadata.name.as_deref())
        .collect();
    for (event, name, key) in deliveries {
        if addressed.contains(name.as_str()) && !emailed.contains(key) {
            violations.push(format!(
                "{ns}/{name}: {event} was delivered to the webhook (key {key}) and never by email"
            ));
        }
    }
    // Nothing left undelivered in the statuses.
    for ban in &observed.bans {
        let name = ban.metadata.name.as_deref().unwrap_or_default();
        for record in ban.status.iter().flat_map(|s| &s.notifications) {
            if record.state != "Delivered" {
                violations.push(format!(
                    "{ns}/{name}: notification {} to {} is {} after {} attempt(s): {}",
                    record.event,
                    record.sink,
                    record.state,
                    record.attempts,
                    record.last_error.as_deref().unwrap_or("no error")
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    (violations, repeated)
}
