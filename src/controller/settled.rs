//! Bans whose status was found right: at the same inputs and before their next
//! time-driven change, the namespace pass skips them, so an idle ban costs
//! next to nothing however many a namespace holds.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// The inputs a ban was settled at, and until when it stays settled.
type Settlement = (String, Option<DateTime<Utc>>);

#[derive(Default)]
pub struct Settled {
    /// By uid.
    bans: Mutex<HashMap<String, Settlement>>,
}

impl Settled {
    pub fn is_settled(&self, uid: &str, inputs: &str, now: DateTime<Utc>) -> bool {
        let bans = self.bans.lock().expect("settled lock");
        bans.get(uid)
            .is_some_and(|(known, until)| known == inputs && until.is_none_or(|u| now < u))
    }

    pub fn settle(&self, uid: &str, inputs: String, until: Option<DateTime<Utc>>) {
        self.bans
            .lock()
            .expect("settled lock")
            .insert(uid.to_string(), (inputs, until));
    }

    pub fn forget(&self, uid: &str) {
        self.bans.lock().expect("settled lock").remove(uid);
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
