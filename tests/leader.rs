//! High availability: two operator processes, one leader. Killing the leader
//! (SIGKILL) mid-burst hands over within the lease duration; a graceful stop
//! hands over at once; the blocklist ends exactly right either way.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::http::{free_port, http};
use common::{Operator, TestNamespace, apply_ok, eventually};
use interdict::core::BlocklistDocument;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;

const LEASE: &str = "interdict-leader";

struct Replica {
    operator: Operator,
    port: u16,
}

fn replica(ns: &TestNamespace) -> Replica {
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let operator = ns.operator_with(&[
        "--leader-elect",
        "--lease-namespace",
        &ns.name,
        "--lease-name",
        LEASE,
        "--metrics-addr",
        &metrics,
    ]);
    Replica { operator, port }
}

impl Replica {
    fn holds(&self, holder: &str) -> bool {
        self.operator
            .pid()
            .is_some_and(|pid| holder.ends_with(&format!("-{pid}")))
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http(self.port, "GET", "/metrics")?;
        body.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

async fn holder(ns: &TestNamespace) -> Option<String> {
    let lease = ns.api::<Lease>().get_opt(LEASE).await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

fn ban(i: usize) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: b{i:02}}}\nspec:\n  subject: {{userId: \"{i}\"}}\n  reason: {{code: spam}}\n"
    )
}

async fn blocklist_ids(ns: &TestNamespace) -> BTreeSet<String> {
    let Ok(Some(cm)) = ns.api::<ConfigMap>().get_opt("interdict-blocklist").await else {
        return BTreeSet::new();
    };
    let text = cm
        .data
        .unwrap_or_default()
        .remove("blocklist.json")
        .unwrap_or_default();
    BlocklistDocument::parse(&text)
        .map(|d| d.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

async fn wait_for_all(ns: &TestNamespace, count: usize) {
    let expected: BTreeSet<String> = (0..count).map(|i| format!("UserBan/b{i:02}")).collect();
    eventually(
        &format!("all {count} bans in the blocklist"),
        Duration::from_secs(30),
        || async { (blocklist_ids(ns).await == expected).then_some(()) },
    )
    .await;
    common::cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub",
        "--all",
        "--timeout=30s",
    ]);
}

/// Waits for `next` to take the lease, returning how long it took from `since`.
async fn takeover(ns: &TestNamespace, next: &Replica, since: Instant) -> Duration {
    eventually("takeover", Duration::from_secs(30), || async {
        holder(ns)
            .await
            .filter(|h| next.holds(h))
            .map(|_| since.elapsed())
    })
    .await
}

#[tokio::test]
async fn standby_takes_over_after_kill_and_graceful_stop() {
    let ns = TestNamespace::new("leader").await;
    let a = replica(&ns);
    let b = replica(&ns);
    let first = eventually("a leader", Duration::from_secs(30), || async {
        holder(&ns).await
    })
    .await;
    let (mut leader, standby) = if a.holds(&first) { (a, b) } else { (b, a) };
    assert!(
        leader.holds(&first),
        "the lease holder {first} is one of the two processes"
    );

    for i in 0..5 {
        apply_ok(&ns.name, &ban(i));
    }
    wait_for_all(&ns, 5).await;
    eventually("metrics from both", Duration::from_secs(5), || async {
        (leader.metric("interdict_leader") == Some(1.0)
            && standby.metric("interdict_leader") == Some(0.0))
        .then_some(())
    })
    .await;
    let (status, _) = http(standby.port, "GET", "/readyz").unwrap();
    assert_eq!(status, 200, "a standby with loaded caches is ready");
    assert_eq!(
        leader.metric("interdict_entries{mode=\"Suspend\",phase=\"Active\"}"),
        Some(5.0)
    );
    assert!(
        leader
            .metric("interdict_transitions_total{type=\"Applied\"}")
            .unwrap_or(0.0)
            >= 5.0
    );
    assert!(
        leader
            .metric("interdict_reconcile_duration_seconds_count")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        leader
            .metric("interdict_blocklist_bytes{namespace=")
            .unwrap_or(0.0)
            > 100.0
    );

    // SIGKILL the leader in the middle of a burst of bans.
    let burst = {
        let namespace = ns.name.clone();
        tokio::task::spawn_blocking(move || {
            for i in 5..25 {
                apply_ok(&namespace, &ban(i));
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = Instant::now();
    leader.operator.kill();
    let after_kill = takeover(&ns, &standby, killed).await;
    burst.await.unwrap();
    wait_for_all(&ns, 25).await;
    println!("takeover after SIGKILL: {:.1} s", after_kill.as_secs_f64());
    assert!(
        after_kill <= Duration::from_secs(20),
        "takeover after kill -9 took {after_kill:?}"
    );

    // Graceful stop of the new leader: a fresh standby takes over at once.
    let mut leader = standby;
    let standby = replica(&ns);
    eventually("new standby ready", Duration::from_secs(20), || async {
        (standby.metric("interdict_leader") == Some(0.0)).then_some(())
    })
    .await;
    let stopped = Instant::now();
    leader.operator.stop();
    let after_stop = takeover(&ns, &standby, stopped).await;
    println!(
        "takeover after graceful stop: {:.1} s",
        after_stop.as_secs_f64()
    );
    assert!(
        after_stop <= Duration::from_secs(3),
        "takeover after SIGTERM took {after_stop:?}"
    );
    for i in 25..30 {
        apply_ok(&ns.name, &ban(i));
    }
    wait_for_all(&ns, 30).await;
    ns.cleanup().await;
}
