//! Who did it, on a real API server: two ServiceAccounts (tokens from the
//! TokenRequest API, as pods or moderators would hold them) create and lift a
//! ban; the operator's admission webhook (the chart's configuration, pointed
//! at the operator on loopback and scoped to the test's namespace) signs each
//! change, and both names reach the ban's status, its Events, the audit lines
//! and the notification webhook. A client that writes someone else's name is
//! refused by the API server itself (the admission policy shipped with the
//! CRDs), webhook or not.

mod common;

use std::time::Duration;

use common::certs::{issue, make_ca};
use common::chart::docs::{documents, of_kind};
use common::chart::template;
use common::http::free_port;
use common::principal::{Principal, Rule};
use common::webhook::Receiver;
use common::{Operator, TestNamespace, cluster, eventually};
use interdict::actor::{
    CREATED_BY, DELETED_BY, LIFTED_BY, MUTATE_INTERDICT_PATH, RECORD_DELETION_PATH,
};
use interdict::api::UserBan;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

const MODERATOR: Rule = Rule {
    group: "interdict.dev",
    resources: &["userbans"],
    verbs: &["get", "list", "create", "patch", "update", "delete"],
};

fn ban(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}, annotations: {{{annotations}}}}}\nspec:\n  subject: {{userId: \"77\"}}\n  reason: {{code: spam}}\n  notify: true\n"
    )
}

fn refused(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "expected a refusal");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test]
async fn a_client_cannot_write_someone_elses_name() {
    let ns = TestNamespace::new("actor-forge").await;
    let mallory = Principal::new(&ns.name, "mallory", &[MODERATOR]);
    let forged = mallory.apply(&ban(
        "forged",
        &format!("{CREATED_BY}: system:serviceaccount:{}:ann", ns.name),
    ));
    let message = refused(&forged);
    assert!(
        message.contains(CREATED_BY) && message.contains("requesting user"),
        "{message}"
    );

    // Its own name is accepted (there is no webhook here to write it).
    let own = mallory.apply(&ban(
        "own",
        &format!("{CREATED_BY}: {}", mallory.username()),
    ));
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    let lift = mallory.kubectl(
        &[
            "annotate",
            "userban",
            "own",
            "-n",
            &ns.name,
            "--overwrite",
            &format!("{LIFTED_BY}=someone-else"),
        ],
        "",
    );
    assert!(refused(&lift).contains(LIFTED_BY));
    // Who deleted an object is written by the operator alone, even one's own name.
    let deleted = mallory.kubectl(
        &[
            "annotate",
            "userban",
            "own",
            "-n",
            &ns.name,
            &format!("{DELETED_BY}={}", mallory.username()),
        ],
        "",
    );
    assert!(refused(&deleted).contains(DELETED_BY));
    ns.cleanup().await;
}

/// The chart's actors webhook configuration, sent to `port` on loopback and
/// scoped to `namespace`.
fn configuration(
    name: &str,
    namespace: &str,
    port: u16,
    ca: &[u8],
) -> MutatingWebhookConfiguration {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    let found: Vec<Value> = of_kind(&docs, "MutatingWebhookConfiguration")
        .into_iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .filter(|d| d["metadata"]["name"] == "interdict-actors")
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the chart renders the actors webhook by default"
    );
    let mut configuration: MutatingWebhookConfiguration =
        serde_json::from_value(found[0].clone()).unwrap();
    configuration.metadata.name = Some(name.to_string());
    let webhook = &mut configuration.webhooks.as_mut().unwrap()[0];
    assert_eq!(
        webhook
            .client_config
            .service
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some(MUTATE_INTERDICT_PATH)
    );
    webhook.client_config = WebhookClientConfig {
        url: Some(format!("https://127.0.0.1:{port}{MUTATE_INTERDICT_PATH}")),
        ca_bundle: Some(ByteString(ca.to_vec())),
        service: None,
    };
    webhook.failure_policy = Some("Fail".into());
    webhook.namespace_selector = Some(
        serde_json::from_value(json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}}))
            .unwrap(),
    );
    configuration
}

/// The chart's deletion-recording webhook, sent to `port` and scoped to `namespace`.
fn deletions(name: &str, namespace: &str, port: u16, ca: &[u8]) -> ValidatingWebhookConfiguration {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    let found: Vec<Value> = of_kind(&docs, "ValidatingWebhookConfiguration")
        .into_iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .filter(|d| d["metadata"]["name"] == "interdict-deletions")
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the chart renders the deletions webhook by default"
    );
    let mut configuration: ValidatingWebhookConfiguration =
        serde_json::from_value(found[0].clone()).unwrap();
    configuration.metadata.name = Some(name.to_string());
    let webhook = &mut configuration.webhooks.as_mut().unwrap()[0];
    webhook.client_config = WebhookClientConfig {
        url: Some(format!("https://127.0.0.1:{port}{RECORD_DELETION_PATH}")),
        ca_bundle: Some(ByteString(ca.to_vec())),
        service: None,
    };
    webhook.namespace_selector = Some(
        serde_json::from_value(json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}}))
            .unwrap(),
    );
    configuration
}

struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        for kind in [
            "mutatingwebhookconfiguration",
            "validatingwebhookconfiguration",
        ] {
            let _ = cluster()
                .kubectl()
                .args([
                    "delete",
                    kind,
                    &self.0,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .output();
        }
    }
}

#[tokio::test]
async fn create_and_lift_by_two_users_name_both_everywhere() {
    let ns = TestNamespace::new("actors").await;
    let pki = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    make_ca(pki.path(), "actors-test-ca");
    issue(pki.path(), certs.path());
    let ca = std::fs::read(pki.path().join("ca.crt")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&dir.path().join("received.jsonl"), 0);
    let hook_port = receiver.port;
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "actors-secret").unwrap();
    let notify = dir.path().join("notify.yaml");
    std::fs::write(
        &notify,
        format!(
            "webhook:\n  url: http://127.0.0.1:{hook_port}/hooks\n  secretFile: {}\n  timeoutSeconds: 2\n",
            secret.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let operator: Operator = ns.operator_with(&[
        "--webhook-addr",
        &format!("127.0.0.1:{port}"),
        "--webhook-cert-dir",
        certs.path().to_str().unwrap(),
        "--notify-config",
        notify.to_str().unwrap(),
    ]);
    let name = format!("actors-{}", ns.name);
    Api::<MutatingWebhookConfiguration>::all(ns.client.clone())
        .create(
            &PostParams::default(),
            &configuration(&name, &ns.name, port, &ca),
        )
        .await
        .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(ns.client.clone())
        .create(
            &PostParams::default(),
            &deletions(&name, &ns.name, port, &ca),
        )
        .await
        .unwrap();
    let _registered = Registered(name);

    let ann = Principal::new(&ns.name, "ann", &[MODERATOR]);
    let bob = Principal::new(&ns.name, "bob", &[MODERATOR]);
    // The webhook answers once the operator is up: until then creates fail.
    eventually("ann's ban is signed", Duration::from_secs(60), || async {
        let created = ann.apply(&ban("spam-77", ""));
        created.status.success().then_some(())
    })
    .await;
    let bans = ns.api::<UserBan>();
    let stored = bans.get("spam-77").await.unwrap();
    assert_eq!(
        stored.metadata.annotations.as_ref().unwrap()[CREATED_BY],
        ann.username()
    );

    eventually("the ban in force", Duration::from_secs(30), || async {
        let phase = bans.get("spam-77").await.ok()?.status?.phase?;
        (phase == interdict::api::Phase::Active).then_some(())
    })
    .await;
    let lifted = bob.kubectl(
        &[
            "patch",
            "userban",
            "spam-77",
            "-n",
            &ns.name,
            "--type=merge",
            "-p",
            r#"{"spec":{"lift":{"by":"bob","reason":"false positive"}}}"#,
        ],
        "",
    );
    assert!(
        lifted.status.success(),
        "{}",
        String::from_utf8_lossy(&lifted.stderr)
    );

    // Status.
    let status = eventually(
        "the lift in the status",
        Duration::from_secs(30),
        || async {
            let status = bans.get("spam-77").await.ok()?.status?;
            status.lifted_by_user.is_some().then_some(status)
        },
    )
    .await;
    assert_eq!(status.created_by.as_deref(), Some(ann.username().as_str()));
    assert_eq!(
        status.lifted_by_user.as_deref(),
        Some(bob.username().as_str())
    );

    // Events.
    let events: Api<Event> = ns.api();
    let notes = eventually("both Events", Duration::from_secs(30), || async {
        let notes: Vec<String> = events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|e| e.note)
            .collect();
        (notes.iter().any(|n| n.contains(&ann.username()))
            && notes.iter().any(|n| n.contains(&bob.username())))
        .then_some(notes)
    })
    .await;
    assert!(!notes.is_empty());

    // Audit lines.
    let lines = operator.audit_lines();
    let actor_of = |action: &str| {
        lines
            .iter()
            .find(|l| l["action"] == action && l["name"] == "spam-77")
            .and_then(|l| l["actor"].as_str())
            .map(str::to_string)
    };
    assert_eq!(actor_of("Applied"), Some(ann.username()), "{lines:?}");
    assert_eq!(actor_of("Lifted"), Some(bob.username()), "{lines:?}");

    // Notification payloads.
    let delivered = eventually("both notifications", Duration::from_secs(30), || async {
        let all = receiver.payloads();
        let applied = all.iter().find(|p| p["event"] == "Applied")?.clone();
        let lifted = all.iter().find(|p| p["event"] == "Lifted")?.clone();
        Some((applied, lifted))
    })
    .await;
    assert_eq!(delivered.0["actor"], ann.username(), "{}", delivered.0);
    assert_eq!(delivered.1["actor"], bob.username(), "{}", delivered.1);

    // Bob deletes it: the record of the deletion names him.
    let gone = bob.kubectl(&["delete", "userban", "spam-77", "-n", &ns.name], "");
    assert!(
        gone.status.success(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    let deleted = eventually("the deletion record", Duration::from_secs(30), || async {
        operator
            .audit_lines()
            .into_iter()
            .find(|l| l["action"] == "Deleted" && l["name"] == "spam-77")
    })
    .await;
    assert_eq!(deleted["actor"], bob.username(), "{deleted}");
    ns.cleanup().await;
}
