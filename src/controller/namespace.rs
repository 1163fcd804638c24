//! Reconciling one namespace: publish its blocklist, then bring every ban's,
//! appeal's and exemption's status (with its Events and audit lines) in line.

use std::collections::HashMap;

use futures::{FutureExt, StreamExt, stream};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::{Api, Resource, ResourceExt};

use super::appeals::{self, Appealable, Verdict};
use super::assess::{self, Assessment};
use super::ban::BanResource;
use super::blocklist;
use super::error::Error;
use super::finalizer;
use super::metrics::ModePhase;
use super::reasons;
use super::record::{Happening, record};
use super::status::{Transition, desired_status, subject_display, transitions};
use super::{Context, notifications, nudge, status_write};
use crate::api::{
    AppealPhase, AppealStatus, BanAppeal, BanExemption, BanKind, BanStatus, ExemptionStatus, Phase,
};
use crate::core::shard::{Limits, render_shards};
use crate::core::{Contents, Entry, Exemption};
use k8s_openapi::api::core::v1::ConfigMap;

/// Status writes in flight at once within one namespace pass.
const STATUS_WRITES_IN_FLIGHT: usize = 16;

struct Reviewed<K> {
    object: Arc<K>,
    assessment: Assessment,
}

impl<K: BanResource> Reviewed<K> {
    fn deleting(&self) -> bool {
        finalizer::is_deleting(self.object.as_ref())
    }
}

type Lifts = HashMap<(BanKind, String), (DateTime<Utc>, String)>;

/// Lifts are sticky: once stored in the status, nothing undoes them.
fn review<K: BanResource>(
    objects: Vec<Arc<K>>,
    exemptions: &[Exemption],
    lifts: &Lifts,
    now: DateTime<Utc>,
) -> Vec<Reviewed<K>> {
    objects
        .into_iter()
        .map(|object| {
            let compiled = object.compile();
            let stored = object
                .ban_status()
                .and_then(|s| Some((s.lifted_at?, s.lifted_by.clone().unwrap_or_default())));
            let lifted = stored
                .or_else(|| object.lift().map(|_| (now, "spec.lift".to_string())))
                .or_else(|| lifts.get(&(K::KIND, object.name_any())).cloned());
            let assessment = Assessment {
                exempted_by: assess::exempting(&compiled, exemptions, now).map(|x| x.id.clone()),
                review_at: assess::review_at(object.review_after(), &compiled),
                lifted,
                compiled,
            };
            Reviewed { object, assessment }
        })
        .collect()
}

fn published<K: BanResource>(
    reviewed: &[Reviewed<K>],
    now: DateTime<Utc>,
) -> impl Iterator<Item = Entry> + '_ {
    reviewed
        .iter()
        .filter(|r| !r.deleting())
        .filter_map(move |r| r.assessment.published(now))
}

fn revocations<K: BanResource>(
    reviewed: &[Reviewed<K>],
    now: DateTime<Utc>,
    retention: chrono::Duration,
) -> impl Iterator<Item = crate::core::Revocation> + '_ {
    reviewed
        .iter()
        .filter(|r| !r.deleting())
        .filter_map(move |r| r.assessment.revocation(now, retention))
}

/// Bans of the global namespace, for a namespace that opted in: marked global,
/// with ids that cannot collide with the namespace's own bans.
fn global_entries(ctx: &Context, namespace: &str, now: DateTime<Utc>) -> Vec<Entry> {
    let Some(global) = ctx.stores.global_namespace() else {
        return Vec::new();
    };
    if !ctx.stores.opted_in().contains(namespace) {
        return Vec::new();
    }
    let exemptions = compile_exemptions(&ctx.stores.exemptions.in_namespace(global), now);
    let user_bans = review(
        ctx.stores.user_bans.in_namespace(global),
        &exemptions,
        &HashMap::new(),
        now,
    );
    let feature_blocks = review(
        ctx.stores.feature_blocks.in_namespace(global),
        &exemptions,
        &HashMap::new(),
        now,
    );
    published(&user_bans, now)
        .chain(published(&feature_blocks, now))
        .map(|entry| Entry {
            id: format!("{global}/{}", entry.id),
            global: true,
            ..entry
        })
        .collect()
}

fn compile_exemptions(objects: &[Arc<BanExemption>], now: DateTime<Utc>) -> Vec<Exemption> {
    objects
        .iter()
        .filter_map(|x| assess::compile_exemption(x).ok())
        .filter(|x| x.in_force(now))
        .collect()
}

fn entry_counts(entries: &[Entry], now: DateTime<Utc>) -> HashMap<ModePhase, i64> {
    let mut counts = HashMap::new();
    for entry in entries.iter().filter(|e| e.until.is_none_or(|u| now < u)) {
        let mode = match entry.mode {
            Some(mode) => format!("{mode:?}"),
            None => "FeatureBlock".to_string(),
        };
        let phase = if entry.in_force(now) {
            "Active"
        } else {
            "Scheduled"
        };
        *counts
            .entry(ModePhase {
                mode,
                phase: phase.to_string(),
            })
            .or_insert(0) += 1;
    }
    counts
}

/// Returns when the namespace next needs a look (the next start, expiry, end of
/// a session-revocation window, review date or exemption expiry).
pub async fn reconcile(ctx: &Context, namespace: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let now = Utc::now();
    let retention = ctx.session_retention;
    let stores = &ctx.stores;
    let user_bans = stores.user_bans.in_namespace(namespace);
    let feature_blocks = stores.feature_blocks.in_namespace(namespace);
    let exemption_objects = stores.exemptions.in_namespace(namespace);
    let appeal_objects = stores.appeals.in_namespace(namespace);
    let existing: HashMap<String, Arc<ConfigMap>> = stores
        .blocklists
        .in_namespace(namespace)
        .into_iter()
        .map(|cm| (cm.name_any(), cm))
        .collect();
    let opted_in = stores.opted_in().contains(namespace);
    if user_bans.is_empty()
        && feature_blocks.is_empty()
        && exemption_objects.is_empty()
        && existing.is_empty()
        && !opted_in
    {
        return Ok(None);
    }

    let exemptions = compile_exemptions(&exemption_objects, now);
    let appeal_refs: Vec<&BanAppeal> = appeal_objects.iter().map(Arc::as_ref).collect();
    let appealable = |kind: BanKind, name: &str| -> Option<Appealable> {
        let allowed = |appeal: Option<&crate::api::Appeal>| appeal.is_some_and(|a| a.allowed);
        match kind {
            BanKind::UserBan => user_bans
                .iter()
                .find(|b| b.name_any() == name && !finalizer::is_deleting(b.as_ref()))
                .map(|b| allowed(b.appeal())),
            BanKind::FeatureBlock => feature_blocks
                .iter()
                .find(|b| b.name_any() == name && !finalizer::is_deleting(b.as_ref()))
                .map(|b| allowed(b.appeal())),
        }
        .map(|allowed| Appealable { allowed })
    };
    let verdicts = appeals::assess(&appeal_refs, appealable, now);
    let lifts = appeals::lifts(&appeal_refs, &verdicts);
    let user_bans = review(user_bans, &exemptions, &lifts, now);
    let feature_blocks = review(feature_blocks, &exemptions, &lifts, now);

    let mut entries: Vec<Entry> = published(&user_bans, now)
        .chain(published(&feature_blocks, now))
        .collect();
    let revocations: Vec<crate::core::Revocation> = revocations(&user_bans, now, retention)
        .chain(revocations(&feature_blocks, now, retention))
        .collect();
    entries.extend(global_entries(ctx, namespace, now));
    let reviews = user_bans
        .iter()
        .filter_map(|r| r.assessment.next_change(now, retention));
    let reviews = reviews.chain(
        feature_blocks
            .iter()
            .filter_map(|r| r.assessment.next_change(now, retention)),
    );
    let entry_changes = entries
        .iter()
        .filter_map(|e| if now < e.from { Some(e.from) } else { e.until });
    let exemption_ends = exemptions.iter().filter_map(|x| x.until);
    let mut next = reviews
        .chain(entry_changes)
        .chain(exemption_ends)
        .filter(|at| *at > now)
        .min();

    let counts = entry_counts(&entries, now);
    // The shard count never shrinks on its own, so assignments stay stable.
    let in_use = (0..ctx.shards.max_count)
        .rev()
        .find(|i| existing.contains_key(&ctx.shard_name(*i)))
        .map_or(1, |i| i + 1);
    let limits = Limits {
        min_count: in_use,
        ..ctx.shards
    };
    let shards = render_shards(
        namespace,
        Contents {
            entries,
            exemptions,
            revocations,
        },
        now,
        limits,
    );
    let mut bytes = 0;
    let mut written = false;
    for (index, data) in shards.iter().enumerate() {
        let name = ctx.shard_name(index as u32);
        let size: usize = data.values().map(String::len).sum();
        if size > ctx.shards.max_bytes {
            tracing::warn!(namespace, configmap = %name, size, max_shards = ctx.shards.max_count, "blocklist shard over the size limit; raise --max-shards");
        }
        bytes += size;
        written |= blocklist::ensure(
            ctx,
            namespace,
            &name,
            existing.get(&name).map(Arc::as_ref),
            data.clone(),
        )
        .await?;
    }
    ctx.metrics.blocklist_published(namespace, bytes, counts);
    if ctx.nudge_pods && written {
        let names: Vec<String> = (0..shards.len() as u32)
            .map(|i| ctx.shard_name(i))
            .collect();
        nudge::nudge(
            &ctx.client,
            namespace,
            &names,
            &nudge::content_hash(&shards),
        )
        .await;
    }

    // Statuses after the blocklist: Ready=True then means "readers can see it".
    let mut failures = Vec::new();
    let appeal_events = appeal_events(&appeal_refs, &verdicts);
    // Status writes are independent API calls: a burst of new bans is written
    // several at a time instead of one round trip after another.
    let writes: Vec<_> = user_bans
        .iter()
        .map(|r| sync_ban(ctx, r, &appeal_events, now).boxed())
        .chain(
            feature_blocks
                .iter()
                .map(|r| sync_ban(ctx, r, &appeal_events, now).boxed()),
        )
        .collect();
    let results: Vec<Result<(), Error>> = stream::iter(writes)
        .buffer_unordered(STATUS_WRITES_IN_FLIGHT)
        .collect()
        .await;
    failures.extend(results.into_iter().filter_map(Result::err));
    for appeal in &appeal_refs {
        failures.extend(sync_appeal(ctx, appeal, &verdicts).await.err());
    }
    for exemption in &exemption_objects {
        failures.extend(sync_exemption(ctx, exemption, now).await.err());
    }
    let statuses = user_bans
        .iter()
        .map(|r| r.object.ban_status())
        .chain(feature_blocks.iter().map(|r| r.object.ban_status()));
    if let Some(retry) = notifications::next_attempt(statuses) {
        // Retries due now were attempted above; look again soon after the next one.
        let retry = retry.max(now + chrono::Duration::seconds(1));
        next = Some(next.map_or(retry, |n| n.min(retry)));
    }
    if !failures.is_empty() {
        return Err(Error::Statuses(failures));
    }
    Ok(next)
}

/// Appeal transitions that concern each ban, so its Events and notifications
/// can say so: (ban kind, name) → reasons.
fn appeal_events(
    appeals: &[&BanAppeal],
    verdicts: &HashMap<String, Verdict>,
) -> HashMap<(BanKind, String), Vec<&'static str>> {
    let mut events: HashMap<(BanKind, String), Vec<&'static str>> = HashMap::new();
    for appeal in appeals {
        let Some(verdict) = verdicts.get(&appeal.name_any()) else {
            continue;
        };
        let target = (appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name.clone());
        for reason in
            appeal_transitions(appeal.status.as_ref().and_then(|s| s.phase), verdict.phase)
        {
            if reason != reasons::APPEAL_REFUSED {
                events.entry(target.clone()).or_default().push(reason);
            }
        }
    }
    events
}

fn appeal_transitions(old: Option<AppealPhase>, new: AppealPhase) -> Vec<&'static str> {
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
    let Ok(compiled) = &assessment.compiled else {
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
            let by = status.lifted_by.clone().unwrap_or_default();
            format!("{what} of {subject} lifted by {by}; no longer in force")
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
    let entry = assessment.compiled.as_ref().ok().map(|c| &c.entry);
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

async fn sync_ban<K: BanResource>(
    ctx: &Context,
    reviewed: &Reviewed<K>,
    appeal_events: &HashMap<(BanKind, String), Vec<&'static str>>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let object = reviewed.object.as_ref();
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
        ctx.written.catch_up(object);
        return Ok(());
    }
    if reviewed.deleting() {
        ctx.settled.forget(&uid);
        ctx.written.forget(object);
        if finalizer::has_finalizer(object) {
            let status = object.ban_status().cloned().unwrap_or_default();
            let note = format!(
                "{} {name} deleted; removed from the blocklist",
                K::kind(&())
            );
            record(
                ctx,
                ban_happening(
                    object,
                    &reviewed.assessment,
                    &status,
                    reasons::DELETED,
                    note,
                ),
            )
            .await;
            finalizer::set(&api, object, false).await.map_err(failed)?;
        }
        return Ok(());
    }
    if !finalizer::has_finalizer(object) {
        finalizer::set(&api, object, true).await.map_err(failed)?;
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
    let found = transitions(old, &new);
    let appeals = appeal_events
        .get(&(K::KIND, name.clone()))
        .cloned()
        .unwrap_or_default();
    let notified: Vec<&'static str> = found
        .iter()
        .filter(|t| t.notifies())
        .map(|t| t.reason())
        .chain(appeals.iter().copied())
        .collect();
    notifications::enqueue(ctx, object, &mut new, &notified, now);
    notifications::settle(&mut new, old, object.meta().generation);
    let unchanged = old == Some(&new) && found.is_empty() && !appeals_pending;
    let waiting = new.notifications.iter().any(|r| r.state == "Pending");
    if old != Some(&new) {
        let written = status_write::apply_status(&ctx.written, &api, object, &new).await;
        ctx.metrics
            .reconciled(K::kind(&()).as_ref(), written.is_ok(), None);
        if !written? {
            return Ok(());
        }
    }
    for transition in found {
        let mut happening = ban_happening(
            object,
            &reviewed.assessment,
            &new,
            transition.reason(),
            describe(&reviewed.assessment, &new, transition),
        );
        happening.warning = transition.is_warning();
        let entry = reviewed.assessment.compiled.as_ref().ok().map(|c| &c.entry);
        // How late a timed transition was applied: the product promises the second.
        let scheduled = match transition {
            Transition::Expired => entry.and_then(|e| e.until),
            Transition::Activated => entry.map(|e| e.from),
            _ => None,
        };
        happening.lag_seconds =
            scheduled.map(|at| (Utc::now() - at).num_milliseconds() as f64 / 1000.0);
        record(ctx, happening).await;
    }
    for reason in appeals {
        let note = format!("{reason} for {} {name}", K::kind(&()));
        record(
            ctx,
            ban_happening(object, &reviewed.assessment, &new, reason, note),
        )
        .await;
    }
    notifications::deliver(ctx, &api, object, &reviewed.assessment, new, now).await?;
    if unchanged && !waiting {
        ctx.settled.settle(
            &uid,
            inputs,
            reviewed.assessment.next_change(now, ctx.session_retention),
        );
    }
    Ok(())
}

async fn sync_appeal(
    ctx: &Context,
    appeal: &BanAppeal,
    verdicts: &HashMap<String, Verdict>,
) -> Result<(), Error> {
    let name = appeal.name_any();
    let Some(verdict) = verdicts.get(&name) else {
        return Ok(());
    };
    let latest = ctx.written.latest(appeal, appeal.status.as_ref());
    let old = latest.as_ref();
    let generation = appeal.metadata.generation;
    let previous = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let phase = format!("{:?}", verdict.phase);
    let new = AppealStatus {
        observed_generation: generation,
        phase: Some(verdict.phase),
        decided_at: verdict.decided_at,
        conditions: vec![status_write::ready(
            previous,
            true,
            &phase,
            verdict.message.clone(),
            generation,
        )],
    };
    if old == Some(&new) {
        return Ok(());
    }
    let api: Api<BanAppeal> =
        Api::namespaced(ctx.client.clone(), &appeal.namespace().unwrap_or_default());
    if !status_write::apply_status(&ctx.written, &api, appeal, &new).await? {
        return Ok(());
    }
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
        record(ctx, happening).await;
    }
    Ok(())
}

async fn sync_exemption(
    ctx: &Context,
    exemption: &BanExemption,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let compiled = assess::compile_exemption(exemption);
    let generation = exemption.metadata.generation;
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
    let previous = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let new = ExemptionStatus {
        observed_generation: generation,
        subject: compiled.as_ref().ok().map(|x| subject_display(&x.subject)),
        conditions: vec![status_write::ready(
            previous,
            ok,
            reason,
            message.clone(),
            generation,
        )],
    };
    if old == Some(&new) {
        return Ok(());
    }
    let name = exemption.name_any();
    let api: Api<BanExemption> = Api::namespaced(
        ctx.client.clone(),
        &exemption.namespace().unwrap_or_default(),
    );
    if !status_write::apply_status(&ctx.written, &api, exemption, &new).await? {
        return Ok(());
    }
    if previous.map(|c| c.reason.as_str()) != Some(reason) {
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
        record(ctx, happening).await;
    }
    Ok(())
}
