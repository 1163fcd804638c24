//! Decisions change live in running applications: the operator writes the
//! ConfigMap, a projector publishes it into a directory exactly as kubelet does,
//! and a running sidecar (`interdict serve`) and a running Python application
//! change their answers when a ban is applied and when it is lifted, without a
//! restart. A malformed copy leaves the previous answers in force.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::http::{free_port, http, json};
use common::{TestNamespace, apply_ok, eventually, repo_root};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::DeleteParams;

/// A process killed when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn still_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

fn start_sidecar(dir: &Path, port: u16, log: &Path) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args([
                "serve",
                "--dir",
                dir.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--reload-interval-ms",
                "200",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start interdict serve"),
    )
}

fn start_python_app(dir: &Path) -> (Running, u16) {
    let mut child = Command::new("python3")
        .arg(repo_root().join("clients/python/examples/app.py"))
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--port",
            "0",
            "--poll-interval",
            "0.2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the Python example app");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the app announces its port")
        .parse()
        .unwrap();
    (Running(child), port)
}

/// Copies the blocklist ConfigMap into `dir` the way kubelet does, whenever it changes.
fn start_projector(
    ns: &TestNamespace,
    dir: &Path,
    paused: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let api = ns.api::<ConfigMap>();
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        let mut published = None;
        loop {
            if !paused.load(Ordering::Relaxed)
                && let Ok(Some(cm)) = api.get_opt("interdict-blocklist").await
                && cm.metadata.resource_version != published
            {
                let data: BTreeMap<String, String> = cm.data.clone().unwrap_or_default();
                common::mount::kubelet_publish(&dir, &data);
                published = cm.metadata.resource_version.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn both_say(sidecar: u16, app: u16, query: &str, allowed: bool, what: &str) {
    eventually(what, Duration::from_secs(20), || async {
        let from_sidecar = json(sidecar, &format!("/v1/decision?{query}"))?;
        let from_app = json(app, &format!("/check?{query}"))?;
        (from_sidecar["allowed"] == allowed && from_app["allowed"] == allowed).then_some(())
    })
    .await;
}

#[tokio::test]
async fn running_applications_follow_bans_without_restart() {
    let ns = TestNamespace::new("live").await;
    let _operator = ns.operator();
    let mount = tempfile::tempdir().unwrap();
    let paused = Arc::new(AtomicBool::new(false));
    let projector = start_projector(&ns, mount.path(), paused.clone());
    let sidecar_port = free_port();
    let sidecar_log = common::repo_root().join(format!("target/test-logs/{}-sidecar.log", ns.name));
    let mut sidecar = start_sidecar(mount.path(), sidecar_port, &sidecar_log);
    let (mut app, app_port) = start_python_app(mount.path());

    // An unrelated ban creates the blocklist; user 555 is not in it.
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: unrelated}\nspec:\n  subject: {userId: \"1\"}\n  reason: {code: spam}\n",
    );
    both_say(
        sidecar_port,
        app_port,
        "feature=comments&user=555",
        true,
        "user 555 allowed at first",
    )
    .await;
    assert_eq!(http(app_port, "POST", "/posts?user=555").unwrap().0, 201);

    // A ban is applied: both change their answer.
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: spammer}\nspec:\n  subject: {userId: \"555\"}\n  reason: {code: spam}\n  message: You are suspended.\n",
    );
    both_say(
        sidecar_port,
        app_port,
        "feature=comments&user=555",
        false,
        "user 555 denied after the ban",
    )
    .await;
    let (status, body) = http(app_port, "POST", "/posts?user=555").unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("You are suspended."),
        "the 403 carries the ban's message: {body}"
    );

    // A malformed copy: the previous answers stay, and the failure is reported.
    paused.store(true, Ordering::Relaxed);
    let good: BTreeMap<String, String> = ns
        .api::<ConfigMap>()
        .get("interdict-blocklist")
        .await
        .unwrap()
        .data
        .unwrap();
    let mut broken = good.clone();
    broken.insert(
        "blocklist.json".into(),
        "{\"format\": \"interdict.dev/blocklist/v1\", oops".into(),
    );
    common::mount::kubelet_publish(mount.path(), &broken);
    eventually(
        "reload failure reported in metrics",
        Duration::from_secs(10),
        || async {
            let (_, metrics) = http(sidecar_port, "GET", "/metrics")?;
            metrics
                .lines()
                .any(|l| {
                    l.starts_with("interdict_blocklist_reload_failures_total") && !l.ends_with(" 0")
                })
                .then_some(())
        },
    )
    .await;
    let log = std::fs::read_to_string(&sidecar_log).unwrap();
    assert!(
        log.contains("previous copy stays in force"),
        "the failure is logged: {log}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    both_say(
        sidecar_port,
        app_port,
        "feature=comments&user=555",
        false,
        "previous decisions in force",
    )
    .await;
    common::mount::kubelet_publish(mount.path(), &good);
    paused.store(false, Ordering::Relaxed);

    // Lifted (deleted): both allow again.
    ns.api::<interdict::api::UserBan>()
        .delete("spammer", &DeleteParams::default())
        .await
        .unwrap();
    both_say(
        sidecar_port,
        app_port,
        "feature=comments&user=555",
        true,
        "user 555 allowed after the lift",
    )
    .await;
    assert_eq!(http(app_port, "POST", "/posts?user=555").unwrap().0, 201);

    // Silence: the author's content disappears (404) for everyone.
    assert_eq!(
        http(app_port, "GET", "/authors/mallory/posts").unwrap().0,
        200
    );
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: quiet}\nspec:\n  subject: {username: mallory}\n  mode: Silence\n  reason: {code: abuse}\n",
    );
    eventually(
        "silenced author's posts hidden",
        Duration::from_secs(20),
        || async { (http(app_port, "GET", "/authors/mallory/posts")?.0 == 404).then_some(()) },
    )
    .await;
    // The sidecar polls on its own schedule: it may see the new copy a moment later.
    eventually(
        "block status lists the silence",
        Duration::from_secs(10),
        || async {
            let status = json(sidecar_port, "/v1/blocks?username=mallory")?;
            (status["blocks"][0]["mode"] == "Silence").then_some(())
        },
    )
    .await;

    assert!(
        sidecar.still_running() && app.still_running(),
        "no restart was needed"
    );
    projector.abort();
    ns.cleanup().await;
}
