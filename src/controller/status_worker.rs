//! Status work runs beside publication, not in front of it. A pass publishes
//! the blocklist and hands its snapshot here; one worker per namespace writes
//! the statuses, Events and notifications. A newer snapshot supersedes one in
//! progress: bans already done are settled, so starting over skips them. So a
//! burst of new bans reaches readers at the pace of ConfigMap writes, not at
//! the pace of one status write per ban.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Context;
use super::appeals::{self, Verdict};
use super::ban_sync::{
    AppealEvents, appeal_events, not_published, sync_appeal, sync_ban, sync_exemption,
};
use super::changes;
use super::error::Error;
use super::retry::{after_failure, instant_at};
use super::reviewed::Reviewed;
use crate::api::{BanAppeal, BanExemption, BanKind, FeatureBlock, UserBan};
use crate::model::BanKey;

/// Status writes in flight at once within one namespace.
const STATUS_WRITES_IN_FLIGHT: usize = 16;
/// During a burst the API server is the bottleneck, and three writes per ban
/// (finalizer, status, Event) would slow the creates themselves: status work
/// waits until the namespace has had no pass for this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...but never longer than this, so a sustained burst still gets its record.
const MAX_DEFERRAL: Duration = Duration::from_secs(30);

/// How long a stopping process keeps writing the statuses of what it
/// published before it starts no more: a usual backlog is written (a user
/// who stops the operator finds the statuses it had published), a burst's
/// thousands are left to the next leader, well inside a pod's 30 s grace
/// period.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

/// What one pass published, as the status writes need it.
pub struct StatusWork {
    pub user_bans: Vec<Reviewed<UserBan>>,
    pub feature_blocks: Vec<Reviewed<FeatureBlock>>,
    pub appeals: Vec<Arc<BanAppeal>>,
    pub verdicts: HashMap<String, Verdict>,
    pub exemptions: Vec<Arc<BanExemption>>,
    pub now: DateTime<Utc>,
    /// Why the pass could not publish (a foreign ConfigMap in the way, a
    /// blocklist too large): the reason and message the bans then show, with
    /// no transition announced.
    pub unpublished: Option<(&'static str, String)>,
}

impl StatusWork {
    /// When the namespace must be looked at again for this work's sake, if
    /// sooner than `next`: a notification to retry, or an appeal waiting for
    /// its ban to be seen. Never earlier than a second from now.
    pub fn next_look(&self, next: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let retry = self
            .user_bans
            .iter()
            .map(|r| r.retry_at)
            .chain(self.feature_blocks.iter().map(|r| r.retry_at))
            .flatten()
            .min();
        let appeals: Vec<&BanAppeal> = self.appeals.iter().map(Arc::as_ref).collect();
        let own = [retry, appeals::recheck_at(&appeals, &self.verdicts)]
            .into_iter()
            .flatten()
            .map(|at| at.max(self.now + chrono::Duration::seconds(1)));
        next.into_iter().chain(own).min()
    }

    /// The key of ban `index` (UserBans, then FeatureBlocks).
    fn key(&self, index: usize) -> Option<BanKey> {
        let (kind, name) = match self.user_bans.get(index) {
            Some(ban) => (BanKind::UserBan, &ban.name),
            None => (
                BanKind::FeatureBlock,
                &self.feature_blocks.get(index - self.user_bans.len())?.name,
            ),
        };
        Some(changes::key(kind, name))
    }

    /// This snapshot, plus the bans of an older one it does not hold.
    fn after(mut self, older: StatusWork) -> StatusWork {
        fn keep<K>(newer: &mut Vec<Reviewed<K>>, older: Vec<Reviewed<K>>) {
            let names: std::collections::HashSet<String> =
                newer.iter().map(|r| r.name.clone()).collect();
            newer.extend(older.into_iter().filter(|r| !names.contains(&r.name)));
        }
        keep(&mut self.user_bans, older.user_bans);
        keep(&mut self.feature_blocks, older.feature_blocks);
        self
    }
}

#[derive(Default)]
pub struct StatusWorkers {
    /// By namespace: the snapshot waiting for its worker. A namespace is in the
    /// map exactly while its worker runs.
    pending: Mutex<HashMap<String, Option<StatusWork>>>,
    running: AtomicUsize,
    stopping: AtomicBool,
    /// Stopping, and [`FINISH_WITHIN`] has passed: no new status write starts.
    abandoning: AtomicBool,
    idle: Notify,
    /// By namespace: bans whose status work failed, or whose pass failed
    /// before handing them over. A pass hands over only the bans it
    /// changed, and nothing changed about these: the retry pass
    /// takes them back ([`StatusWorkers::take_failed`]), or they would wait
    /// for their next edit (found by the fault suite: connections reset
    /// under a status write left a ban with no status for good).
    failed: Mutex<HashMap<String, BTreeSet<BanKey>>>,
}

impl StatusWorkers {
    pub fn submit(ctx: &Arc<Context>, namespace: &str, work: StatusWork) {
        let workers = &ctx.status_workers;
        let mut pending = workers.pending.lock().expect("status workers lock");
        let start = !pending.contains_key(namespace);
        // A snapshot not yet taken holds bans this one may not: keep them.
        let work = match pending.get_mut(namespace).and_then(Option::take) {
            Some(older) => work.after(older),
            None => work,
        };
        pending.insert(namespace.to_string(), Some(work));
        drop(pending);
        if start {
            workers.running.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(work_on(ctx.clone(), namespace.to_string()));
        }
    }

    /// The bans of `namespace` whose last status work failed, for the next
    /// pass to hand over again.
    pub fn take_failed(&self, namespace: &str) -> BTreeSet<BanKey> {
        self.failed
            .lock()
            .expect("status workers lock")
            .remove(namespace)
            .unwrap_or_default()
    }

    /// Keeps `keys` for the next pass of `namespace` to hand over again.
    pub fn remember_failed(&self, namespace: &str, keys: BTreeSet<BanKey>) {
        if keys.is_empty() {
            return;
        }
        self.failed
            .lock()
            .expect("status workers lock")
            .entry(namespace.to_string())
            .or_default()
            .extend(keys);
    }

    fn take(&self, namespace: &str) -> Option<StatusWork> {
        let mut pending = self.pending.lock().expect("status workers lock");
        let work = pending.get_mut(namespace).and_then(Option::take);
        if work.is_none() {
            pending.remove(namespace);
        }
        work
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn superseded(&self, namespace: &str) -> bool {
        self.pending
            .lock()
            .expect("status workers lock")
            .get(namespace)
            .is_some_and(Option::is_some)
    }

    fn abandoning(&self) -> bool {
        self.abandoning.load(Ordering::Acquire)
    }

    /// Finishes the statuses of what was published, at once (no waiting for
    /// quiet), for at most [`FINISH_WITHIN`]; then lets the writes in
    /// flight finish and starts no more. After this, the process may give
    /// up its lease. What is left goes to the next leader (or the next
    /// start), which finds it as it would after a crash: finishing a
    /// burst's whole backlog (thousands of statuses) held the lease past a
    /// pod's grace period.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + FINISH_WITHIN;
        loop {
            let idle = self.idle.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::select! {
                () = idle => {}
                () = tokio::time::sleep_until(deadline), if !self.abandoning() => {
                    self.abandoning.store(true, Ordering::Release);
                }
            }
        }
    }
}

async fn wait_for_quiet(ctx: &Context, namespace: &str, deferred_since: Instant) {
    loop {
        let quiet = ctx.queue.quiet_for(namespace);
        let deferred = deferred_since.elapsed();
        if quiet >= QUIET || deferred >= MAX_DEFERRAL || ctx.status_workers.stopping() {
            return;
        }
        let wait = (QUIET - quiet).min(MAX_DEFERRAL - deferred);
        tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
    }
}

async fn work_on(ctx: Arc<Context>, namespace: String) {
    let mut deferred_since = None;
    loop {
        let since = *deferred_since.get_or_insert_with(Instant::now);
        wait_for_quiet(&ctx, &namespace, since).await;
        let Some(work) = ctx.status_workers.take(&namespace) else {
            break;
        };
        let outcome = sync_all(&ctx, &namespace, work).await;
        if !ctx.status_workers.superseded(&namespace) {
            deferred_since = None;
        }
        match outcome {
            Ok(retry) => {
                ctx.forget_failures(&status_key(&namespace));
                if let Some(at) = retry {
                    ctx.queue.schedule(&namespace, instant_at(at));
                }
            }
            Err(error) => {
                let at = after_failure(&ctx, &namespace, &status_key(&namespace), error).await;
                ctx.queue.schedule(&namespace, at);
            }
        }
    }
    ctx.status_workers.running.fetch_sub(1, Ordering::AcqRel);
    ctx.status_workers.idle.notify_waiters();
}

/// Status failures back off on their own, so a pass that publishes fine does
/// not reset the backoff of statuses that keep failing.
fn status_key(namespace: &str) -> String {
    format!("{namespace} (statuses)")
}

/// Ban `index` of the snapshot (UserBans, then FeatureBlocks). Every ban of
/// a snapshot is done: a pass hands over only the bans it changed, so a newer
/// snapshot does not hold the rest.
async fn sync_nth(
    ctx: &Context,
    work: &StatusWork,
    appeal_events: &AppealEvents,
    index: usize,
) -> Result<Option<DateTime<Utc>>, Error> {
    match work.user_bans.get(index) {
        Some(ban) => match &work.unpublished {
            Some((reason, why)) => not_published(ctx, ban, reason, why, work.now).await,
            None => sync_ban(ctx, ban, appeal_events, work.now).await,
        },
        None => match work.feature_blocks.get(index - work.user_bans.len()) {
            Some(block) => match &work.unpublished {
                Some((reason, why)) => not_published(ctx, block, reason, why, work.now).await,
                None => sync_ban(ctx, block, appeal_events, work.now).await,
            },
            None => Ok(None),
        },
    }
}

/// Returns the earliest notification retry.
async fn sync_all(
    ctx: &Context,
    namespace: &str,
    work: StatusWork,
) -> Result<Option<DateTime<Utc>>, Error> {
    let now = work.now;
    let appeal_refs: Vec<&BanAppeal> = work.appeals.iter().map(Arc::as_ref).collect();
    let appeal_events = appeal_events(&appeal_refs, &work.verdicts);
    // Independent API calls: a burst of new bans is written several at a time
    // instead of one round trip after another. Each ban's future is made only
    // when a slot frees up: made all at once, 100k of them took over a GiB.
    let mut failures = Vec::new();
    // Exemptions first: each gets the finalizer that records its deletion
    // before any ban of the snapshot is written, so one deleted soon after
    // it was created is still on the record.
    if work.unpublished.is_none() && !ctx.status_workers.abandoning() {
        for exemption in &work.exemptions {
            failures.extend(sync_exemption(ctx, exemption, now).await.err());
        }
    }
    let total = work.user_bans.len() + work.feature_blocks.len();
    let mut retry: Option<DateTime<Utc>> = None;
    let mut failed = BTreeSet::new();
    // Each outcome is taken in as it comes: collected first, a first pass
    // over 100k bans held 9 MiB of them until the last write returned.
    let mut attempted = 0;
    let mut outcomes = stream::iter(0..total)
        .take_while(|_| std::future::ready(!ctx.status_workers.abandoning()))
        .map(|i| {
            let (work, appeal_events) = (&work, &appeal_events);
            async move { (i, sync_nth(ctx, work, appeal_events, i).await) }
        })
        .buffer_unordered(STATUS_WRITES_IN_FLIGHT);
    while let Some((index, result)) = outcomes.next().await {
        attempted += 1;
        match result {
            Ok(Some(at)) => retry = Some(retry.map_or(at, |r| r.min(at))),
            Ok(None) => {}
            Err(error) => {
                failed.extend(work.key(index));
                failures.push(error);
            }
        }
    }
    if attempted < total {
        // Abandoned while stopping: an appeal's status waits for its ban's,
        // which may be among those not written.
        ctx.status_workers.remember_failed(namespace, failed);
        return Ok(None);
    }
    // Appeals are few, and a snapshot may be the last one to hold a change
    // of theirs: they are always looked at. Except an appeal whose ban's
    // status failed: the appeal's news (received, decided) is written with
    // its ban's, so the appeal's own status waits for the ban's retry, or
    // the decision would no longer be news then and its Event and
    // notification would be lost.
    if work.unpublished.is_none() {
        for appeal in &work.appeals {
            let ban = &appeal.spec.ban_ref;
            if failed.contains(&changes::key(ban.kind, &ban.name)) {
                continue;
            }
            failures.extend(sync_appeal(ctx, appeal, &work.verdicts).await.err());
        }
    }
    ctx.status_workers.remember_failed(namespace, failed);
    if !failures.is_empty() {
        return Err(Error::Statuses(failures));
    }
    // Retries due now were attempted above; look again soon after the next one.
    Ok(retry.map(|at| at.max(Utc::now() + chrono::Duration::seconds(1))))
}
