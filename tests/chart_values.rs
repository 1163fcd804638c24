//! The chart's values that need more than a flag: notifications (the rendered
//! `notify.yaml` the operator accepts, the Secrets mounted as files, the
//! checksum that rolls the pods) and the schema, which rejects bad values
//! naming them. No cluster.

mod common;

use std::collections::BTreeSet;

use common::chart::docs::{
    args, checksum, container, documents, has_flag, kind, name, notify_yaml, of_kind, volume,
    volume_mount,
};
use common::chart::rbac::{Permission, assert_least_privilege, permissions};
use common::chart::{KUBE_VERSION, NOTIFICATIONS, chart, helm, template, values_file};
use common::output_text;
use serde_yaml::Value;

#[test]
fn notifications_render_the_config_its_mounts_and_flags() {
    let (_dir, values) = values_file(NOTIFICATIONS);
    let docs = documents(&template("interdict", "interdict-system", &["-f", &values]));

    // The config file names the mounted secrets; it holds none itself.
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "webhook:\n\
         \x20 url: https://hooks.example.com/interdict?token=abc\n\
         \x20 secretFile: /etc/interdict/notify/webhook-secret\n\
         \x20 timeoutSeconds: 7\n\
         email:\n\
         \x20 host: smtp.example.com\n\
         \x20 port: 465\n\
         \x20 tls: tls\n\
         \x20 usernameEnv: SMTP_USERNAME\n\
         \x20 passwordFile: /etc/interdict/notify/smtp-password\n\
         \x20 from: Moderation <moderation@example.com>\n\
         \x20 helloName: operator.example.com\n\
         \x20 timeoutSeconds: 20\n",
    )
    .unwrap();
    assert_eq!(parsed, expected, "{text}");
    // ...and the operator accepts it as its --notify-config.
    let config = interdict::notify::NotifyConfig::parse(&text)
        .unwrap_or_else(|e| panic!("the operator refuses the rendered notify.yaml: {e}\n{text}"));
    assert!(config.webhook.is_some() && config.email.is_some());

    let args = args(&docs);
    assert!(
        has_flag(
            &args,
            "--notify-config",
            "/etc/interdict/notify/config/notify.yaml"
        ),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--session-revocation-retention", "1d12h"),
        "{args:?}"
    );

    // The ConfigMap, as a directory.
    let mount = volume_mount(&docs, "/etc/interdict/notify/config");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    assert!(mount["subPath"].is_null());
    let config_volume = volume(&docs, mount["name"].as_str().unwrap());
    assert_eq!(
        config_volume["configMap"]["name"].as_str(),
        Some("interdict-notify")
    );

    // The secrets, each as one read-only file taken from one key.
    for (path, secret, key) in [
        (
            "/etc/interdict/notify/webhook-secret",
            "interdict-webhook",
            "signing-secret",
        ),
        (
            "/etc/interdict/notify/smtp-password",
            "interdict-smtp",
            "password",
        ),
    ] {
        let mount = volume_mount(&docs, path);
        assert_eq!(mount["readOnly"].as_bool(), Some(true), "{path}");
        let file = mount["subPath"].as_str().expect("a subPath: one file");
        let source = &volume(&docs, mount["name"].as_str().unwrap())["secret"];
        assert_eq!(source["secretName"].as_str(), Some(secret), "{path}");
        let items = source["items"].as_sequence().expect("items");
        assert_eq!(items.len(), 1, "{path}");
        assert_eq!(items[0]["key"].as_str(), Some(key), "{path}");
        assert_eq!(items[0]["path"].as_str(), Some(file), "{path}");
    }

    // The SMTP user name, from the Secret by kubelet.
    let env = container(&docs)["env"].as_sequence().unwrap();
    let username: Vec<_> = env
        .iter()
        .filter(|e| e["name"].as_str() == Some("SMTP_USERNAME"))
        .collect();
    assert_eq!(username.len(), 1, "{env:?}");
    let reference = &username[0]["valueFrom"]["secretKeyRef"];
    assert_eq!(reference["name"].as_str(), Some("interdict-smtp"));
    assert_eq!(reference["key"].as_str(), Some("username"));

    // kubelet reads the Secrets: the operator's identity gets no access to them.
    assert_least_privilege(&docs);
    for role in docs
        .iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
    {
        let rules = serde_yaml::to_string(&role["rules"]).unwrap();
        assert!(
            !rules.contains("secrets"),
            "{} {} mentions secrets: {rules}",
            kind(role),
            name(role)
        );
    }
    let default_docs = documents(&template("interdict", "interdict-system", &[]));
    let roles = |docs: &[Value]| -> Vec<(String, String, BTreeSet<Permission>)> {
        docs.iter()
            .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
            .map(|r| (kind(r).to_string(), name(r).to_string(), permissions(r)))
            .collect()
    };
    assert_eq!(roles(&docs), roles(&default_docs), "RBAC is unchanged");

    // A changed config rolls the pods; the same config keeps the checksum.
    let sum = checksum(&docs);
    assert_eq!(sum.len(), 64, "{sum}");
    let same = documents(&template("interdict", "interdict-system", &["-f", &values]));
    assert_eq!(checksum(&same), sum);
    let changed = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "-f",
            &values,
            "--set",
            "notifications.webhook.timeoutSeconds=8",
        ],
    ));
    assert_ne!(checksum(&changed), sum);
    assert!(notify_yaml(&changed).contains("timeoutSeconds: 8"));
}

#[test]
fn notifications_one_sink_at_a_time() {
    // A webhook alone: no email section, no SMTP variable or password file.
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "--set",
            "notifications.webhook.url=http://receiver.apps:8080/hook,\
             notifications.webhook.secretName=hook,notifications.webhook.secretKey=secret",
        ],
    ));
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "webhook:\n\
         \x20 url: http://receiver.apps:8080/hook\n\
         \x20 secretFile: /etc/interdict/notify/webhook-secret\n",
    )
    .unwrap();
    assert_eq!(parsed, expected);
    interdict::notify::NotifyConfig::parse(&text).unwrap();
    let env = serde_yaml::to_string(&container(&docs)["env"]).unwrap();
    assert!(!env.contains("SMTP_USERNAME"), "{env}");
    let mounts = serde_yaml::to_string(&container(&docs)["volumeMounts"]).unwrap();
    assert!(!mounts.contains("smtp-password"), "{mounts}");

    // An email relay without credentials: the operator's defaults fill the rest.
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "--set",
            "notifications.email.host=relay.mail.svc,notifications.email.tls=none,\
             notifications.email.from=moderation@example.com",
        ],
    ));
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "email:\n\
         \x20 host: relay.mail.svc\n\
         \x20 tls: none\n\
         \x20 from: moderation@example.com\n",
    )
    .unwrap();
    assert_eq!(parsed, expected);
    interdict::notify::NotifyConfig::parse(&text).unwrap();
    let env = serde_yaml::to_string(&container(&docs)["env"]).unwrap();
    assert!(!env.contains("SMTP_USERNAME"), "{env}");
    let volumes = serde_yaml::to_string(
        &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["volumes"],
    )
    .unwrap();
    assert!(!volumes.contains("smtp"), "{volumes}");
    assert!(
        has_flag(
            &args(&docs),
            "--notify-config",
            "/etc/interdict/notify/config/notify.yaml"
        ),
        "{:?}",
        args(&docs)
    );
}

#[test]
fn privacy_values_mount_the_email_key_and_render_the_policy() {
    let plain = documents(&template("interdict", "interdict-system", &[]));
    assert!(!args(&plain).iter().any(|a| a == "--email-hash-key-file"));
    assert!(of_kind(&plain, "ValidatingAdmissionPolicy").is_empty());

    let (_dir, values) = values_file(
        "watchNamespaces: [apps]\nprivacy:\n  rejectClearEmails: true\n  emailHashKey:\n    \
         secretName: interdict-email-key\n    key: email-key\n",
    );
    let docs = documents(&template("interdict", "interdict-system", &["-f", &values]));
    let args = args(&docs);
    assert!(
        has_flag(
            &args,
            "--email-hash-key-file",
            "/etc/interdict/email-hash-key/key"
        ),
        "{args:?}"
    );
    // A directory mount of the one key, read-only.
    let mount = volume_mount(&docs, "/etc/interdict/email-hash-key");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    assert!(mount["subPath"].is_null());
    let source = &volume(&docs, mount["name"].as_str().unwrap())["secret"];
    assert_eq!(source["secretName"].as_str(), Some("interdict-email-key"));
    assert_eq!(source["items"][0]["key"].as_str(), Some("email-key"));
    assert_eq!(source["items"][0]["path"].as_str(), Some("key"));
    // Kubelet reads the Secret; the operator's roles still name no secrets.
    assert_least_privilege(&docs);

    let policies = of_kind(&docs, "ValidatingAdmissionPolicy");
    assert_eq!(policies.len(), 1);
    let policy = policies[0];
    assert_eq!(name(policy), "interdict-reject-clear-emails");
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"].as_str(), Some("Fail"));
    let resources = &spec["matchConstraints"]["resourceRules"][0]["resources"];
    assert_eq!(
        serde_yaml::to_string(resources).unwrap(),
        "- userbans\n- featureblocks\n- banexemptions\n"
    );
    let selector = serde_yaml::to_string(&spec["matchConstraints"]["namespaceSelector"]).unwrap();
    assert!(selector.contains("- apps"), "{selector}");
    let validation = &spec["validations"][0];
    let expression = validation["expression"].as_str().unwrap();
    assert!(
        expression.contains("(?i:sha256):[0-9a-fA-F]{64}"),
        "the CRD's hash spelling: {expression}"
    );
    let message = validation["message"].as_str().unwrap();
    assert!(
        message.starts_with("spec.subject.email") && message.contains("interdict hash-email"),
        "{message}"
    );
    let bindings = of_kind(&docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(bindings.len(), 1);
    assert_eq!(
        bindings[0]["spec"]["policyName"].as_str(),
        Some("interdict-reject-clear-emails")
    );
}

#[test]
fn invalid_values_are_rejected_naming_the_value() {
    let chart = chart();
    // (values file, what the error must name: helm reports "- at '/path': ...").
    let cases = [
        ("replicas: 0\n", "'/replicas'"),
        ("logFormat: xml\n", "'/logFormat'"),
        ("watchNamespaces: [\"Bad_NS\"]\n", "'/watchNamespaces/0'"),
        ("replica: 2\n", "'replica' not allowed"),
        ("blocklistName: \"UPPER\"\n", "'/blocklistName'"),
        (
            "globalBans:\n  namespace: \"-x\"\n",
            "'/globalBans/namespace'",
        ),
        ("image:\n  tga: latest\n", "'tga' not allowed"),
        ("metrics:\n  port: \"9090\"\n", "'/metrics/port'"),
        (
            "notifications:\n  webhook:\n    url: ftp://x\n    secretName: s\n    secretKey: k\n",
            "'/notifications/webhook/url'",
        ),
        (
            // The operator refuses credentials in the URL (the signature authenticates).
            "notifications:\n  webhook:\n    url: https://user:pw@x/\n    secretName: s\n    secretKey: k\n",
            "'/notifications/webhook/url'",
        ),
        (
            "notifications:\n  webhook:\n    secretName: s\n    secretKey: k\n",
            "missing property 'url'",
        ),
        (
            "notifications:\n  webhook:\n    url: https://x\n",
            "missing properties 'secretName', 'secretKey'",
        ),
        (
            "notifications:\n  webhook:\n    url: https://x\n    secretName: s\n    secretKey: k\n    \
             timeoutSeconds: 301\n",
            "'/notifications/webhook/timeoutSeconds'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    tls: ssl\n",
            "'/notifications/email/tls'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n",
            "missing property 'from'",
        ),
        (
            // Credentials are never sent in clear text.
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    \
             tls: none\n    credentialsSecretName: smtp\n",
            "'/notifications/email/credentialsSecretName'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    \
             password: hunter2\n",
            "'password' not allowed",
        ),
        ("audit:\n  file:\n    keep: 0\n", "'/audit/file/keep'"),
        (
            "audit:\n  file:\n    maxBytes: -1\n",
            "'/audit/file/maxBytes'",
        ),
        (
            "audit:\n  file:\n    persistence:\n      size: lots\n",
            "'/audit/file/persistence/size'",
        ),
        (
            // Read-only: the operator appends to the file.
            "audit:\n  file:\n    persistence:\n      accessModes: [ReadOnlyMany]\n",
            "'/audit/file/persistence/accessModes/0'",
        ),
        (
            "audit:\n  file:\n    persistence:\n      accessModes: []\n",
            "'/audit/file/persistence/accessModes'",
        ),
        (
            "sessionRevocationRetention: 7 days\n",
            "'/sessionRevocationRetention'",
        ),
        (
            "sessionRevocationRetention: 0d\n",
            "'/sessionRevocationRetention'",
        ),
        (
            "sessionRevocationRetention: 7\n",
            "'/sessionRevocationRetention'",
        ),
        (
            "privacy:\n  rejectClearEmails: \"yes\"\n",
            "'/privacy/rejectClearEmails'",
        ),
        (
            "privacy:\n  emailHashKey:\n    secretName: Email_Key\n",
            "'/privacy/emailHashKey/secretName'",
        ),
        (
            "privacy:\n  emailHashKey:\n    file: /key\n",
            "'file' not allowed",
        ),
    ];
    for (yaml, named) in cases {
        let (_dir, values) = values_file(yaml);
        let output = helm(&[
            "template",
            "interdict",
            chart.to_str().unwrap(),
            "--kube-version",
            KUBE_VERSION,
            "-f",
            &values,
        ]);
        let message = output_text(&output);
        assert!(
            !output.status.success(),
            "helm template accepted {yaml:?}: {message}"
        );
        assert!(
            message.contains("schema") && message.contains(named),
            "the error for {yaml:?} should be a schema error naming {named}: {message}"
        );
    }
}
