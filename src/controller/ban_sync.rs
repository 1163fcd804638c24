//! Bringing one ban's, appeal's or exemption's status (with its Events, audit
//! lines and notifications) in line with what the last pass published.

use crate::actor::{CREATED_BY, DECIDED_BY, DELETED_BY, LIFTED_BY, actor};
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::{Api, Resource, ResourceExt};

use super::Context;
use super::appeals::Verdict;
use super::assess::{self, Assessment};
use super::ban::BanResource;
use super::error::Error;
use super::failpoint;
use super::finalizer;
use super::reasons;
use super::record::{Happening, record, transition_id};
use super::reviewed::Reviewed;
use super::status::{READY, Transition, condition, desired_status, subject_display, transitions};
use super::{notifications, status_write};
use crate::api::{
    AppealPhase, AppealStatus, BanAppeal, BanExemption, BanKind, BanStatus, ExemptionStatus, Phase,
    SUBJECT_LABEL,
};

/// Appeal transitions that concern each ban, so its Events and notifications
/// can say so: (ban kind, name) → (reason, appeal name).
pub(super) type AppealEvents = HashMap<(BanKind, String), Vec<(&'static str, String)>>;

pub(super) fn appeal_events(
    appeals: &[&BanAppeal],
    verdicts: &HashMap<String, Verdict>,
) -> AppealEvents {
    let mut events: AppealEvents = HashMap::new();
    for appeal in appeals {
        let Some(verdict) = verdicts.get(&appeal.name_any()) else {
            continue;
        };
        let target = (appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name.clone());
        for reason in
            appeal_transitions(appeal.status.as_ref().and_then(|s| s.phase), verdict.phase)
        {
            if reason != reasons::APPEAL_REFUSED {
                events
                    .entry(target.clone())
                    .or_default()
                    .push((reason, appeal.name_any()));
            }
        }
    }
    events
}

pub(super) fn appeal_transitions(old: Option<AppealPhase>, new: AppealPhase) -> Vec<&'static str> {
    if old == Some(new) {
        return vec![];
    }
    let mut found = Vec::new();
    if old.is_none() && new != AppealPhase::Refused {
        found.push(reasons::APPEAL_RECEIVED);
    }
    match new {
        AppealPhase::Pending => {}
        AppealPhase::Refused => found.push(reasons::APPEAL_REFUSED),
        AppealPhase::Approved => found.push(reasons::APPEAL_APPROVED),
        AppealPhase::Denied => found.push(reasons::APPEAL_DENIED),
    }
    found
}

fn describe(assessment: &Assessment, status: &BanStatus, transition: Transition) -> String {
    let Ok(compiled) = assessment.compiled() else {
        return status
            .conditions
            .first()
            .map(|c| c.message.clone())
            .unwrap_or_default();
    };
    let entry = &compiled.entry;
    let what = match entry.mode {
        Some(mode) => format!("{mode:?}"),
        None => format!("features {}", entry.features.join(",")),
    };
    let until = entry.until.map_or("permanently".to_string(), |u| {
        format!("until {}", u.to_rfc3339())
    });
    let subject = subject_display(&entry.subject);
    match transition {
        Transition::Scheduled => format!(
            "{what} of {subject} scheduled from {} {until} (reason {})",
            entry.from.to_rfc3339(),
            entry.reason
        ),
        Transition::Expired => format!("{what} of {subject} expired; no longer in force"),
        Transition::Lifted => {
            let via = status.lifted_by.clone().unwrap_or_default();
            match &status.lifted_by_user {
                Some(user) => {
                    format!("{what} of {subject} lifted by {user} ({via}); no longer in force")
                }
                None => format!("{what} of {subject} lifted by {via}; no longer in force"),
            }
        }
        Transition::Exempted => format!(
            "{what} of {subject} is not published: {} exempts this subject",
            status.exempted_by.clone().unwrap_or_default()
        ),
        Transition::ReviewDue => {
            format!("{what} of {subject} is due for review (spec.reviewAfter)")
        }
        Transition::Invalid => status
            .conditions
            .first()
            .map(|c| c.message.clone())
            .unwrap_or_default(),
        _ => format!(
            "{what} of {subject} in force {until} (reason {})",
            entry.reason
        ),
    }
}

fn ban_happening<K: BanResource>(
    object: &K,
    assessment: &Assessment,
    status: &BanStatus,
    action: &'static str,
    note: String,
) -> Happening {
    let entry = assessment.compiled().ok().map(|c| &c.entry);
    Happening {
        generation: object.meta().generation,
        subject: entry.map(|e| e.subject.display()),
        phase: status.phase.map(Phase::as_str),
        from: entry.map(|e| e.from),
        until: entry.and_then(|e| e.until),
        reason: entry.map(|e| e.reason.clone()),
        ..Happening::new(object.object_ref(&()), action, note)
    }
}

/// What makes one occurrence of a ban's transition distinct from another of
/// the same kind: the generation, the phase it left, and the time or name it
/// is about. All of it is stored state, so a pass after a crash finds the same.
fn ban_transition_id<K: BanResource>(
    object: &K,
    old: Option<&BanStatus>,
    new: &BanStatus,
    transition: Transition,
) -> String {
    let uid = object.uid().unwrap_or_default();
    // A lift is final and happens once in a ban's life. Which lift a process
    // sees first (a spec.lift, an approved appeal), the generation and the
    // phase it left all depend on what that process saw before a crash or a
    // lost lease; the ban and the action alone name the one transition.
    if transition == Transition::Lifted {
        return transition_id(&uid, transition.reason(), &[]);
    }
    // So is the first application, before any phase was stored: a process
    // that finds it only once the ban is over (lifted, with a higher
    // generation) names it as the one that recorded it on time did.
    let first = old.and_then(|o| o.phase).is_none();
    if transition == Transition::Applied && first {
        return transition_id(&uid, transition.reason(), &["first"]);
    }
    // An expiry is named by the end it reached, an activation by the start
    // it reached: an edit after it (the lift of an approved appeal, for one)
    // must not make it another one when a process finds it only then.
    let generation = match transition {
        Transition::Expired | Transition::Activated => String::new(),
        _ => object.meta().generation.unwrap_or_default().to_string(),
    };
    let left = old.and_then(|o| o.phase).map_or("", Phase::as_str);
    let time = |at: Option<DateTime<Utc>>| at.map(|t| t.to_rfc3339()).unwrap_or_default();
    let about = match transition {
        Transition::Applied | Transition::Scheduled | Transition::Activated => {
            time(new.effective_from)
        }
        Transition::Expired => time(new.expires_at),
        Transition::Exempted => new.exempted_by.clone().unwrap_or_default(),
        Transition::ReviewDue => time(new.review_at),
        Transition::Lifted | Transition::Updated | Transition::Invalid => String::new(),
    };
    transition_id(&uid, transition.reason(), &[&generation, left, &about])
}

pub(super) async fn sync_ban<K: BanResource>(
    ctx: &Context,
    reviewed: &Reviewed<K>,
    appeal_events: &AppealEvents,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    // The object as the watches have it now: the pass's view can predate
    // this process's own latest write (its finalizer, its status), and
    // judging by that would repeat a transition.
    let Some(fresh) = reviewed.load(&ctx.stores) else {
        return Ok(None);
    };
    let object = fresh.as_ref();
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let failed = |source| Error::WriteStatus {
        kind: K::kind(&()).to_string(),
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let uid = object.uid().unwrap_or_default();
    // Everything the status depends on besides time: the object itself (its
    // resourceVersion), lifts from appeals and exemptions, which live elsewhere.
    let inputs = format!(
        "{}|{:?}|{:?}",
        object.resource_version().unwrap_or_default(),
        reviewed.assessment.lifted,
        reviewed.assessment.exempted_by
    );
    let appeals_pending = appeal_events.contains_key(&(K::KIND, name.clone()));
    if !appeals_pending && ctx.settled.is_settled(&uid, &inputs, now) {
        return Ok(None);
    }
    if finalizer::is_deleting(object) {
        ctx.settled.forget(&uid);
        ctx.written.forget_status(object.meta());
        if finalizer::has_finalizer(object) {
            let status = object.ban_status().cloned().unwrap_or_default();
            let note = format!(
                "{} {name} deleted; removed from the blocklist",
                K::kind(&())
            );
            let mut happening = ban_happening(
                object,
                &reviewed.assessment,
                &status,
                reasons::DELETED,
                note,
            );
            // One deletion, one record, however many passes see it.
            happening.id = Some(transition_id(&uid, reasons::DELETED, &[]));
            happening.actor = actor(object.meta().annotations.as_ref(), DELETED_BY);
            record(ctx, happening).await?;
            failpoint::reached(failpoint::BEFORE_FINALIZER_REMOVAL);
            finalizer::set(&ctx.written, &api, object, false, None)
                .await
                .map_err(failed)?;
        }
        return Ok(None);
    }
    // The label clusters without field selectors find a subject's bans by:
    // kept with the finalizer, in the same write, and again when the subject changes.
    let subject_label = object.subject().lookup_label();
    let labelled = object.labels().get(SUBJECT_LABEL) == subject_label.as_ref();
    if !finalizer::has_finalizer(object) || !labelled {
        finalizer::set(&ctx.written, &api, object, true, subject_label.as_deref())
            .await
            .map_err(failed)?;
    }
    let latest = ctx.written.latest(object, object.ban_status());
    let old = latest.as_ref();
    let mut new = desired_status(
        &reviewed.assessment,
        object.meta().generation,
        old,
        &ctx.blocklist_name,
        now,
    );
    new.created_by = actor(object.meta().annotations.as_ref(), CREATED_BY);
    new.lifted_by_user = lifter(ctx, object, &reviewed.assessment);
    let found = transitions(old, &new);
    let appeals = appeal_events
        .get(&(K::KIND, name.clone()))
        .cloned()
        .unwrap_or_default();
    let notified: Vec<(&'static str, String)> = found
        .iter()
        .filter(|t| t.notifies())
        .map(|t| (t.reason(), ban_transition_id(object, old, &new, *t)))
        .chain(
            appeals
                .iter()
                .map(|(reason, appeal)| (*reason, transition_id(&uid, reason, &[appeal]))),
        )
        .collect();
    notifications::enqueue(ctx, object, &mut new, &notified, now);
    notifications::settle(&mut new, old, object.meta().generation);
    let unchanged = old == Some(&new) && found.is_empty() && !appeals_pending;
    let waiting = new.notifications.iter().any(|r| r.state == "Pending");
    // Records before the status: a crash in between leaves the status as it
    // was, the next pass finds the same transitions with the same ids, and the
    // records are not repeated. The other order would lose them.
    for transition in found {
        let mut happening = ban_happening(
            object,
            &reviewed.assessment,
            &new,
            transition.reason(),
            describe(&reviewed.assessment, &new, transition),
        );
        happening.warning = transition.is_warning();
        happening.id = Some(ban_transition_id(object, old, &new, transition));
        happening.actor = match transition {
            Transition::Applied | Transition::Scheduled | Transition::Updated => {
                new.created_by.clone()
            }
            Transition::Lifted => new.lifted_by_user.clone(),
            _ => None,
        };
        let entry = reviewed.assessment.compiled().ok().map(|c| &c.entry);
        // How late a timed transition was applied: the product promises the second.
        let scheduled = match transition {
            Transition::Expired => entry.and_then(|e| e.until),
            Transition::Activated => entry.map(|e| e.from),
            _ => None,
        };
        happening.lag_seconds =
            scheduled.map(|at| (Utc::now() - at).num_milliseconds() as f64 / 1000.0);
        record(ctx, happening).await?;
    }
    for (reason, appeal) in appeals {
        let note = format!("{reason} for {} {name} (BanAppeal {appeal})", K::kind(&()));
        let mut happening = ban_happening(object, &reviewed.assessment, &new, reason, note);
        happening.id = Some(transition_id(&uid, reason, &[&appeal]));
        record(ctx, happening).await?;
    }
    failpoint::reached(failpoint::AFTER_RECORD);
    if old != Some(&new) {
        let written = status_write::apply_status(&ctx.written, &api, object, &new).await;
        ctx.metrics
            .reconciled(K::kind(&()).as_ref(), written.is_ok(), None);
        if !written? {
            return Ok(None);
        }
    }
    failpoint::reached(failpoint::AFTER_STATUS);
    let retry = notifications::deliver(ctx, &api, object, &reviewed.assessment, new, now).await?;
    if unchanged && !waiting {
        ctx.settled.settle(
            &uid,
            inputs,
            reviewed.assessment.next_change(now, ctx.session_retention),
        );
    }
    Ok(retry)
}

/// Who lifted the ban: who set `spec.lift`, or who approved the appeal that
/// lifted it (`BanAppeal/<name>`).
fn lifter<K: BanResource>(ctx: &Context, object: &K, assessment: &Assessment) -> Option<String> {
    let (_, by) = assessment.lifted.as_ref()?;
    match by.strip_prefix("BanAppeal/") {
        Some(appeal) => {
            let namespace = object.namespace().unwrap_or_default();
            let appeal = ctx.stores.appeals.get(&namespace, appeal)?;
            actor(appeal.meta().annotations.as_ref(), DECIDED_BY)
        }
        None => actor(object.meta().annotations.as_ref(), LIFTED_BY),
    }
}

pub(super) async fn sync_appeal(
    ctx: &Context,
    appeal: &Arc<BanAppeal>,
    verdicts: &HashMap<String, Verdict>,
) -> Result<(), Error> {
    let name = appeal.name_any();
    let Some(verdict) = verdicts.get(&name) else {
        return Ok(());
    };
    let fresh = ctx.stores.appeals.freshest(appeal);
    let appeal = fresh.as_ref();
    let latest = ctx.written.latest(appeal, appeal.status.as_ref());
    let old = latest.as_ref();
    let generation = appeal.metadata.generation;
    let phase = format!("{:?}", verdict.phase);
    let decided_by = verdict
        .decided_at
        .and_then(|_| actor(appeal.meta().annotations.as_ref(), DECIDED_BY));
    let new = AppealStatus {
        observed_generation: generation,
        phase: Some(verdict.phase),
        decided_at: verdict.decided_at,
        decided_by: decided_by.clone(),
        conditions: vec![condition(
            old.map_or(&[], |s| &s.conditions),
            READY,
            true,
            &phase,
            verdict.message.clone(),
            generation,
            Utc::now(),
        )],
    };
    if old == Some(&new) {
        return Ok(());
    }
    // Records before the status, as for bans: a crash in between repeats
    // nothing, since the ids are the same next time.
    for reason in appeal_transitions(old.and_then(|s| s.phase), verdict.phase) {
        let target = format!(
            "{:?} {}",
            appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name
        );
        let mut happening = Happening::new(
            appeal.object_ref(&()),
            reason,
            format!("{target}: {}", verdict.message),
        );
        happening.generation = generation;
        happening.phase = Some(match verdict.phase {
            AppealPhase::Pending => "Pending",
            AppealPhase::Refused => "Refused",
            AppealPhase::Approved => "Approved",
            AppealPhase::Denied => "Denied",
        });
        happening.warning = reason == reasons::APPEAL_REFUSED;
        happening.actor = match verdict.phase {
            AppealPhase::Approved | AppealPhase::Denied => decided_by.clone(),
            _ => actor(appeal.meta().annotations.as_ref(), CREATED_BY),
        };
        happening.id = Some(transition_id(
            &appeal.uid().unwrap_or_default(),
            reason,
            &[],
        ));
        record(ctx, happening).await?;
    }
    let api: Api<BanAppeal> =
        Api::namespaced(ctx.client.clone(), &appeal.namespace().unwrap_or_default());
    status_write::apply_status(&ctx.written, &api, appeal, &new).await?;
    Ok(())
}

pub(super) async fn sync_exemption(
    ctx: &Context,
    exemption: &Arc<BanExemption>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let compiled = assess::compile_exemption(exemption, ctx.email_key.as_ref());
    let generation = exemption.metadata.generation;
    let fresh = ctx.stores.exemptions.freshest(exemption);
    let exemption = fresh.as_ref();
    let name = exemption.name_any();
    let api: Api<BanExemption> = Api::namespaced(
        ctx.client.clone(),
        &exemption.namespace().unwrap_or_default(),
    );
    let failed = |source| Error::WriteStatus {
        kind: "BanExemption".to_string(),
        namespace: exemption.namespace().unwrap_or_default(),
        name: name.clone(),
        source,
    };
    // Deleting an exemption brings the bans it held back into force: it is
    // recorded like a ban's deletion, held by the same finalizer until then.
    if finalizer::is_deleting(exemption) {
        if finalizer::has_finalizer(exemption) {
            let mut happening = Happening::new(
                exemption.object_ref(&()),
                reasons::DELETED,
                format!("Exemption {name} deleted; no longer published"),
            );
            happening.generation = generation;
            happening.subject = compiled.as_ref().ok().map(|x| x.subject.display());
            happening.reason = Some(exemption.spec.reason.code.clone());
            happening.actor = actor(exemption.meta().annotations.as_ref(), DELETED_BY);
            happening.id = Some(transition_id(
                &exemption.uid().unwrap_or_default(),
                reasons::DELETED,
                &[],
            ));
            record(ctx, happening).await?;
            failpoint::reached(failpoint::BEFORE_FINALIZER_REMOVAL);
            finalizer::set(&ctx.written, &api, exemption, false, None)
                .await
                .map_err(failed)?;
        }
        return Ok(());
    }
    if !finalizer::has_finalizer(exemption) {
        finalizer::set(&ctx.written, &api, exemption, true, None)
            .await
            .map_err(failed)?;
    }
    let latest = ctx.written.latest(exemption, exemption.status.as_ref());
    let old = latest.as_ref();
    let (ok, reason, message) = match &compiled {
        Ok(x) if x.in_force(now) => (
            true,
            reasons::APPLIED,
            format!("Published in ConfigMap {}", ctx.blocklist_name),
        ),
        Ok(_) => (
            true,
            reasons::EXPIRED,
            "Ended; no longer published".to_string(),
        ),
        Err(error) => (false, reasons::INVALID_SPEC, error.to_string()),
    };
    let previous = old.map_or(&[][..], |s| &s.conditions);
    let new = ExemptionStatus {
        observed_generation: generation,
        subject: compiled.as_ref().ok().map(|x| subject_display(&x.subject)),
        conditions: vec![condition(
            previous,
            READY,
            ok,
            reason,
            message.clone(),
            generation,
            Utc::now(),
        )],
    };
    if old == Some(&new) {
        return Ok(());
    }
    let reason_before = previous.iter().find(|c| c.type_ == READY);
    if reason_before.map(|c| c.reason.as_str()) != Some(reason) {
        let mut happening = Happening::new(
            exemption.object_ref(&()),
            reason,
            format!("Exemption {name}: {message}"),
        );
        happening.generation = generation;
        happening.subject = compiled.as_ref().ok().map(|x| x.subject.display());
        happening.until = compiled.as_ref().ok().and_then(|x| x.until);
        happening.reason = Some(exemption.spec.reason.code.clone());
        happening.warning = !ok;
        if reason == reasons::APPLIED {
            happening.actor = actor(exemption.meta().annotations.as_ref(), CREATED_BY);
        }
        happening.id = Some(transition_id(
            &exemption.uid().unwrap_or_default(),
            reason,
            &[&generation.unwrap_or_default().to_string()],
        ));
        record(ctx, happening).await?;
    }
    status_write::apply_status(&ctx.written, &api, exemption, &new).await?;
    Ok(())
}

/// A pass that could not publish (a foreign ConfigMap holds the blocklist's
/// name, the blocklist is too large): the ban's Ready condition turns False
/// with `reason` and says why; the rest of its status stays as it was and no
/// transition is announced, since nothing changed for readers. Deletions still
/// go through.
pub(super) async fn not_published<K: BanResource>(
    ctx: &Context,
    reviewed: &Reviewed<K>,
    reason: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(fresh) = reviewed.load(&ctx.stores) else {
        return Ok(None);
    };
    let object = fresh.as_ref();
    if finalizer::is_deleting(object) {
        return sync_ban(ctx, reviewed, &HashMap::new(), now).await;
    }
    let latest = ctx.written.latest(object, object.ban_status());
    let old = latest.as_ref();
    let generation = object.meta().generation;
    let mut new = old.cloned().unwrap_or_default();
    let ready = condition(
        old.map_or(&[], |s| &s.conditions),
        READY,
        false,
        reason,
        why.to_string(),
        generation,
        now,
    );
    new.conditions.retain(|c| c.type_ != READY);
    new.conditions.insert(0, ready);
    new.observed_generation = generation;
    if old == Some(&new) {
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    status_write::apply_status(&ctx.written, &api, object, &new).await?;
    Ok(None)
}
