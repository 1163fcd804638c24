//! Automatic bans: how many offenses per second the operator's intake takes
//! (directly, and through the sidecar), a single report's round trip, and
//! the time from the report that crosses a threshold to the ban in the
//! blocklist, beside a bare ConfigMap's trip through the same watch (the
//! single-ban floor) from the same run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use interdict::http_post::Poster;
use kube::Api;
use serde_json::{Value, json};

use crate::bench::{Bench, Cells};
use crate::common::http::free_port;
use crate::common::operator::binary;
use crate::format::{fmt_ms, millis, pct, samples_line, verdict};
use crate::objects::{config_map, create_one};
use crate::observer::Observer;

/// Offenses per batch in the throughput runs, and batches in flight.
const BATCH: usize = 1_000;
const IN_FLIGHT: usize = 4;

struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Bench {
    pub async fn phase_policies(&mut self) {
        eprintln!("bench: == automatic bans: offense intake and threshold → published");
        let ns = self.namespace("policies").await;
        let token = self.reporter_token(&ns);
        let policy = json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "BanPolicy",
            "metadata": { "name": "brute-force", "namespace": ns },
            "spec": {
                "offenses": ["failed-login"], "threshold": 5, "window": "10m",
                "ladder": ["1h"], "maxBansPerMinute": 10000,
                "template": { "userBan": { "reason": { "code": "brute-force" } } },
            },
        });
        let output = self
            .cluster
            .kubectl_input(&["apply", "-f", "-"], &policy.to_string());
        assert!(output.status.success(), "cannot create the BanPolicy");
        let obs = Observer::start(&self.client, &ns).await;
        let intake = free_port();
        let mut op = self.start_operator_with(
            &ns,
            "policies",
            &["--intake-addr", &format!("127.0.0.1:{intake}")],
        );
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("policies: the operator did not become ready".into());
            return;
        }
        let direct = format!("http://127.0.0.1:{intake}/v1/offenses");
        let poster = Poster::new(Duration::from_secs(30));
        let auth = vec![("authorization", format!("Bearer {token}"))];
        wait_answering(&poster, &direct, &auth, &ns).await;

        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, &token).unwrap();
        let sidecar_port = free_port();
        let _sidecar = Sidecar(
            Command::new(binary())
                .args(["serve", "--dir", dir.path().to_str().unwrap()])
                .args(["--listen", &format!("127.0.0.1:{sidecar_port}")])
                .args(["--operator-url", &format!("http://127.0.0.1:{intake}")])
                .args(["--token-file", token_file.to_str().unwrap()])
                .args(["--namespace", &ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start interdict serve"),
        );
        let via_sidecar = format!("http://127.0.0.1:{sidecar_port}/v1/offenses");
        wait_answering(&poster, &via_sidecar, &[], &ns).await;

        let total = if self.s.scale == "full" {
            200_000
        } else {
            20_000
        };
        for (route, url, headers) in [
            ("operator", &direct, &auth),
            ("sidecar", &via_sidecar, &Vec::new()),
        ] {
            let (rate, failed) = throughput(&poster, url, headers, &ns, route, total).await;
            self.raw(format!(
                "policies: {total} offenses in batches of {BATCH}, {IN_FLIGHT} in flight, through the {route}: {rate:.0}/s, {failed} batch(es) refused"
            ));
            let target = if route == "operator" {
                "≥ 20,000/s"
            } else {
                ""
            };
            let cells = Cells::new(format!("{rate:.0} offenses/s"));
            let cells = if route == "operator" {
                cells.target(target, verdict(rate >= 20_000.0))
            } else {
                cells
            };
            self.row(
                &format!("offense intake throughput, through the {route}"),
                &format!("batches of {BATCH}"),
                cells,
            );
            let mut singles = Vec::new();
            for i in 0..self.s.samples.max(10) * 3 {
                let body = batch(&ns, &[(format!("single-{route}-{i}"), 1)]);
                let t0 = Instant::now();
                if let Ok(answer) = poster.post(url, headers, body).await
                    && answer.status == 200
                {
                    singles.push(millis(t0.elapsed()));
                }
            }
            self.raw(format!(
                "policies: one offense per request through the {route} (ms): {}",
                samples_line(&singles)
            ));
            self.row(
                &format!("one report's round trip p50 / p99, through the {route}"),
                "1 offense",
                Cells::new(format!(
                    "{} / {}",
                    fmt_ms(pct(&singles, 0.5)),
                    fmt_ms(pct(&singles, 0.99))
                )),
            );
        }

        // Threshold → published, each sample beside a bare ConfigMap's trip.
        let cms = Api::namespaced(self.client.clone(), &ns);
        // An idle client's pooled connection may be gone: reconnecting (TLS)
        // is no part of either figure.
        let warm = "policy-floor-warm";
        let _ = create_one(&cms, &config_map(warm, 16)).await;
        obs.wait(Duration::from_secs(30), |v| v.others.get(warm).copied())
            .await;
        let (mut bans, mut floors) = (Vec::new(), Vec::new());
        for i in 0..self.s.samples {
            let user = format!("crossing-{i}");
            let _ = poster
                .post(&direct, &auth, batch(&ns, &[(user.clone(), 4)]))
                .await;
            let floor = format!("policy-floor-{i:03}");
            let t0 = Instant::now();
            create_one(&cms, &config_map(&floor, 16)).await.unwrap();
            if let Some(at) = obs
                .wait(Duration::from_secs(30), |v| v.others.get(&floor).copied())
                .await
            {
                floors.push(millis(at.saturating_duration_since(t0)));
            }
            op.settle(Duration::from_secs(30)).await;
            let t0 = Instant::now();
            let answer = poster.post(&direct, &auth, batch(&ns, &[(user, 1)])).await;
            let id = answer
                .ok()
                .and_then(|a| serde_json::from_str::<Value>(&a.body).ok())
                .and_then(|v| v["bans"][0].as_str().map(str::to_string));
            let Some(id) = id else {
                self.note(format!("policies: sample {i} created no ban"));
                continue;
            };
            if let Some(at) = obs
                .wait(Duration::from_secs(30), |v| {
                    v.first_present.get(&id).copied()
                })
                .await
            {
                bans.push(millis(at.saturating_duration_since(t0)));
            }
            op.settle(Duration::from_secs(30)).await;
        }
        self.raw(format!(
            "policies: threshold-crossing report → ban published (ms): {}",
            samples_line(&bans)
        ));
        self.raw(format!(
            "policies: floor, ConfigMap created → seen (ms): {}",
            samples_line(&floors)
        ));
        let (p99, floor_p99) = (pct(&bans, 0.99), pct(&floors, 0.99));
        self.row(
            "threshold-crossing report → ban published p50 / p99",
            &format!("{} samples", bans.len()),
            Cells::new(format!("{} / {}", fmt_ms(pct(&bans, 0.5)), fmt_ms(p99)))
                .floor(
                    format!("{} / {}", fmt_ms(pct(&floors, 0.5)), fmt_ms(floor_p99)),
                    format!("{:.1}×", p99 / floor_p99.max(0.001)),
                )
                .target(
                    "p99 ≤ 3× floor p99",
                    verdict(!bans.is_empty() && p99 <= 3.0 * floor_p99),
                ),
        );
        self.record_operator(&op, "the policies phase").await;
        op.stop(Duration::from_secs(30));
    }

    /// A ServiceAccount that may report offenses in `ns`, and its token.
    fn reporter_token(&self, ns: &str) -> String {
        let rbac = json!({
            "apiVersion": "v1", "kind": "List", "items": [
                { "apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": { "name": "reporter", "namespace": ns } },
                { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                  "metadata": { "name": "reporter", "namespace": ns },
                  "rules": [{ "apiGroups": ["interdict.dev"], "resources": ["offenses"], "verbs": ["create"] }] },
                { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": { "name": "reporter", "namespace": ns },
                  "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reporter" },
                  "subjects": [{ "kind": "ServiceAccount", "name": "reporter", "namespace": ns }] },
            ],
        });
        let output = self
            .cluster
            .kubectl_input(&["apply", "-f", "-"], &rbac.to_string());
        assert!(output.status.success(), "cannot create the reporter");
        self.cluster
            .kubectl_ok(&["create", "token", "reporter", "-n", ns, "--duration=2h"])
            .trim()
            .to_string()
    }
}

/// `{"namespace": ns, "offenses": [...]}` with `count` failed logins per user.
fn batch(ns: &str, users: &[(String, usize)]) -> Bytes {
    let offenses: Vec<Value> = users
        .iter()
        .flat_map(|(user, count)| {
            (0..*count)
                .map(move |_| json!({ "type": "failed-login", "subject": { "userId": user } }))
        })
        .collect();
    Bytes::from(json!({ "namespace": ns, "offenses": offenses }).to_string())
}

async fn wait_answering(poster: &Poster, url: &str, headers: &[(&str, String)], ns: &str) {
    for _ in 0..300 {
        let body = batch(ns, &[("warm-up".to_string(), 1)]);
        if let Ok(answer) = poster.post(url, headers, body).await
            && answer.status == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} does not take reports");
}

/// Offenses per second for `total` offenses of distinct subjects (no
/// crossing: the intake and counting alone), and the batches refused.
async fn throughput(
    poster: &Poster,
    url: &str,
    headers: &[(&str, String)],
    ns: &str,
    route: &str,
    total: usize,
) -> (f64, usize) {
    use futures::StreamExt;
    let batches: Vec<Bytes> = (0..total / BATCH)
        .map(|b| {
            let users: Vec<(String, usize)> = (0..BATCH)
                .map(|i| (format!("{route}-{b}-{i}"), 1))
                .collect();
            batch(ns, &users)
        })
        .collect();
    let started = Instant::now();
    let refused = futures::stream::iter(batches)
        .map(|body| async move {
            match poster.post(url, headers, body).await {
                Ok(answer) if answer.status == 200 => 0,
                _ => 1,
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(0, |sum, failed| async move { sum + failed })
        .await;
    (total as f64 / started.elapsed().as_secs_f64(), refused)
}
