//! One pass over a namespace: what its bans amount to now, published as its
//! blocklist; the statuses follow in the namespace's status worker.

use std::collections::HashMap;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::appeals::{self, Appealable};
use super::assess::{self, Assessment};
use super::ban::BanResource;
use super::error::Error;
use super::finalizer;
use super::reviewed::{Reviewed, entry_counts};
use super::status_worker::{StatusWork, StatusWorkers};
use super::{Context, nudge, publish};
use crate::api::{BanAppeal, BanExemption, BanKind};
use crate::core::{Contents, Entry, Exemption};
use k8s_openapi::api::core::v1::ConfigMap;

type Lifts = HashMap<(BanKind, String), (DateTime<Utc>, String)>;

/// Lifts are sticky: once stored in the status, nothing undoes them.
fn review<K: BanResource>(
    ctx: &Context,
    namespace: &str,
    objects: Vec<Arc<K>>,
    exemptions: &[Exemption],
    lifts: &Lifts,
    now: DateTime<Utc>,
) -> Vec<Reviewed<K>> {
    let compiled = ctx
        .compiled
        .all(namespace, &objects, ctx.email_key.as_ref());
    objects
        .into_iter()
        .zip(compiled)
        .map(|(object, compiled)| {
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
            Reviewed::of_object(object.as_ref(), assessment)
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
    let exemptions = compile_exemptions(
        &ctx.stores.exemptions.in_namespace(global),
        ctx.email_key.as_ref(),
        now,
    );
    let user_bans = review(
        ctx,
        global,
        ctx.stores.user_bans.in_namespace(global),
        &exemptions,
        &HashMap::new(),
        now,
    );
    let feature_blocks = review(
        ctx,
        global,
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

/// Exemptions in force; one being deleted holds nothing any more.
fn compile_exemptions(
    objects: &[Arc<BanExemption>],
    key: Option<&crate::core::EmailKey>,
    now: DateTime<Utc>,
) -> Vec<Exemption> {
    objects
        .iter()
        .filter(|x| !finalizer::is_deleting(x.as_ref()))
        .filter_map(|x| assess::compile_exemption(x, key).ok())
        .filter(|x| x.in_force(now))
        .collect()
}

/// The whole namespace, recomputed from the stores.
pub async fn full_pass(
    ctx: &Arc<Context>,
    namespace: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
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
        && !stores.is_listed(namespace)
    {
        return Ok(None);
    }

    let exemptions = compile_exemptions(&exemption_objects, ctx.email_key.as_ref(), now);
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
    let user_bans = review(ctx, namespace, user_bans, &exemptions, &lifts, now);
    let feature_blocks = review(ctx, namespace, feature_blocks, &exemptions, &lifts, now);

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
    let next = reviews
        .chain(entry_changes)
        .chain(exemption_ends)
        .filter(|at| *at > now)
        .min();

    let counts = entry_counts(&entries, now);
    let contents = Contents {
        entries,
        exemptions,
        revocations,
    };
    let published = match publish::publish(ctx, namespace, contents, &existing, now).await {
        Ok(published) => published,
        Err(blocked) if blocked.blocks_publication() => {
            ctx.metrics
                .blocklist_conflict(namespace, blocked.configmap());
            ctx.metrics.blocklist_too_large(
                namespace,
                matches!(blocked, Error::BlocklistTooLarge { .. }),
            );
            // The bans say why they are not Ready; nothing is announced as applied.
            let work = StatusWork {
                user_bans,
                feature_blocks,
                appeals: appeal_objects,
                verdicts,
                exemptions: exemption_objects,
                now,
                unpublished: Some((blocked.reason(), blocked.to_string())),
            };
            StatusWorkers::submit(ctx, namespace, work);
            return Err(blocked);
        }
        Err(error) => return Err(error),
    };
    ctx.metrics.blocklist_conflict(namespace, None);
    ctx.metrics.blocklist_too_large(namespace, false);
    ctx.metrics
        .blocklist_published(namespace, published.bytes, counts);
    if ctx.nudge_pods && published.written {
        nudge::nudge(
            &ctx.client,
            namespace,
            &published.names,
            &nudge::content_hash(&published.fingerprints),
        )
        .await;
    }

    // Statuses after the blocklist: Ready=True then means "readers can see it".
    let work = StatusWork {
        user_bans,
        feature_blocks,
        appeals: appeal_objects,
        verdicts,
        exemptions: exemption_objects,
        now,
        unpublished: None,
    };
    let next = work.next_look(next);
    StatusWorkers::submit(ctx, namespace, work);
    Ok(next)
}
