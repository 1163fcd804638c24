//! Recovery after the API server restarts: the operator notices (readiness and
//! a metric say so while its watches fail) and, once the API server is back,
//! publishes new bans within seconds instead of after a long watch backoff.
//! Its own test binary, so the restart disturbs no other test's cluster.

mod common;

use std::time::{Duration, Instant};

use common::http::{free_port, http};
use common::{TestNamespace, apply_ok, cluster, eventually};
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::ConfigMap;

async fn published(ns: &TestNamespace) -> Vec<String> {
    let Ok(Some(cm)) = ns.api::<ConfigMap>().get_opt("interdict-blocklist").await else {
        return Vec::new();
    };
    cm.data
        .and_then(|d| BlocklistDocument::parse(d.get("blocklist.json")?).ok())
        .map(|d| d.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

fn ban(name: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\n\
         spec:\n  subject: {{userId: \"{name}\"}}\n  reason: {{code: spam}}\n"
    )
}

fn readyz(port: u16) -> Option<u16> {
    http(port, "GET", "/readyz").map(|(status, _)| status)
}

fn watches_healthy(port: u16) -> Option<String> {
    let (_, body) = http(port, "GET", "/metrics")?;
    body.lines()
        .find(|l| l.starts_with("interdict_watches_healthy "))
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
}

#[tokio::test]
async fn after_an_apiserver_restart_new_bans_are_published_promptly() {
    let ns = TestNamespace::new("restart").await;
    let port = free_port();
    let _operator = ns.operator_with(&["--metrics-addr", &format!("127.0.0.1:{port}")]);
    apply_ok(&ns.name, &ban("before"));
    eventually(
        "the first ban published",
        Duration::from_secs(30),
        || async { (published(&ns).await == ["UserBan/before"]).then_some(()) },
    )
    .await;
    eventually("ready", Duration::from_secs(10), || async {
        (readyz(port) == Some(200)).then_some(())
    })
    .await;

    cluster().stop_apiserver();
    eventually(
        "/readyz to fail while the API server is down",
        Duration::from_secs(20),
        || async { (readyz(port) == Some(503)).then_some(()) },
    )
    .await;
    assert_eq!(watches_healthy(port).as_deref(), Some("0"));
    // Long enough for a default watch backoff to grow to its 30 s cap.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(readyz(port), Some(503), "still down, still not ready");
    cluster().start_apiserver();

    let back = Instant::now();
    apply_ok(&ns.name, &ban("after"));
    eventually(
        "the new ban published promptly",
        Duration::from_secs(10),
        || async {
            published(&ns)
                .await
                .contains(&"UserBan/after".to_string())
                .then_some(())
        },
    )
    .await;
    println!(
        "published {:.1} s after the API server was back",
        back.elapsed().as_secs_f64()
    );
    eventually("ready again", Duration::from_secs(15), || async {
        (readyz(port) == Some(200)).then_some(())
    })
    .await;
    assert_eq!(watches_healthy(port).as_deref(), Some("1"));
    ns.cleanup().await;
}
