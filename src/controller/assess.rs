//! What a ban amounts to at a given time, once lifts, exemptions and review
//! dates are taken into account: the pure step between the objects and what the
//! namespace pass publishes and writes.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::api::{BanExemption, Phase};
use crate::core::compile::{CompileError, CompiledBan, subject_key};
use crate::core::duration::parse_duration;
use crate::core::{Entry, Exemption, Revocation};

/// Shared between the passes that see the same resourceVersion of a ban.
pub type Compiled = Arc<Result<CompiledBan, CompileError>>;

#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub compiled: Compiled,
    /// When the ban was lifted early, and by what (`spec.lift`, `BanAppeal/<name>`).
    pub lifted: Option<(DateTime<Utc>, String)>,
    /// The exemption that keeps this ban out of the blocklist.
    pub exempted_by: Option<String>,
    /// When a permanent ban is due for review.
    pub review_at: Option<DateTime<Utc>>,
}

impl Assessment {
    pub fn compiled(&self) -> Result<&CompiledBan, &CompileError> {
        (*self.compiled).as_ref()
    }

    pub fn phase(&self, now: DateTime<Utc>) -> Option<Phase> {
        let compiled = self.compiled().ok()?;
        match self.lifted {
            Some((at, _)) if at <= now => Some(Phase::Lifted),
            _ => Some(compiled.window.phase_at(now)),
        }
    }

    /// When the ban stopped applying, once it has.
    pub fn ended_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.phase(now)? {
            Phase::Lifted => self.lifted.as_ref().map(|(at, _)| *at),
            Phase::Expired => self.compiled().ok()?.window.until,
            Phase::Scheduled | Phase::Active | Phase::Exempted => None,
        }
    }

    /// The entry readers get: in force or scheduled. Exempted and invalid bans
    /// publish nothing.
    pub fn published(&self, now: DateTime<Utc>) -> Option<Entry> {
        let compiled = self.compiled().ok()?;
        (self.exempted_by.is_none() && self.ended_at(now).is_none()).then(|| compiled.entry.clone())
    }

    /// For a ban that ended less than `retention` ago and revoked sessions: the
    /// record that keeps sessions from before it invalid after it.
    pub fn revocation(&self, now: DateTime<Utc>, retention: Duration) -> Option<Revocation> {
        let entry = &self.compiled().ok()?.entry;
        let end = self.ended_at(now)?;
        let before = entry.revoke_sessions_before?;
        let until = end + retention;
        (self.exempted_by.is_none() && now < until).then(|| Revocation {
            id: entry.id.clone(),
            subject: entry.subject.clone(),
            before,
            until,
        })
    }

    /// The next time this ban's published form or status changes by itself.
    pub fn next_change(&self, now: DateTime<Utc>, retention: Duration) -> Option<DateTime<Utc>> {
        let compiled = self.compiled().ok()?;
        let timeline = match self.ended_at(now) {
            Some(end) if compiled.entry.revoke_sessions_before.is_some() => Some(end + retention),
            Some(_) => None,
            None => compiled.window.next_transition(now),
        };
        let review = self
            .review_at
            .filter(|at| *at > now && self.ended_at(now).is_none());
        [timeline, review]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
    }
}

/// `spec.reviewAfter`: a date (midnight UTC), an RFC 3339 time, or a duration
/// counted from the start. Only permanent bans are reviewed.
pub fn review_at(
    review_after: Option<&str>,
    compiled: &Result<CompiledBan, CompileError>,
) -> Option<DateTime<Utc>> {
    let text = review_after?.trim();
    let window = compiled.as_ref().ok()?.window;
    if window.until.is_some() {
        return None;
    }
    if let Ok(duration) = parse_duration(text) {
        return window.from.checked_add_signed(duration);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// An exemption as published, or why it cannot be.
pub fn compile_exemption(
    exemption: &BanExemption,
    key: Option<&crate::core::EmailKey>,
) -> Result<Exemption, CompileError> {
    Ok(Exemption {
        id: format!(
            "BanExemption/{}",
            exemption.metadata.name.clone().unwrap_or_default()
        ),
        subject: subject_key(&exemption.spec.subject, key)?,
        until: exemption.spec.expires_at,
    })
}

/// The exemption, among those in force, whose subject is exactly the ban's.
pub fn exempting<'a>(
    compiled: &Result<CompiledBan, CompileError>,
    exemptions: &'a [Exemption],
    now: DateTime<Utc>,
) -> Option<&'a Exemption> {
    let subject = &compiled.as_ref().ok()?.entry.subject;
    exemptions
        .iter()
        .filter(|x| x.in_force(now))
        .find(|x| x.subject == *subject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::SubjectKey;
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::schedule::Window;

    fn assessment(until: Option<i64>, revokes: bool) -> Assessment {
        let window = Window {
            from: at(0),
            until: until.map(at),
        };
        let entry = Entry {
            until: window.until,
            revoke_sessions_before: revokes.then_some(at(0)),
            ..user_ban(
                "UserBan/x",
                SubjectKey::UserId("1".into()),
                crate::core::Mode::Suspend,
            )
        };
        Assessment {
            compiled: Arc::new(Ok(CompiledBan { window, entry })),
            lifted: None,
            exempted_by: None,
            review_at: None,
        }
    }

    #[test]
    fn ended_bans_leave_the_entries_and_revoke_sessions_within_retention() {
        let retention = Duration::seconds(100);
        let ban = assessment(Some(10), true);
        assert_eq!(ban.published(at(5)).unwrap().until, Some(at(10)));
        assert_eq!(
            ban.revocation(at(5), retention),
            None,
            "still in force: an entry, not a revocation"
        );
        assert_eq!(
            ban.published(at(50)),
            None,
            "an ended ban leaves the entries"
        );
        let kept = ban
            .revocation(at(50), retention)
            .expect("kept for session revocation");
        assert_eq!((kept.before, kept.until), (at(0), at(110)));
        assert_eq!(ban.revocation(at(110), retention), None);
        assert_eq!(ban.next_change(at(50), retention), Some(at(110)));
        assert_eq!(
            assessment(Some(10), false).revocation(at(50), retention),
            None
        );
    }

    #[test]
    fn a_lift_ends_the_ban_and_is_sticky() {
        let retention = Duration::seconds(100);
        let lifted = Assessment {
            lifted: Some((at(3), "spec.lift".into())),
            ..assessment(None, true)
        };
        assert_eq!(lifted.phase(at(5)), Some(Phase::Lifted));
        assert_eq!(lifted.published(at(5)), None);
        assert_eq!(lifted.revocation(at(5), retention).unwrap().until, at(103));
        assert_eq!(lifted.revocation(at(200), retention), None);
    }

    #[test]
    fn exempted_bans_publish_nothing() {
        let exempt = Assessment {
            exempted_by: Some("BanExemption/x".into()),
            ..assessment(None, true)
        };
        assert_eq!(exempt.published(at(5)), None);
        assert_eq!(exempt.phase(at(5)), Some(Phase::Active));
    }

    #[test]
    fn review_after_accepts_dates_times_and_durations_for_permanent_bans() {
        let permanent = assessment(None, false).compiled;
        assert_eq!(review_at(Some("1h"), &permanent), Some(at(3600)));
        assert_eq!(
            review_at(Some("2030-01-02"), &permanent),
            Some("2030-01-02T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            review_at(Some("2030-01-02T10:00:00+02:00"), &permanent),
            Some("2030-01-02T08:00:00Z".parse().unwrap())
        );
        assert_eq!(
            review_at(Some("1h"), &assessment(Some(10), false).compiled),
            None,
            "temporary bans end on their own"
        );
        assert_eq!(review_at(None, &permanent), None);
    }
}
