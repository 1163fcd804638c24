//! The application loop on a real API server, through the sidecar with a
//! pod's credentials (a ServiceAccount token from the TokenRequest API, a Role
//! limited to what the chart's application Role grants): watch mode answers a
//! new ban without any mount refresh, and an appeal filed through the sidecar
//! becomes a BanAppeal whose outcome the application reads back.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{free_port, http, json, post};
use common::principal::Principal;
use common::{TestNamespace, apply_ok, eventually};
use interdict::api::BanAppeal;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

struct Sidecar(Child, u16);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the chart's application Role grants: the blocklist ConfigMaps by name,
/// and filing and reading appeals.
fn application(namespace: &str) -> Principal {
    let shards: Vec<String> = interdict::controller::shard_names("interdict-blocklist", 16);
    Principal::with_rules(
        namespace,
        "shop",
        vec![
            json!({"apiGroups": [""], "resources": ["configmaps"],
                   "resourceNames": shards, "verbs": ["get", "list", "watch"]}),
            json!({"apiGroups": ["interdict.dev"], "resources": ["banappeals"],
                   "verbs": ["create", "get"]}),
        ],
    )
}

/// `interdict serve --watch-api` on an empty mount, as the application's
/// ServiceAccount.
fn sidecar(dir: &Path, app: &Principal, log: &str) -> Sidecar {
    let port = free_port();
    let mount = dir.join("mount");
    std::fs::create_dir_all(&mount).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["serve", "--dir", mount.to_str().unwrap(), "--watch-api"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--namespace", &app.namespace])
        .env("KUBECONFIG", &app.kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(common::operator::test_logs().join(log)).unwrap())
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

fn ban(name: &str, user: &str, extra: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{userId: \"{user}\"}}\n  reason: {{code: spam}}\n{extra}"
    )
}

fn allowed(port: u16, user: &str) -> Option<bool> {
    let decision = json(port, &format!("/v1/decision?feature=comments&user={user}"))?;
    decision["allowed"].as_bool()
}

#[tokio::test]
async fn watch_mode_answers_a_new_ban_without_a_mount_refresh() {
    let ns = TestNamespace::new("app-watch").await;
    let _operator = ns.operator();
    let app = application(&ns.name);
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar(dir.path(), &app, &format!("{}-sidecar.log", ns.name));
    let port = sidecar.1;

    // The operator publishes an empty blocklist in the namespace it serves;
    // the sidecar reads it from the API server (its mount stays empty).
    eventually("the sidecar is ready", Duration::from_secs(60), || async {
        (http(port, "GET", "/readyz")?.0 == 200).then_some(())
    })
    .await;
    assert_eq!(allowed(port, "42"), Some(true));

    let created = Instant::now();
    apply_ok(&ns.name, &ban("watched", "42", ""));
    eventually("the decision changes", Duration::from_secs(30), || async {
        (!allowed(port, "42")?).then_some(())
    })
    .await;
    // Printed, not asserted: `make bench` measures propagation.
    eprintln!(
        "ban applied → decision changed through --watch-api in {:?}",
        created.elapsed()
    );
    assert!(
        std::fs::read_dir(dir.path().join("mount"))
            .unwrap()
            .next()
            .is_none()
    );

    // A lift reaches the application the same way.
    apply_ok(
        &ns.name,
        &ban("watched", "42", "  lift: {by: ann, reason: mistake}\n"),
    );
    eventually(
        "the lift reaches the sidecar",
        Duration::from_secs(30),
        || async { allowed(port, "42")?.then_some(()) },
    )
    .await;
    ns.cleanup().await;
}

#[tokio::test]
async fn an_appeal_filed_through_the_sidecar_is_decided_and_its_outcome_read_back() {
    let ns = TestNamespace::new("app-appeal").await;
    let _operator = ns.operator();
    let app = application(&ns.name);
    apply_ok(
        &ns.name,
        &ban(
            "spam-7",
            "7",
            "  appeal: {allowed: true, instructions: Use the form.}\n",
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let sidecar = sidecar(dir.path(), &app, &format!("{}-sidecar.log", ns.name));
    let port = sidecar.1;

    // Bad filings are refused before anything is written.
    let (status, body) = post(
        port,
        "/v1/appeals",
        &[],
        r#"{"ban": "spam-7", "statement": "x"}"#,
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("UserBan/NAME"), "{body}");
    let (status, body) = post(port, "/v1/appeals", &[], r#"{"ban": "UserBan/spam-7"}"#).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("statement"), "{body}");
    // The API server's own validation is relayed, naming the field.
    let (status, body) = post(
        port,
        "/v1/appeals",
        &[],
        r#"{"ban": "UserBan/spam-7", "statement": "", "contact": {"email": "nope"}}"#,
    )
    .unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("statement") || body.contains("contact.email"),
        "{body}"
    );

    let (status, body) = post(
        port,
        "/v1/appeals",
        &[],
        r#"{"ban": "UserBan/spam-7", "statement": "It was my little brother."}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let filed: Value = serde_json::from_str(&body).unwrap();
    let name = filed["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("spam-7-appeal-"), "{name}");

    let appeals = ns.api::<BanAppeal>();
    let stored = appeals.get(&name).await.unwrap();
    assert_eq!(stored.spec.statement, "It was my little brother.");
    let path = format!("/v1/appeals/{name}");
    let pending = json(port, &path).unwrap();
    assert_eq!(pending["phase"], "Pending", "{pending}");
    assert_eq!(pending["ban"], "UserBan/spam-7", "{pending}");

    let decision = json!({ "spec": { "decision": { "outcome": "Approved", "reviewer": "mod-ann", "notes": "First offence" } } });
    appeals
        .patch(&name, &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .unwrap();
    let decided = eventually(
        "the outcome reaches the sidecar",
        Duration::from_secs(30),
        || async {
            let answer = json(port, &path)?;
            (answer["phase"] == "Approved").then_some(answer)
        },
    )
    .await;
    assert_eq!(decided["outcome"], "Approved", "{decided}");
    assert_eq!(decided["notes"], "First offence", "{decided}");
    assert!(decided["decidedAt"].is_string(), "{decided}");
    assert!(decided.get("reviewer").is_none(), "{decided}");

    let (status, body) = http(port, "GET", "/v1/appeals/no-such-appeal").unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, _) = http(port, "GET", "/v1/appeals/Not_A_Name").unwrap();
    assert_eq!(status, 400);
    ns.cleanup().await;
}
