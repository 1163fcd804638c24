//! Pod wiring by annotation on a real API server: the operator serves the
//! webhook over TLS on loopback, the chart's own webhook configuration
//! (pointed at it by URL and scoped to the test's namespace, so no other test
//! sharing the API server is touched) sends it the pods, and the pods read
//! back are wired, left alone or refused. Without a kubelet they stay Pending,
//! which is all a test of their spec needs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::certs::{issue, make_ca};
use common::chart::docs::{documents, of_kind};
use common::chart::template;
use common::http::free_port;
use common::{Operator, TestNamespace, apply, cluster, eventually};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const SIDECAR_IMAGE: &str = "example.invalid/interdict:test";
const MAX_SHARDS: u32 = 4;

/// The operator serving the webhook, and the chart's webhook configuration
/// aimed at it; the configuration is deleted when this is dropped.
struct Webhook {
    _operator: Operator,
    name: String,
}

impl Webhook {
    async fn start(ns: &TestNamespace, cert_dir: &Path, ca: &[u8]) -> Webhook {
        let port = free_port();
        let operator = ns.operator_with(&[
            "--webhook-addr",
            &format!("127.0.0.1:{port}"),
            "--webhook-cert-dir",
            cert_dir.to_str().unwrap(),
            "--sidecar-image",
            SIDECAR_IMAGE,
            "--max-shards",
            &MAX_SHARDS.to_string(),
        ]);
        let name = format!("inject-{}", ns.name);
        let configuration = chart_configuration(&name, &ns.name, port, ca);
        Api::<MutatingWebhookConfiguration>::all(ns.client.clone())
            .create(&PostParams::default(), &configuration)
            .await
            .unwrap();
        let webhook = Webhook {
            _operator: operator,
            name,
        };
        // Until the operator listens and the API server has read the
        // configuration, pods go through unwired or are refused: ask (as a
        // dry run, which the webhook answers too) until one comes back wired.
        eventually(
            "the webhook wires pods",
            Duration::from_secs(60),
            || async {
                let params = PostParams {
                    dry_run: true,
                    ..PostParams::default()
                };
                let probe = pod("probe", &[("interdict.dev/inject", "true")]);
                let created = ns.api::<Pod>().create(&params, &probe).await.ok()?;
                volume(&created, "interdict-blocklist").map(|_| ())
            },
        )
        .await;
        webhook
    }

    /// Points the configuration at a new CA.
    async fn trust(&self, client: &kube::Client, ca: &[u8]) {
        let api = Api::<MutatingWebhookConfiguration>::all(client.clone());
        let mut configuration = api.get(&self.name).await.unwrap();
        let webhooks = configuration.webhooks.as_mut().unwrap();
        webhooks[0].client_config.ca_bundle = Some(ByteString(ca.to_vec()));
        api.replace(&self.name, &PostParams::default(), &configuration)
            .await
            .unwrap();
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = cluster()
            .kubectl()
            .args([
                "delete",
                "mutatingwebhookconfiguration",
                &self.name,
                "--wait=false",
            ])
            .output();
    }
}

/// The chart's MutatingWebhookConfiguration with `failurePolicy: Fail` (a
/// webhook that cannot be reached fails the test instead of passing pods
/// through unwired), sent to `https://127.0.0.1:PORT` and only for `namespace`.
fn chart_configuration(
    name: &str,
    namespace: &str,
    port: u16,
    ca: &[u8],
) -> MutatingWebhookConfiguration {
    let rendered = template(
        "interdict",
        "interdict-system",
        &[
            "--set",
            "injection.enabled=true,injection.failurePolicy=Fail,actors.enabled=false",
        ],
    );
    let docs = documents(&rendered);
    let found = of_kind(&docs, "MutatingWebhookConfiguration");
    assert_eq!(found.len(), 1);
    let json = serde_json::to_value(found[0]).unwrap();
    let mut configuration: MutatingWebhookConfiguration = serde_json::from_value(json).unwrap();
    configuration.metadata.name = Some(name.to_string());
    let webhook = &mut configuration.webhooks.as_mut().unwrap()[0];
    let service = webhook.client_config.service.as_ref().unwrap();
    assert_eq!(
        service.path.as_deref(),
        Some(interdict::inject::MUTATE_PODS_PATH)
    );
    webhook.client_config = WebhookClientConfig {
        url: Some(format!(
            "https://127.0.0.1:{port}{}",
            interdict::inject::MUTATE_PODS_PATH
        )),
        ca_bundle: Some(ByteString(ca.to_vec())),
        service: None,
    };
    // Every namespace carries its name as this label (set by the API server).
    webhook.namespace_selector = Some(
        serde_json::from_value(json!({
            "matchLabels": { "kubernetes.io/metadata.name": namespace }
        }))
        .unwrap(),
    );
    configuration
}

/// A pod with the containers `app` and `worker`.
fn pod(name: &str, annotations: &[(&str, &str)]) -> Pod {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": annotations },
        "spec": {
            "containers": [
                { "name": "app", "image": "example.invalid/shop:1" },
                { "name": "worker", "image": "example.invalid/shop:1" }
            ]
        }
    }))
    .unwrap()
}

fn volume<'a>(pod: &'a Pod, name: &str) -> Option<&'a k8s_openapi::api::core::v1::Volume> {
    pod.spec
        .as_ref()?
        .volumes
        .as_ref()?
        .iter()
        .find(|v| v.name == name)
}

/// The (volume, path, read-only) mounts of container `index`.
fn mounts(pod: &Pod, index: usize) -> Vec<(String, String, bool)> {
    let container = &pod.spec.as_ref().unwrap().containers[index];
    container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            (
                m.name.clone(),
                m.mount_path.clone(),
                m.read_only == Some(true),
            )
        })
        .collect()
}

fn blocklist_mounts(pod: &Pod, index: usize) -> Vec<(String, String, bool)> {
    mounts(pod, index)
        .into_iter()
        .filter(|(_, path, _)| !path.starts_with("/var/run/secrets/"))
        .collect()
}

async fn create(ns: &TestNamespace, pod: &Pod) -> Result<Pod, kube::Error> {
    ns.api::<Pod>().create(&PostParams::default(), pod).await
}

/// The namespace with the `default` ServiceAccount pods need (no
/// controller-manager creates it here).
async fn namespace(prefix: &str) -> TestNamespace {
    let ns = TestNamespace::new(prefix).await;
    let account: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": "default" } })).unwrap();
    ns.api::<ServiceAccount>()
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    ns
}

#[tokio::test]
async fn pods_are_wired_by_annotation() {
    let ns = namespace("inject").await;
    let pki = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    make_ca(pki.path(), "inject-test-ca");
    issue(pki.path(), certs.path());
    let ca = std::fs::read(pki.path().join("ca.crt")).unwrap();
    let _webhook = Webhook::start(&ns, certs.path(), &ca).await;

    // (1) Volume and sidecar: read back as stored.
    create(
        &ns,
        &pod(
            "wired",
            &[
                ("interdict.dev/inject", "true"),
                ("interdict.dev/sidecar", "true"),
            ],
        ),
    )
    .await
    .unwrap();
    let wired = ns.api::<Pod>().get("wired").await.unwrap();
    let projected = volume(&wired, "interdict-blocklist")
        .and_then(|v| v.projected.as_ref())
        .expect("a projected blocklist volume");
    let shards: Vec<(String, Option<bool>)> = projected
        .sources
        .iter()
        .flatten()
        .map(|s| {
            let map = s.config_map.as_ref().expect("a ConfigMap source");
            (map.name.clone(), map.optional)
        })
        .collect();
    assert_eq!(
        shards,
        [
            ("interdict-blocklist".to_string(), Some(true)),
            ("interdict-blocklist-1".to_string(), Some(true)),
            ("interdict-blocklist-2".to_string(), Some(true)),
            ("interdict-blocklist-3".to_string(), Some(true)),
        ],
        "one source per shard up to --max-shards"
    );
    let mount = || {
        (
            "interdict-blocklist".to_string(),
            "/etc/interdict".to_string(),
            true,
        )
    };
    assert_eq!(blocklist_mounts(&wired, 0), [mount()]);
    assert_eq!(blocklist_mounts(&wired, 1), [mount()]);
    let spec = wired.spec.as_ref().unwrap();
    let init = spec.init_containers.as_ref().expect("the sidecar");
    assert_eq!(init.len(), 1);
    let sidecar = &init[0];
    assert_eq!(sidecar.name, "interdict");
    assert_eq!(sidecar.image.as_deref(), Some(SIDECAR_IMAGE));
    assert_eq!(
        sidecar.restart_policy.as_deref(),
        Some("Always"),
        "a native sidecar"
    );
    assert_eq!(
        sidecar.args.as_deref().unwrap_or_default()[..5],
        [
            "serve",
            "--dir",
            "/etc/interdict",
            "--listen",
            "127.0.0.1:8080"
        ]
    );
    let sidecar_mounts: Vec<&str> = sidecar
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    assert!(
        sidecar_mounts.contains(&"interdict-blocklist"),
        "{sidecar_mounts:?}"
    );
    // The API server's own plugins ran again after the patch: the sidecar
    // has the ServiceAccount token it reports offenses with.
    assert!(
        sidecar_mounts
            .iter()
            .any(|m| m.starts_with("kube-api-access-")),
        "{sidecar_mounts:?}"
    );

    // (2) No annotation: stored as sent.
    create(&ns, &pod("plain", &[])).await.unwrap();
    let plain = ns.api::<Pod>().get("plain").await.unwrap();
    assert!(volume(&plain, "interdict-blocklist").is_none());
    assert!(plain.spec.as_ref().unwrap().init_containers.is_none());
    assert_eq!(blocklist_mounts(&plain, 0), []);
    assert_eq!(blocklist_mounts(&plain, 1), []);

    // (3) Wired already (by hand, as docs/applications.md shows): no second volume.
    let mut by_hand = pod("by-hand", &[("interdict.dev/inject", "true")]);
    let spec = by_hand.spec.as_mut().unwrap();
    spec.volumes = Some(vec![
        serde_json::from_value(json!({
            "name": "blocklist",
            "projected": { "sources": [
                { "configMap": { "name": "interdict-blocklist", "optional": true } }
            ] }
        }))
        .unwrap(),
    ]);
    for container in &mut spec.containers {
        container.volume_mounts = Some(vec![
            serde_json::from_value(json!({
                "name": "blocklist", "mountPath": "/etc/interdict", "readOnly": true
            }))
            .unwrap(),
        ]);
    }
    create(&ns, &by_hand).await.unwrap();
    let stored = ns.api::<Pod>().get("by-hand").await.unwrap();
    let names: Vec<&str> = stored
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .filter(|name| !name.starts_with("kube-api-access-"))
        .collect();
    assert_eq!(names, ["blocklist"]);
    let own = || ("blocklist".to_string(), "/etc/interdict".to_string(), true);
    assert_eq!(blocklist_mounts(&stored, 0), [own()]);
    assert_eq!(blocklist_mounts(&stored, 1), [own()]);

    // (4) A malformed annotation: refused, naming it; nothing is stored.
    for (annotations, expected) in [
        (
            vec![("interdict.dev/inject", "yes")],
            "annotation interdict.dev/inject: \"yes\" is neither \"true\" nor \"false\"",
        ),
        (
            vec![
                ("interdict.dev/inject", "true"),
                ("interdict.dev/containers", "web"),
            ],
            "annotation interdict.dev/containers names \"web\", which is not a container of this pod (its containers: app, worker)",
        ),
    ] {
        match create(&ns, &pod("refused", &annotations)).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 400, "{status:?}");
                assert!(
                    status.message.contains(
                        "admission webhook \"pods.inject.interdict.dev\" denied the request"
                    ),
                    "{}",
                    status.message
                );
                assert!(status.message.ends_with(expected), "{}", status.message);
            }
            other => panic!("a pod annotated {annotations:?} was not refused: {other:?}"),
        }
        assert!(ns.api::<Pod>().get_opt("refused").await.unwrap().is_none());
    }
    // What a user sees from kubectl.
    let output = apply(
        &ns.name,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\n  annotations: {interdict.dev/sidecar: \"true\"}\n\
         spec:\n  containers: [{name: app, image: example.invalid/shop:1}]\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "denied the request: annotation interdict.dev/sidecar takes effect only with interdict.dev/inject: \"true\""
        ),
        "{stderr}"
    );

    ns.cleanup().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let ns = namespace("inject-renew").await;
    let (old_ca, new_ca, certs) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    make_ca(old_ca.path(), "inject-test-old-ca");
    issue(old_ca.path(), certs.path());
    let ca = std::fs::read(old_ca.path().join("ca.crt")).unwrap();
    let webhook = Webhook::start(&ns, certs.path(), &ca).await;

    // A new CA, as when a Secret is re-issued: the API server now trusts only
    // it, so a pod is wired again only once the operator serves the new pair.
    make_ca(new_ca.path(), "inject-test-new-ca");
    issue(new_ca.path(), certs.path());
    let ca = std::fs::read(new_ca.path().join("ca.crt")).unwrap();
    webhook.trust(&ns.client, &ca).await;
    let mut attempt = 0;
    eventually(
        "a pod wired with the renewed certificate",
        Duration::from_secs(60),
        || {
            attempt += 1;
            let name = format!("renewed-{attempt}");
            let ns = &ns;
            async move {
                let created = create(ns, &pod(&name, &[("interdict.dev/inject", "true")]))
                    .await
                    .ok()?;
                volume(&created, "interdict-blocklist").map(|_| ())
            }
        },
    )
    .await;
    ns.cleanup().await;
}
