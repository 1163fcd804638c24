//! A subject's escalation history under one policy, read from the bans the
//! policy created (their labels), so it survives restarts and shows in
//! `kubectl get ub -l interdict.dev/policy=<name>`.

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::super::ban::BanResource;
use super::super::sources::Stores;
use crate::api::{FeatureBlock, UserBan};
use crate::policy::PastBan;
use crate::policy::compiled::{POLICY_LABEL, RUNG_LABEL, SUBJECT_LABEL};

/// One earlier automatic ban, with the number its name ends in.
#[derive(Clone, Debug)]
pub struct Earlier {
    pub name: String,
    pub ban: PastBan,
    pub sequence: usize,
}

pub fn earlier_bans(
    stores: &Stores,
    namespace: &str,
    policy: &str,
    subject_hash: &str,
    now: DateTime<Utc>,
) -> Vec<Earlier> {
    let mut out = Vec::new();
    collect::<UserBan>(stores, namespace, policy, subject_hash, now, &mut out);
    collect::<FeatureBlock>(stores, namespace, policy, subject_hash, now, &mut out);
    out
}

fn collect<K: BanResource>(
    stores: &Stores,
    namespace: &str,
    policy: &str,
    subject_hash: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Earlier>,
) {
    // The subject's label value picks the candidates before any is read back.
    for object in K::store(stores).matching(namespace, subject_hash) {
        let labels = object.labels();
        if labels.get(POLICY_LABEL).map(String::as_str) != Some(policy)
            || labels.get(SUBJECT_LABEL).map(String::as_str) != Some(subject_hash)
        {
            continue;
        }
        let rung = labels
            .get(RUNG_LABEL)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let created = object
            .meta()
            .creation_timestamp
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
            .unwrap_or(now);
        let lifted = object
            .ban_status()
            .and_then(|s| s.lifted_at)
            .or_else(|| object.lift().map(|_| now));
        let deleted = object
            .meta()
            .deletion_timestamp
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0));
        // Only the window is read, which no email key changes.
        let until = object.compile(None).ok().and_then(|c| c.window.until);
        let ended = [lifted, deleted, until].into_iter().flatten().min();
        let name = object.name_any();
        out.push(Earlier {
            sequence: sequence_of(&name),
            name,
            ban: PastBan {
                rung,
                created,
                ended,
            },
        });
    }
}

/// `brute-force-1a2b3c4d5e-3` → 3.
pub fn sequence_of(name: &str) -> usize {
    name.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::sequence_of;

    #[test]
    fn the_sequence_is_the_names_last_number() {
        assert_eq!(sequence_of("brute-force-1a2b3c4d5e-3"), 3);
        assert_eq!(sequence_of("odd"), 0);
    }
}
