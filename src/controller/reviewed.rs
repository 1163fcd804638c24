//! A ban as the status worker takes it: the object and what the pass made of
//! it; and the entry counts the metrics report.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::assess::Assessment;
use super::ban::BanResource;
use super::finalizer;
use super::metrics::ModePhase;
use crate::core::Entry;

pub struct Reviewed<K> {
    pub object: Arc<K>,
    pub assessment: Assessment,
}

impl<K: BanResource> Reviewed<K> {
    pub fn deleting(&self) -> bool {
        finalizer::is_deleting(self.object.as_ref())
    }
}

pub fn entry_counts<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    now: DateTime<Utc>,
) -> HashMap<ModePhase, i64> {
    let mut counts: HashMap<(Option<crate::core::Mode>, bool), i64> = HashMap::new();
    for entry in entries
        .into_iter()
        .filter(|e| e.until.is_none_or(|u| now < u))
    {
        *counts.entry((entry.mode, entry.in_force(now))).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|((mode, in_force), count)| {
            let mode = match mode {
                Some(mode) => format!("{mode:?}"),
                None => "FeatureBlock".to_string(),
            };
            let phase = if in_force { "Active" } else { "Scheduled" };
            let key = ModePhase {
                mode,
                phase: phase.to_string(),
            };
            (key, count)
        })
        .collect()
}
