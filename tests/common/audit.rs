//! `interdict audit` as a user runs it, and a namespace's worth of every
//! kind for it to report: manual bans (one on an email address, one lifted,
//! two that allow appeals), a feature block, an automatic ban and an exemption.

use std::path::Path;

use serde_json::Value;

/// What `interdict audit` printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `interdict audit ARGS` with the credentials of `kubeconfig`.
pub fn audit(kubeconfig: &Path, args: &[&str]) -> Run {
    let output = super::operator::command(kubeconfig)
        .arg("audit")
        .args(args)
        .output()
        .expect("run interdict audit");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Its standard output, once it exited 0.
pub fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let run = audit(kubeconfig, args);
    assert_eq!(
        run.code, 0,
        "interdict audit {args:?}: {}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

/// Its standard output as JSON, once it exited 0.
pub fn json_of(kubeconfig: &Path, args: &[&str]) -> Value {
    let text = ok(kubeconfig, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// Bans of every sort, a feature block and an exemption; the appeals are
/// the tests' own, since they need the bans reconciled first. With a
/// `creator`, two bans carry `interdict.dev/created-by` naming it: the API
/// server accepts it only from that very user (the actor admission policy).
pub fn scene(creator: Option<&str>) -> String {
    let annotation = creator.map_or(String::new(), |user| {
        format!(", annotations: {{interdict.dev/created-by: \"{user}\"}}")
    });
    SCENE.replace("CREATED_BY", &annotation)
}

const SCENE: &str = r#"
apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {name: by-emailCREATED_BY}
spec:
  subject: {email: "typed+shop@address.example"}
  reason: {code: harassment}
  appeal: {allowed: true}
---
apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {name: spam-1CREATED_BY}
spec:
  subject: {userId: "1"}
  duration: 1d
  reason: {code: spam}
  appeal: {allowed: true}
---
apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {name: spam-2}
spec:
  subject: {userId: "2"}
  expiresAt: "2030-01-01T00:00:00Z"
  reason: {code: spam}
  appeal: {allowed: true}
---
apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {name: lifted}
spec:
  subject: {userId: "3"}
  reason: {code: fraud}
  lift: {reason: Mistaken identity, by: bob}
---
apiVersion: interdict.dev/v1alpha1
kind: FeatureBlock
metadata: {name: no-comments}
spec:
  subject: {userId: "4"}
  features: [comments]
  duration: 12h
  reason: {code: abuse}
---
apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {name: auto, labels: {interdict.dev/policy: p}}
spec:
  subject: {username: bot}
  duration: 1h
  reason: {code: brute-force}
---
apiVersion: interdict.dev/v1alpha1
kind: BanExemption
metadata: {name: office}
spec:
  subject: {ip: 203.0.113.0/28}
  reason: {code: office-network}
"#;
