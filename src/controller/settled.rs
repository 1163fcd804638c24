//! Bans whose status was found right: at the same inputs and before their next
//! time-driven change, the namespace pass skips them, so an idle ban costs
//! next to nothing however many a namespace holds.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A digest of the inputs a ban was settled at, and until when it stays
/// settled. Digests rather than strings: one entry per ban, and at 100k bans
/// the uid and input strings alone would be ~15 MiB. (Keyed SipHash, random
/// per process: two uids or inputs that collide cannot be chosen.)
type Settlement = (u64, Option<DateTime<Utc>>);

#[derive(Default)]
pub struct Settled {
    /// By digest of the uid.
    bans: Mutex<HashMap<u64, Settlement>>,
    digests: RandomState,
}

impl Settled {
    fn digest(&self, text: &str) -> u64 {
        self.digests.hash_one(text)
    }

    pub fn is_settled(&self, uid: &str, inputs: &str, now: DateTime<Utc>) -> bool {
        let (uid, inputs) = (self.digest(uid), self.digest(inputs));
        let bans = self.bans.lock().expect("settled lock");
        bans.get(&uid)
            .is_some_and(|(known, until)| *known == inputs && until.is_none_or(|u| now < u))
    }

    pub fn settle(&self, uid: &str, inputs: String, until: Option<DateTime<Utc>>) {
        let (uid, inputs) = (self.digest(uid), self.digest(&inputs));
        self.bans
            .lock()
            .expect("settled lock")
            .insert(uid, (inputs, until));
    }

    pub fn forget(&self, uid: &str) {
        let uid = self.digest(uid);
        self.bans.lock().expect("settled lock").remove(&uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::entry::fixtures::at;

    #[test]
    fn settled_until_inputs_change_or_time_passes() {
        let settled = Settled::default();
        assert!(!settled.is_settled("u", "rv1", at(0)));
        settled.settle("u", "rv1".into(), Some(at(10)));
        assert!(settled.is_settled("u", "rv1", at(9)));
        assert!(!settled.is_settled("u", "rv2", at(9)), "new inputs");
        assert!(
            !settled.is_settled("u", "rv1", at(10)),
            "a time-driven change is due"
        );
        settled.forget("u");
        assert!(!settled.is_settled("u", "rv1", at(0)));
    }
}
