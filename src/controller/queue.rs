//! The work queue: one pending item per namespace with the earliest time it is
//! due. Bounded by the number of namespaces, so a burst of watch events or a
//! slow API server can never grow it. A change in a namespace that has been quiet
//! runs at once; changes within the debounce of the last pass wait for the end of
//! it, so a burst becomes a few passes and an isolated change pays no delay.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    due: HashMap<String, Instant>,
    in_progress: HashSet<String>,
    /// When each namespace's last pass started.
    started: HashMap<String, Instant>,
    /// How long each namespace's last pass took, its writes included.
    took: HashMap<String, std::time::Duration>,
    /// Namespaces whose next pass the spacing holds back.
    held: HashSet<String>,
}

/// Passes that cost more are spaced further apart during a burst: each one
/// rewrites every shard that changed, and at 10k bans and more those writes,
/// not the bans' creates, would take the API server's time.
const SPACING_PER_PASS_TIME: u32 = 2;
const MAX_SPACING: std::time::Duration = std::time::Duration::from_secs(5);

impl Queue {
    /// Asks for `namespace` to be reconciled no later than `at`.
    pub fn schedule(&self, namespace: &str, at: Instant) {
        let mut state = self.state.lock().expect("queue lock");
        let slot = state.due.entry(namespace.to_string()).or_insert(at);
        if at < *slot {
            *slot = at;
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Asks for a pass after a change: now, or a spacing after the start of
    /// the namespace's last pass, whichever is later. The spacing is
    /// `debounce`, or twice the last pass's duration when that is longer.
    pub fn schedule_change(&self, namespace: &str, debounce: std::time::Duration) {
        let now = Instant::now();
        let at = {
            let mut state = self.state.lock().expect("queue lock");
            let took = state.took.get(namespace).copied().unwrap_or_default();
            let spacing = debounce.max((took * SPACING_PER_PASS_TIME).min(MAX_SPACING));
            let at = state
                .started
                .get(namespace)
                .map_or(now, |started| (*started + spacing).max(now));
            if at > now {
                state.held.insert(namespace.to_string());
            }
            at
        };
        self.schedule(namespace, at);
    }

    /// How long ago the namespace's last pass started (a long time, if never).
    pub fn quiet_for(&self, namespace: &str) -> std::time::Duration {
        let state = self.state.lock().expect("queue lock");
        // A pass held back by the spacing is part of the burst; a timed wake
        // (an expiry, a review date) is not.
        let due_now = state
            .due
            .get(namespace)
            .is_some_and(|at| *at <= Instant::now());
        if state.in_progress.contains(namespace) || due_now || state.held.contains(namespace) {
            return std::time::Duration::ZERO;
        }
        state
            .started
            .get(namespace)
            .map_or(std::time::Duration::MAX, |started| started.elapsed())
    }

    /// Waits for the next due namespaces that are not being reconciled right now,
    /// and marks them in progress. A namespace that becomes due while in progress
    /// stays queued until [`Queue::done`].
    pub async fn next_batch(&self) -> Vec<String> {
        loop {
            let notified = self.wake.notified();
            let next_due = {
                let mut state = self.state.lock().expect("queue lock");
                let now = Instant::now();
                let ready: Vec<String> = state
                    .due
                    .iter()
                    .filter(|(ns, at)| **at <= now && !state.in_progress.contains(*ns))
                    .map(|(ns, _)| ns.clone())
                    .collect();
                if !ready.is_empty() {
                    for ns in &ready {
                        state.due.remove(ns);
                        state.in_progress.insert(ns.clone());
                        state.started.insert(ns.clone(), now);
                        state.held.remove(ns);
                    }
                    return ready;
                }
                state
                    .due
                    .iter()
                    .filter(|(ns, _)| !state.in_progress.contains(*ns))
                    .map(|(_, at)| *at)
                    .min()
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    #[cfg(test)]
    pub fn has_due(&self, namespace: &str) -> bool {
        self.state
            .lock()
            .expect("queue lock")
            .due
            .contains_key(namespace)
    }

    /// Marks a namespace finished, so a request that arrived meanwhile can run.
    pub fn done(&self, namespace: &str) {
        let mut state = self.state.lock().expect("queue lock");
        state.in_progress.remove(namespace);
        if let Some(started) = state.started.get(namespace).copied() {
            state.took.insert(namespace.to_string(), started.elapsed());
        }
        drop(state);
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn earliest_request_wins_and_duplicates_coalesce() {
        let queue = Queue::default();
        let start = Instant::now();
        queue.schedule("a", start + Duration::from_secs(10));
        queue.schedule("a", start + Duration::from_secs(2));
        queue.schedule("a", start + Duration::from_secs(5));
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_namespaces_run_at_once_busy_ones_after_the_debounce() {
        let queue = Queue::default();
        let debounce = Duration::from_millis(50);
        let start = Instant::now();
        queue.schedule_change("a", debounce);
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        assert_eq!(Instant::now(), start, "first change: no delay");
        queue.done("a");
        queue.schedule_change("a", debounce);
        queue.schedule_change("a", debounce);
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        assert_eq!(Instant::now() - start, debounce, "a burst waits");
        queue.done("a");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let quiet = Instant::now();
        queue.schedule_change("a", debounce);
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        assert_eq!(Instant::now(), quiet, "quiet again: no delay");
    }

    #[tokio::test(start_paused = true)]
    async fn costly_passes_are_spaced_further_apart() {
        let queue = Queue::default();
        let debounce = Duration::from_millis(50);
        queue.schedule_change("a", debounce);
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        queue.done("a");
        queue.schedule_change("a", debounce);
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_namespace_waits_for_done() {
        let queue = std::sync::Arc::new(Queue::default());
        queue.schedule("a", Instant::now());
        assert_eq!(queue.next_batch().await, vec!["a".to_string()]);
        queue.schedule("a", Instant::now());
        queue.schedule("b", Instant::now() + Duration::from_secs(1));
        // "a" is in progress: only "b" comes out, after its delay.
        assert_eq!(queue.next_batch().await, vec!["b".to_string()]);
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.next_batch().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished());
        queue.done("a");
        assert_eq!(waiter.await.unwrap(), vec!["a".to_string()]);
    }
}
