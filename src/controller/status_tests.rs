use super::*;
use crate::core::Mode;
use crate::core::SubjectKey;
use crate::core::compile::{CompileError, CompiledBan};
use crate::core::entry::fixtures::{at, user_ban};
use crate::core::schedule::Window;

fn transition(old: Option<&BanStatus>, new: &BanStatus) -> Option<Transition> {
    transitions(old, new).first().copied()
}

fn assessed(compiled: Result<CompiledBan, CompileError>) -> Assessment {
    Assessment {
        compiled: std::sync::Arc::new(compiled),
        lifted: None,
        exempted_by: None,
        review_at: None,
    }
}

fn compiled(from: i64, until: Option<i64>) -> Assessment {
    assessed(compiled_ban(from, until))
}

fn compiled_ban(from: i64, until: Option<i64>) -> Result<CompiledBan, CompileError> {
    let window = Window {
        from: at(from),
        until: until.map(at),
    };
    Ok(CompiledBan {
        window,
        entry: crate::core::Entry {
            from: window.from,
            until: window.until,
            ..user_ban("UserBan/x", SubjectKey::UserId("1".into()), Mode::Suspend)
        },
    })
}

#[test]
fn lifecycle_records_each_transition_once() {
    let ban = compiled(10, Some(20));
    let scheduled = desired_status(&ban, Some(1), None, "bl", at(0));
    assert_eq!(scheduled.phase, Some(Phase::Scheduled));
    assert_eq!(transition(None, &scheduled), Some(Transition::Scheduled));
    let again = desired_status(&ban, Some(1), Some(&scheduled), "bl", at(5));
    assert_eq!(again, scheduled, "nothing changed, nothing to write");
    assert_eq!(transition(Some(&scheduled), &again), None);

    let active = desired_status(&ban, Some(1), Some(&scheduled), "bl", at(10));
    assert_eq!(
        transition(Some(&scheduled), &active),
        Some(Transition::Activated)
    );
    let expired = desired_status(&ban, Some(1), Some(&active), "bl", at(20));
    assert_eq!(expired.phase, Some(Phase::Expired));
    assert_eq!(
        transition(Some(&active), &expired),
        Some(Transition::Expired)
    );
    assert_eq!(transition(Some(&expired), &expired), None);
}

#[test]
fn expired_while_down_is_recorded_as_applied_then_expired() {
    // As if seen on time: a process may have recorded (and notified) nothing
    // of it, or recorded the application and died before its status write.
    let ban = compiled(0, Some(5));
    let first_seen = desired_status(&ban, Some(1), None, "bl", at(100));
    assert_eq!(
        transitions(None, &first_seen),
        [Transition::Applied, Transition::Expired]
    );
}

#[test]
fn lifted_before_any_status_records_its_application_first() {
    // In force from 0, lifted at 5, first seen at 6 with no stored phase.
    let permanent = compiled(0, None);
    let lifted = Assessment {
        lifted: Some((at(5), "spec.lift".into())),
        ..permanent.clone()
    };
    let first_seen = desired_status(&lifted, Some(2), None, "bl", at(6));
    assert_eq!(
        transitions(None, &first_seen),
        [Transition::Applied, Transition::Lifted]
    );
    // Lifted before it started: it was never in force.
    let later = compiled(10, None);
    let cancelled = Assessment {
        lifted: Some((at(5), "spec.lift".into())),
        ..later
    };
    let first_seen = desired_status(&cancelled, Some(2), None, "bl", at(6));
    assert_eq!(transitions(None, &first_seen), [Transition::Lifted]);
    // Last stored as scheduled: it started (a process may have recorded the
    // activation and died before its status write), then ran out.
    let timed = compiled(10, Some(20));
    let scheduled = desired_status(&timed, Some(1), None, "bl", at(0));
    let ended = desired_status(&timed, Some(1), Some(&scheduled), "bl", at(30));
    assert_eq!(
        transitions(Some(&scheduled), &ended),
        [Transition::Activated, Transition::Expired]
    );
    // A stored phase already tells its story: the lift alone.
    let active = desired_status(&permanent, Some(1), None, "bl", at(1));
    let after = desired_status(&lifted, Some(2), Some(&active), "bl", at(6));
    assert_eq!(transitions(Some(&active), &after), [Transition::Lifted]);
}

#[test]
fn ready_transition_time_moves_only_on_status_flip() {
    let ban = compiled(10, Some(20));
    let scheduled = desired_status(&ban, Some(1), None, "bl", at(0));
    let active = desired_status(&ban, Some(1), Some(&scheduled), "bl", at(10));
    assert_eq!(
        active.conditions[0].last_transition_time,
        scheduled.conditions[0].last_transition_time
    );
    assert_eq!(active.conditions[0].reason, "Active");
    let invalid = desired_status(
        &assessed(Err(CompileError::SubjectCount)),
        Some(2),
        Some(&active),
        "bl",
        at(15),
    );
    assert_eq!(invalid.conditions[0].status, "False");
    assert_ne!(
        invalid.conditions[0].last_transition_time,
        active.conditions[0].last_transition_time
    );
}

#[test]
fn invalid_spec_is_reported_once_per_generation() {
    let bad = assessed(Err(CompileError::SubjectCount));
    let first = desired_status(&bad, Some(3), None, "bl", at(0));
    assert_eq!(transition(None, &first), Some(Transition::Invalid));
    assert_eq!(
        transition(
            Some(&first),
            &desired_status(&bad, Some(3), Some(&first), "bl", at(1))
        ),
        None
    );
    assert_eq!(
        transition(
            Some(&first),
            &desired_status(&bad, Some(4), Some(&first), "bl", at(1))
        ),
        Some(Transition::Invalid)
    );
}

#[test]
fn spec_edit_in_same_phase_is_an_update() {
    let ban = compiled(0, None);
    let v1 = desired_status(&ban, Some(1), None, "bl", at(1));
    let v2 = desired_status(&ban, Some(2), Some(&v1), "bl", at(2));
    assert_eq!(transition(Some(&v1), &v2), Some(Transition::Updated));
}

#[test]
fn emails_are_not_displayed_in_clear() {
    let shown = subject_display(&SubjectKey::Email(crate::core::email::hash_email(
        "eve@example.org",
    )));
    assert!(shown.starts_with("email:sha256:"), "{shown}");
    assert!(!shown.contains("eve"));

    let key = crate::core::EmailKey::new(b"interdict-test-email-key-0001").unwrap();
    let keyed = key.hash_email("eve@example.org");
    let shown = subject_display(&SubjectKey::Email(keyed.clone()));
    assert_eq!(shown, "email:hmac-sha256:91813912:c2f84d1d79a0…");
    let head = shown.trim_start_matches("email:").trim_end_matches('…');
    assert!(keyed.starts_with(head), "{keyed} {shown}");
}

#[test]
fn lift_exemption_and_review_are_recorded_once() {
    let permanent = compiled(0, None);
    let active = desired_status(&permanent, Some(1), None, "bl", at(1));
    let lifted = Assessment {
        lifted: Some((at(5), "BanAppeal/a".into())),
        ..permanent.clone()
    };
    let after = desired_status(&lifted, Some(1), Some(&active), "bl", at(6));
    assert_eq!(after.phase, Some(Phase::Lifted));
    assert_eq!(after.lifted_by.as_deref(), Some("BanAppeal/a"));
    assert_eq!(transitions(Some(&active), &after), [Transition::Lifted]);
    assert_eq!(
        transitions(
            Some(&after),
            &desired_status(&lifted, Some(1), Some(&after), "bl", at(7))
        ),
        []
    );

    let exempt = Assessment {
        exempted_by: Some("BanExemption/office".into()),
        ..permanent.clone()
    };
    // An exempt subject's ban is announced as exempted, never as applied.
    let first = desired_status(&exempt, Some(1), None, "bl", at(1));
    assert_eq!(transitions(None, &first), [Transition::Exempted]);
    assert_eq!(first.phase, Some(Phase::Exempted));
    assert_eq!(first.conditions[0].reason, "Exempt");
    assert!(
        first.conditions[0].message.contains("BanExemption/office"),
        "{}",
        first.conditions[0].message
    );
    let other = Assessment {
        exempted_by: Some("BanExemption/vpn".into()),
        ..permanent.clone()
    };
    let moved = desired_status(&other, Some(1), Some(&first), "bl", at(2));
    assert_eq!(transitions(Some(&first), &moved), [Transition::Exempted]);
    // The exemption goes: now the ban applies, and says so.
    let unexempted = desired_status(&permanent, Some(1), Some(&moved), "bl", at(3));
    assert_eq!(unexempted.phase, Some(Phase::Active));
    assert_eq!(
        transitions(Some(&moved), &unexempted),
        [Transition::Applied]
    );
    assert!(Transition::Applied.notifies() && !Transition::Exempted.notifies());

    let reviewed = Assessment {
        review_at: Some(at(100)),
        ..permanent
    };
    let before = desired_status(&reviewed, Some(1), Some(&active), "bl", at(50));
    assert_eq!(transitions(Some(&active), &before), []);
    let due = desired_status(&reviewed, Some(1), Some(&before), "bl", at(100));
    assert_eq!(transitions(Some(&before), &due), [Transition::ReviewDue]);
    assert!(
        due.conditions
            .iter()
            .any(|c| c.type_ == REVIEW_DUE && c.status == "True")
    );
    assert_eq!(
        transitions(
            Some(&due),
            &desired_status(&reviewed, Some(1), Some(&due), "bl", at(200))
        ),
        []
    );
}

#[test]
fn a_ban_that_ran_out_before_its_lift_records_its_expiry_too() {
    // In force from 0 to 10, lifted at 20, first seen lifted: a process that
    // recorded the expiry died before its status write.
    let timed = compiled(0, Some(10));
    let active = desired_status(&timed, Some(1), None, "bl", at(1));
    let lifted = Assessment {
        lifted: Some((at(20), "BanAppeal/a".into())),
        ..timed.clone()
    };
    let after = desired_status(&lifted, Some(2), Some(&active), "bl", at(21));
    assert_eq!(
        transitions(Some(&active), &after),
        [Transition::Expired, Transition::Lifted]
    );
    // Already seen expired: the lift alone.
    let expired = desired_status(&timed, Some(1), Some(&active), "bl", at(11));
    assert_eq!(expired.phase, Some(Phase::Expired));
    assert_eq!(transitions(Some(&expired), &after), [Transition::Lifted]);
    // Lifted while still in force: no expiry happened.
    let early = Assessment {
        lifted: Some((at(5), "BanAppeal/a".into())),
        ..timed
    };
    let cut_short = desired_status(&early, Some(2), Some(&active), "bl", at(21));
    assert_eq!(transitions(Some(&active), &cut_short), [Transition::Lifted]);
}
