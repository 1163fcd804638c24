//! BanPolicy end to end on a real control plane: an application reports
//! offenses through the sidecar (its pod's ServiceAccount token, no client of
//! its own), the operator counts them and bans with an escalation ladder that
//! survives a restart; exempt subjects, Observe mode, the circuit breaker and
//! unauthenticated or unauthorised reporters.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use interdict::api::{BanPolicy, UserBan};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use common::http::{free_port, http, post};
use common::principal::{Principal, Rule};
use common::{Operator, TestNamespace, apply_ok, cluster, eventually};

const REPORTER: Rule = Rule {
    group: "interdict.dev",
    resources: &["offenses"],
    verbs: &["create"],
};

struct Sidecar(Child, u16);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `interdict serve` as an application's sidecar: the pod's token in a file,
/// the operator's intake as `--operator-url`.
fn sidecar(dir: &Path, token: &str, namespace: &str, intake: u16) -> Sidecar {
    let port = free_port();
    let token_file = dir.join("token");
    std::fs::write(&token_file, token).unwrap();
    let mount = dir.join("mount");
    std::fs::create_dir_all(&mount).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["serve", "--dir", mount.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--reload-interval-ms", "100"])
        .args(["--operator-url", &format!("http://127.0.0.1:{intake}")])
        .args(["--token-file", token_file.to_str().unwrap()])
        .args(["--namespace", namespace])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start interdict serve");
    let sidecar = Sidecar(child, port);
    for _ in 0..100 {
        if http(port, "GET", "/healthz").is_some() {
            return sidecar;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the sidecar did not start");
}

fn operator(ns: &TestNamespace, intake: u16) -> Operator {
    ns.operator_with(&["--intake-addr", &format!("127.0.0.1:{intake}")])
}

/// Waits until the operator's intake answers (any status).
async fn intake_up(port: u16) {
    eventually(
        "the intake endpoint answers",
        Duration::from_secs(60),
        || async move { http(port, "GET", "/v1/offenses").map(|_| ()) },
    )
    .await;
}

fn failed_logins(user: &str, count: usize) -> String {
    let offenses: Vec<Value> = (0..count)
        .map(|_| json!({ "type": "failed-login", "subject": { "userId": user } }))
        .collect();
    json!({ "offenses": offenses }).to_string()
}

fn policy(name: &str, extra: Value) -> String {
    let mut spec = json!({
        "offenses": ["failed-login"],
        "threshold": 5,
        "window": "10m",
        "ladder": ["15m", "1h", "Permanent"],
        "forgiveAfter": "30d",
        "template": { "userBan": {
            "reason": { "code": "brute-force" },
            "message": "Too many failed logins." } },
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "interdict.dev/v1alpha1",
        "kind": "BanPolicy",
        "metadata": { "name": name },
        "spec": spec,
    })
    .to_string()
}

async fn policy_bans(ns: &TestNamespace, policy: &str) -> Vec<UserBan> {
    ns.api::<UserBan>()
        .list(&ListParams::default().labels(&format!("interdict.dev/policy={policy}")))
        .await
        .unwrap()
        .items
}

async fn status_of(ns: &TestNamespace, name: &str) -> Value {
    let policy = ns.api::<BanPolicy>().get(name).await.unwrap();
    serde_json::to_value(policy.status.unwrap_or_default()).unwrap()
}

/// The policy's status once `holds` is true of it.
async fn status_when(
    ns: &TestNamespace,
    name: &str,
    what: &str,
    holds: fn(&Value) -> bool,
) -> Value {
    eventually(what, Duration::from_secs(30), || async move {
        let status = status_of(ns, name).await;
        holds(&status).then_some(status)
    })
    .await
}

/// The status's condition of type `kind`.
fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

/// A report straight to the operator's intake with `bearer`: (status, answer).
fn report(port: u16, bearer: &str, batch: &str) -> (u16, Value) {
    let (status, body) = post(port, "/v1/offenses", &[("Authorization", bearer)], batch)
        .expect("the intake answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// The namespace's blocklist, laid out in `dir` as kubelet would mount it.
async fn mount_blocklist(ns: &TestNamespace, dir: &Path) {
    let cms = ns
        .api::<ConfigMap>()
        .list(&ListParams::default())
        .await
        .unwrap();
    let data: BTreeMap<String, String> = cms
        .items
        .into_iter()
        .filter(|cm| {
            cm.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("interdict-blocklist")
        })
        .flat_map(|cm| cm.data.unwrap_or_default())
        .collect();
    common::mount::kubelet_publish(dir, &data);
}

#[tokio::test]
async fn failed_logins_reported_through_the_sidecar_ban_with_a_ladder_that_survives_a_restart() {
    let ns = TestNamespace::new("policy-ladder").await;
    let intake = free_port();
    let mut op = operator(&ns, intake);
    apply_ok(&ns.name, &policy("brute-force", json!({})));
    apply_ok(
        &ns.name,
        &json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "BanExemption",
            "metadata": { "name": "staff" },
            "spec": { "subject": { "userId": "staff-1" }, "reason": { "code": "staff" } },
        })
        .to_string(),
    );
    let app = Principal::new(&ns.name, "app", &[REPORTER]);
    let dir = tempfile::tempdir().unwrap();
    let car = sidecar(dir.path(), &app.token, &ns.name, intake);
    intake_up(intake).await;

    // Four offenses: counted, no ban yet.
    let (status, body) = post(car.1, "/v1/offenses", &[], &failed_logins("42", 4)).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["counted"], 4, "{answer}");
    assert!(policy_bans(&ns, "brute-force").await.is_empty());

    // The fifth crosses the threshold: a 15m UserBan, published and denying.
    let (status, body) = post(car.1, "/v1/offenses", &[], &failed_logins("42", 1)).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["bans"].as_array().unwrap().len(), 1, "{answer}");
    let bans = policy_bans(&ns, "brute-force").await;
    assert_eq!(bans.len(), 1);
    let first = &bans[0];
    assert_eq!(first.spec.duration.as_deref(), Some("15m"));
    assert_eq!(first.spec.subject.user_id.as_deref(), Some("42"));
    assert_eq!(
        first.metadata.labels.as_ref().unwrap()["interdict.dev/policy-rung"],
        "0"
    );
    let notes = first.spec.reason.notes.clone().unwrap();
    assert!(
        notes.contains("BanPolicy brute-force") && notes.contains("rung 1 of 3"),
        "{notes}"
    );
    let first_name = first.metadata.name.clone().unwrap();
    let mount = dir.path().join("mount");
    eventually(
        "the ban denies through the sidecar",
        Duration::from_secs(30),
        || {
            let (ns, mount, port) = (&ns, &mount, car.1);
            async move {
                mount_blocklist(ns, mount).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let (_, body) = http(port, "GET", "/v1/decision?user=42&feature=login")?;
                let decision: Value = serde_json::from_str(&body).ok()?;
                (decision["allowed"] == false).then_some(())
            }
        },
    )
    .await;

    // More offenses while banned: no second ban.
    let (status, body) = post(car.1, "/v1/offenses", &[], &failed_logins("42", 5)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(policy_bans(&ns, "brute-force").await.len(), 1);

    // An exempt subject is never banned.
    let (status, body) = post(car.1, "/v1/offenses", &[], &failed_logins("staff-1", 10)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["bans"],
        json!([])
    );

    // The ban ends (a moderator lifts it); the operator restarts; five more
    // offenses: the next rung, 1h, from the bans' labels alone.
    ns.api::<UserBan>()
        .patch(
            &first_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "lift": { "reason": "reviewed", "by": "ann" } } })),
        )
        .await
        .unwrap();
    eventually("the first ban is lifted", Duration::from_secs(30), || {
        let ns = &ns;
        let name = first_name.clone();
        async move {
            let ban = ns.api::<UserBan>().get(&name).await.ok()?;
            ban.status?.lifted_at.map(|_| ())
        }
    })
    .await;
    op.stop();
    let _op = operator(&ns, intake);
    intake_up(intake).await;
    let answer = eventually(
        "the restarted operator takes reports",
        Duration::from_secs(60),
        || {
            let port = car.1;
            async move {
                let (status, body) = post(port, "/v1/offenses", &[], &failed_logins("42", 5))?;
                (status == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
            }
        },
    )
    .await;
    assert_eq!(answer["bans"].as_array().unwrap().len(), 1, "{answer}");
    let bans = policy_bans(&ns, "brute-force").await;
    let second = bans
        .iter()
        .find(|b| b.metadata.name.as_deref() != Some(first_name.as_str()))
        .expect("a second automatic ban");
    assert_eq!(second.spec.duration.as_deref(), Some("1h"));
    assert_eq!(
        second.metadata.labels.as_ref().unwrap()["interdict.dev/policy-rung"],
        "1"
    );

    let status = status_when(
        &ns,
        "brute-force",
        "the policy's status shows its counts",
        |s| s["bansCreated"].as_u64() >= Some(1) && s["suppressedExempt"].as_u64() >= Some(1),
    )
    .await;
    assert!(
        status["suppressedActive"].as_u64().unwrap() >= 1,
        "{status}"
    );
    let ready = condition(&status, "Ready");
    assert_eq!(ready["status"], "True", "{status}");
    drop(car);
    ns.cleanup().await;
}

#[tokio::test]
async fn reports_without_a_token_or_the_permission_are_refused_and_count_nothing() {
    let ns = TestNamespace::new("policy-auth").await;
    let intake = free_port();
    let _op = operator(&ns, intake);
    apply_ok(&ns.name, &policy("brute-force", json!({ "threshold": 1 })));
    let outsider = Principal::new(&ns.name, "outsider", &[]);
    intake_up(intake).await;
    let batch = json!({
        "namespace": ns.name,
        "offenses": [{ "type": "failed-login", "subject": { "userId": "7" } }],
    })
    .to_string();

    let (status, body) = post(intake, "/v1/offenses", &[], &batch).unwrap();
    assert_eq!(status, 401, "{body}");
    let bad = [("Authorization", "Bearer not-a-token")];
    let (status, body) = post(intake, "/v1/offenses", &bad, &batch).unwrap();
    assert_eq!(status, 401, "{body}");
    let bearer = format!("Bearer {}", outsider.token);
    let headers = [("Authorization", bearer.as_str())];
    let (status, body) = post(intake, "/v1/offenses", &headers, &batch).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("offenses.interdict.dev"), "{body}");
    // A bad batch from a reporter is refused with the row and field named.
    let reporter = Principal::new(&ns.name, "reporter", &[REPORTER]);
    let bearer = format!("Bearer {}", reporter.token);
    let headers = [("Authorization", bearer.as_str())];
    let bad_row = json!({
        "namespace": ns.name,
        "offenses": [{ "type": "Failed Login", "subject": { "userId": "7" } }],
    })
    .to_string();
    let (status, body) = post(intake, "/v1/offenses", &headers, &bad_row).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("offenses[0].type"), "{body}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(policy_bans(&ns, "brute-force").await.is_empty());
    assert_eq!(status_of(&ns, "brute-force").await["offensesSeen"], 0);
    ns.cleanup().await;
}

#[tokio::test]
async fn observe_mode_creates_nothing_and_says_what_it_would_have_done() {
    let ns = TestNamespace::new("policy-observe").await;
    let intake = free_port();
    let _op = operator(&ns, intake);
    apply_ok(&ns.name, &policy("tuning", json!({ "mode": "Observe" })));
    let reporter = Principal::new(&ns.name, "reporter", &[REPORTER]);
    intake_up(intake).await;
    let bearer = format!("Bearer {}", reporter.token);
    let batch = json!({
        "namespace": ns.name,
        "offenses": (0..5).map(|_| json!({ "type": "failed-login", "subject": { "username": "mallory" } })).collect::<Vec<_>>(),
    })
    .to_string();
    let (code, answer) = report(intake, &bearer, &batch);
    assert_eq!(code, 200, "{answer}");
    let status = status_when(
        &ns,
        "tuning",
        "the policy reports what it would have done",
        |s| s["bansObserved"] == 1,
    )
    .await;
    assert_eq!(status["recent"][0]["outcome"], "Observed", "{status}");
    assert_eq!(status["recent"][0]["duration"], "15m", "{status}");
    assert!(policy_bans(&ns, "tuning").await.is_empty());
    let events = cluster().kubectl_ok(&["get", "events", "-n", &ns.name, "-o", "json"]);
    assert!(events.contains("WouldBan"), "{events}");
    ns.cleanup().await;
}

#[tokio::test]
async fn the_circuit_breaker_stops_a_storm_of_a_thousand_subjects_at_its_limit() {
    let ns = TestNamespace::new("policy-storm").await;
    let intake = free_port();
    let _op = operator(&ns, intake);
    apply_ok(
        &ns.name,
        &policy("storm", json!({ "threshold": 1, "maxBansPerMinute": 20 })),
    );
    let reporter = Principal::new(&ns.name, "reporter", &[REPORTER]);
    intake_up(intake).await;
    let bearer = format!("Bearer {}", reporter.token);
    let batch = json!({
        "namespace": ns.name,
        "offenses": (0..1000).map(|i| json!({ "type": "failed-login", "subject": { "userId": format!("victim-{i}") } })).collect::<Vec<_>>(),
    })
    .to_string();
    let (code, answer) = report(intake, &bearer, &batch);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["bans"].as_array().unwrap().len(), 20, "{answer}");
    assert_eq!(policy_bans(&ns, "storm").await.len(), 20);
    let status = status_when(&ns, "storm", "the breaker shows in the status", |s| {
        s["suppressedBreaker"] == 980
    })
    .await;
    let breaker = condition(&status, "BreakerOpen");
    assert_eq!(breaker["status"], "True", "{status}");
    ns.cleanup().await;
}

#[tokio::test]
async fn the_api_server_refuses_a_policy_whose_ladder_or_template_is_wrong() {
    let ns = TestNamespace::new("policy-cel").await;
    let refused = |manifest: String| {
        let output = common::apply(&ns.name, &manifest);
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let error = refused(policy("p", json!({ "ladder": ["Permanent", "1h"] })));
    assert!(
        error.contains("Permanent may only be the last rung"),
        "{error}"
    );
    let error = refused(policy("p", json!({ "ladder": ["soon"] })));
    assert!(error.contains("ladder rungs must be durations"), "{error}");
    let error = refused(policy("p", json!({ "window": "2d" })));
    assert!(error.contains("longer than one day"), "{error}");
    let error = refused(policy(
        "p",
        json!({ "template": {
            "userBan": { "reason": { "code": "x" } },
            "featureBlock": { "features": ["chat"], "reason": { "code": "x" } } } }),
    ));
    assert!(
        error.contains("exactly one of userBan or featureBlock"),
        "{error}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn the_policy_examples_apply_to_the_api_server() {
    let ns = TestNamespace::new("policy-examples").await;
    let dir = common::repo_root().join("examples/policies");
    let mut applied = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let output = common::apply(&ns.name, &text);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            common::output_text(&output)
        );
        applied += 1;
    }
    assert_eq!(applied, 3);
    let policies = ns
        .api::<BanPolicy>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(policies.items.len(), 2);
    ns.cleanup().await;
}

#[tokio::test]
async fn a_report_reaching_a_standby_is_counted_by_the_leader() {
    let ns = TestNamespace::new("policy-standby").await;
    let (leader_port, standby_port) = (free_port(), free_port());
    let elect = |port: u16| {
        ns.operator_with(&[
            "--leader-elect",
            "--lease-name",
            "policy-leader",
            "--lease-namespace",
            &ns.name,
            "--intake-addr",
            &format!("127.0.0.1:{port}"),
        ])
    };
    apply_ok(&ns.name, &policy("brute-force", json!({})));
    let reporter = Principal::new(&ns.name, "reporter", &[REPORTER]);
    let bearer = format!("Bearer {}", reporter.token);
    let _leader = elect(leader_port);
    // The first replica takes reports itself once it leads.
    eventually(
        "the first replica leads and counts",
        Duration::from_secs(60),
        || {
            let (bearer, ns) = (&bearer, &ns);
            async move {
                let body = json!({ "namespace": ns.name,
                "offenses": [{ "type": "failed-login", "subject": { "userId": "warm-up" } }] });
                let (status, _) = post(
                    leader_port,
                    "/v1/offenses",
                    &[("Authorization", bearer)],
                    &body.to_string(),
                )?;
                (status == 200).then_some(())
            }
        },
    )
    .await;
    let _standby = elect(standby_port);
    intake_up(standby_port).await;
    let batch = json!({ "namespace": ns.name,
        "offenses": (0..5).map(|_| json!({ "type": "failed-login", "subject": { "userId": "42" } })).collect::<Vec<_>>() })
    .to_string();
    let (status, body) = post(
        standby_port,
        "/v1/offenses",
        &[("Authorization", &bearer)],
        &batch,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["counted"], 5, "{answer}");
    assert_eq!(answer["bans"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(policy_bans(&ns, "brute-force").await.len(), 1);
    // Without a token the leader, not the standby, refuses it.
    let (status, _) = post(standby_port, "/v1/offenses", &[], &batch).unwrap();
    assert_eq!(status, 401);
    ns.cleanup().await;
}
