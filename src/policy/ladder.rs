//! The escalation ladder: the n-th automatic ban of a subject lasts the n-th
//! rung's duration (the last rung repeats), and a subject clean for
//! `forgiveAfter` starts at the bottom again. The history comes from the bans
//! themselves (their labels), so it survives restarts.

use chrono::{DateTime, Duration, Utc};

use crate::core::duration::{DurationError, parse_duration};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    For(Duration),
    Permanent,
}

impl Rung {
    /// As the ban's `spec.duration` would say it; `Permanent` for none.
    pub fn label(&self, text: &str) -> String {
        match self {
            Rung::For(_) => text.to_string(),
            Rung::Permanent => "Permanent".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    rungs: Vec<(Rung, String)>,
}

impl Ladder {
    pub fn parse(texts: &[String]) -> Result<Ladder, (usize, DurationError)> {
        let mut rungs = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let rung = if text == "Permanent" {
                Rung::Permanent
            } else {
                Rung::For(parse_duration(text).map_err(|e| (index, e))?)
            };
            rungs.push((rung, text.clone()));
        }
        if rungs.is_empty() {
            return Err((0, DurationError::Empty));
        }
        Ok(Ladder { rungs })
    }

    /// The rung at `index`, or the last one past the top.
    pub fn rung(&self, index: u32) -> (Rung, &str) {
        let (rung, text) = &self.rungs[(index as usize).min(self.rungs.len() - 1)];
        (*rung, text)
    }

    pub fn len(&self) -> usize {
        self.rungs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rungs.is_empty()
    }
}

/// An earlier automatic ban of the same policy and subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastBan {
    pub rung: u32,
    pub created: DateTime<Utc>,
    /// When it stopped applying (expired or lifted); `None` while in force
    /// (or permanent).
    pub ended: Option<DateTime<Utc>>,
}

impl PastBan {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.ended.is_none_or(|end| now < end)
    }
}

/// The rung of the next ban: one above the latest earlier ban, or the bottom
/// when there is none or the subject has been clean for `forgive_after`
/// since it ended.
pub fn next_rung(history: &[PastBan], now: DateTime<Utc>, forgive_after: Option<Duration>) -> u32 {
    let Some(latest) = history.iter().max_by_key(|b| (b.created, b.rung)) else {
        return 0;
    };
    let forgiven = match (latest.ended, forgive_after) {
        (Some(end), Some(clean)) => end <= now && now - end >= clean,
        _ => false,
    };
    if forgiven {
        0
    } else {
        latest.rung.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn ladder(texts: &[&str]) -> Ladder {
        Ladder::parse(&texts.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn rungs_climb_and_the_last_one_repeats() {
        let ladder = ladder(&["15m", "1h", "Permanent"]);
        assert_eq!(ladder.rung(0), (Rung::For(Duration::minutes(15)), "15m"));
        assert_eq!(ladder.rung(1), (Rung::For(Duration::hours(1)), "1h"));
        assert_eq!(ladder.rung(2).0, Rung::Permanent);
        assert_eq!(ladder.rung(7).0, Rung::Permanent);
    }

    #[test]
    fn a_bad_rung_is_named_by_its_index() {
        let texts = vec!["15m".to_string(), "soon".to_string()];
        assert_eq!(Ladder::parse(&texts).unwrap_err().0, 1);
    }

    #[test]
    fn the_next_rung_follows_the_latest_ban_unless_forgiven() {
        let first = PastBan {
            rung: 0,
            created: at(0),
            ended: Some(at(900)),
        };
        assert_eq!(next_rung(&[], at(0), None), 0);
        assert_eq!(next_rung(&[first], at(1000), None), 1);
        let day = Some(Duration::days(1));
        assert_eq!(next_rung(&[first], at(1000), day), 1);
        assert_eq!(next_rung(&[first], at(900 + 86_400), day), 0);
        let second = PastBan {
            rung: 1,
            created: at(2000),
            ended: Some(at(5600)),
        };
        assert_eq!(next_rung(&[second, first], at(6000), day), 2);
        // A ban still in force is never forgiven.
        let open = PastBan {
            rung: 3,
            created: at(0),
            ended: None,
        };
        assert_eq!(next_rung(&[open], at(10 * 86_400), day), 4);
    }
}
