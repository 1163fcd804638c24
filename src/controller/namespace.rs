//! Reconciling one namespace: publish its blocklist, then bring every ban's
//! status (and its Events and audit lines) in line with it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::audit::{AUDIT_FORMAT, AuditRecord};
use super::blocklist::{self, FIELD_MANAGER};
use super::error::Error;
use super::metrics::ModePhase;
use super::status::{Transition, desired_status, subject_display, transition};
use super::{Context, nudge};
use crate::api::{BanStatus, FeatureBlock, Phase, UserBan};
use crate::core::compile::{CompileError, CompiledBan, compile_feature_block, compile_user_ban};
use crate::core::document::render_data;
use std::collections::HashMap;

/// What the reconciler needs from either ban kind.
pub trait BanResource:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn compile(&self) -> Result<CompiledBan, CompileError>;
    fn ban_status(&self) -> Option<&BanStatus>;
}

impl BanResource for UserBan {
    fn compile(&self) -> Result<CompiledBan, CompileError> {
        compile_user_ban(self)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
    }
}

impl BanResource for FeatureBlock {
    fn compile(&self) -> Result<CompiledBan, CompileError> {
        compile_feature_block(self)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
    }
}

struct Reviewed<K> {
    object: Arc<K>,
    compiled: Result<CompiledBan, CompileError>,
}

fn review<K: BanResource>(objects: Vec<Arc<K>>) -> Vec<Reviewed<K>> {
    objects
        .into_iter()
        .map(|object| Reviewed {
            compiled: object.compile(),
            object,
        })
        .collect()
}

fn published(
    compiled: &Result<CompiledBan, CompileError>,
    now: DateTime<Utc>,
) -> Option<crate::core::Entry> {
    let compiled = compiled.as_ref().ok()?;
    matches!(
        compiled.window.phase_at(now),
        Phase::Scheduled | Phase::Active
    )
    .then(|| compiled.entry.clone())
}

/// Bans of the global namespace, for a namespace that opted in: marked global,
/// with ids that cannot collide with the namespace's own bans.
fn global_entries(ctx: &Context, namespace: &str, now: DateTime<Utc>) -> Vec<crate::core::Entry> {
    let Some(global) = ctx.stores.global_namespace() else {
        return Vec::new();
    };
    if !ctx.stores.opted_in().contains(namespace) {
        return Vec::new();
    }
    let user_bans = review(ctx.stores.user_bans.in_namespace(global));
    let feature_blocks = review(ctx.stores.feature_blocks.in_namespace(global));
    user_bans
        .iter()
        .filter_map(|r| published(&r.compiled, now))
        .chain(
            feature_blocks
                .iter()
                .filter_map(|r| published(&r.compiled, now)),
        )
        .map(|entry| crate::core::Entry {
            id: format!("{global}/{}", entry.id),
            global: true,
            ..entry
        })
        .collect()
}

fn entry_counts(entries: &[crate::core::Entry], now: DateTime<Utc>) -> HashMap<ModePhase, i64> {
    let mut counts = HashMap::new();
    for entry in entries {
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

/// Returns when the namespace next needs a look (the next start or expiry).
pub async fn reconcile(ctx: &Context, namespace: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let now = Utc::now();
    let user_bans = review(ctx.stores.user_bans.in_namespace(namespace));
    let feature_blocks = review(ctx.stores.feature_blocks.in_namespace(namespace));
    let existing = ctx
        .stores
        .blocklists
        .in_namespace(namespace)
        .into_iter()
        .find(|cm| cm.name_any() == ctx.blocklist_name);
    let opted_in = ctx.stores.opted_in().contains(namespace);
    if user_bans.is_empty() && feature_blocks.is_empty() && existing.is_none() && !opted_in {
        return Ok(None);
    }

    let mut entries = user_bans
        .iter()
        .filter_map(|r| published(&r.compiled, now))
        .chain(
            feature_blocks
                .iter()
                .filter_map(|r| published(&r.compiled, now)),
        )
        .collect::<Vec<_>>();
    entries.extend(global_entries(ctx, namespace, now));
    // Every start and expiry among what is published, global bans included.
    let next = entries
        .iter()
        .filter_map(|e| if now < e.from { Some(e.from) } else { e.until })
        .min();
    let counts = entry_counts(&entries, now);
    let data = render_data(namespace, entries, now);
    let bytes = data.values().map(String::len).sum();
    let hash = ctx.nudge_pods.then(|| nudge::content_hash(&data));
    let written = blocklist::ensure(ctx, namespace, existing.as_deref(), data).await?;
    if let Some(hash) = hash.filter(|_| written) {
        nudge::nudge(&ctx.client, namespace, &ctx.blocklist_name, &hash).await;
    }
    ctx.metrics.blocklist_published(namespace, bytes, counts);

    // Statuses after the blocklist: Ready=True then means "readers can see it".
    let mut failures = Vec::new();
    for r in &user_bans {
        failures.extend(sync_status(ctx, r, now).await.err());
    }
    for r in &feature_blocks {
        failures.extend(sync_status(ctx, r, now).await.err());
    }
    if !failures.is_empty() {
        return Err(Error::Statuses(failures));
    }
    Ok(next)
}

async fn sync_status<K: BanResource>(
    ctx: &Context,
    reviewed: &Reviewed<K>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let object = reviewed.object.as_ref();
    let old = object.ban_status();
    let generation = object.meta().generation;
    let new = desired_status(
        &reviewed.compiled,
        generation,
        old,
        &ctx.blocklist_name,
        now,
    );
    if old == Some(&new) {
        return Ok(());
    }
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    let written = api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await;
    ctx.metrics
        .reconciled(K::kind(&()).as_ref(), written.is_ok(), None);
    match written {
        Ok(_) => {}
        // Deleted since the store saw it: nothing left to describe.
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(Error::WriteStatus {
                kind: K::kind(&()).to_string(),
                namespace,
                name,
                source,
            });
        }
    }
    if let Some(transition) = transition(old, &new) {
        record(ctx, object, &reviewed.compiled, &new, transition).await;
    }
    Ok(())
}

fn describe(
    compiled: &Result<CompiledBan, CompileError>,
    status: &BanStatus,
    transition: Transition,
) -> String {
    let Ok(compiled) = compiled else {
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
        Transition::Expired => format!("{what} of {subject} expired; removed from the blocklist"),
        _ => format!(
            "{what} of {subject} in force {until} (reason {})",
            entry.reason
        ),
    }
}

/// Records a transition as an Event and an audit line. Event delivery is best
/// effort (the audit line is the durable record), so a failure is only logged.
async fn record<K: BanResource>(
    ctx: &Context,
    object: &K,
    compiled: &Result<CompiledBan, CompileError>,
    status: &BanStatus,
    transition: Transition,
) {
    let note = describe(compiled, status, transition);
    let event = Event {
        type_: if transition == Transition::Invalid {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: transition.reason().to_string(),
        note: Some(note.clone()),
        action: transition.reason().to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(%error, name = object.name_any(), "cannot publish Event");
    }
    let entry = compiled.as_ref().ok().map(|c| &c.entry);
    // How late a timed transition was applied: the product promises the second.
    let scheduled = match transition {
        Transition::Expired => entry.and_then(|e| e.until),
        Transition::Activated => entry.map(|e| e.from),
        _ => None,
    };
    let lag = scheduled.map(|at| (Utc::now() - at).num_milliseconds() as f64 / 1000.0);
    ctx.metrics.transition(transition.reason(), lag);
    ctx.audit.record(&AuditRecord {
        audit: AUDIT_FORMAT,
        time: Utc::now(),
        action: transition.reason(),
        kind: K::kind(&()).to_string(),
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        uid: object.uid().unwrap_or_default(),
        generation: object.meta().generation,
        subject: entry.map(|e| e.subject.display()),
        phase: status.phase.map(Phase::as_str),
        from: entry.map(|e| e.from),
        until: entry.and_then(|e| e.until),
        reason: entry.map(|e| e.reason.clone()),
        message: note,
    });
}
