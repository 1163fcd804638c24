//! `interdict check` on files written here, without a control plane: an item
//! the reader cannot understand is left out of the answer and named on stderr,
//! and a question it cannot answer gets an error that says why.

use std::process::{Command, Output};

use serde_json::{Value, json};

#[test]
fn check_names_each_item_it_leaves_out_and_answers_from_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // `+21192`: the end an older operator wrote for `duration: 999999w`.
    let document = json!({
        "format": "interdict.dev/blocklist/v1",
        "namespace": "apps",
        "shard": {"count": 1, "index": 0},
        "entries": [
            {"id": "UserBan/far", "kind": "UserBan", "subject": {"userId": "2"},
             "mode": "Suspend", "from": "2027-01-15T08:00:00Z",
             "until": "+21192-01-01T00:00:00Z", "reason": "spam"},
            {"id": "UserBan/ok", "kind": "UserBan", "subject": {"userId": "1"},
             "mode": "Suspend", "from": "2027-01-15T08:00:00Z", "reason": "abuse"},
        ],
    });
    let file = dir.path().join("blocklist.json");
    std::fs::write(&file, document.to_string()).unwrap();

    let check = |user: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args(["check", "--dir"])
            .arg(dir.path())
            .args(["--feature", "login", "--at", "2027-02-01T00:00:00Z"])
            .args(["--user", user])
            .output()
            .expect("run interdict");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "exit {}: {stdout}{stderr}",
            output.status
        );
        let decision: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("no decision JSON ({e}): {stdout}"));
        (decision, stderr)
    };

    let (decision, stderr) = check("1");
    assert_eq!(
        (&decision["allowed"], &decision["ban"], &decision["reason"]),
        (&json!(false), &json!("UserBan/ok"), &json!("abuse")),
        "{decision}"
    );
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "one line per item left out: {stderr}");
    let warning = warnings[0];
    assert!(
        warning.starts_with("warning: ")
            && warning.contains(&file.display().to_string())
            && warning.contains("entries[0] \"UserBan/far\"")
            && warning.contains("+21192")
            && warning.contains("skipped"),
        "{warning}"
    );

    let (decision, stderr) = check("2");
    assert_eq!(
        decision,
        json!({"allowed": true}),
        "the odd ban is left out"
    );
    assert!(stderr.contains("UserBan/far"), "{stderr}");
}

fn interdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(args)
        .output()
        .expect("run interdict")
}

fn failure(args: &[&str]) -> (i32, String) {
    let output = interdict(args);
    assert!(
        output.stdout.is_empty(),
        "{args:?} printed a decision: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_explains_why_it_cannot_answer() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();

    let (code, stderr) = failure(&["check", "--dir", dir, "--feature", "login"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("required") && stderr.contains("--user") && stderr.contains("--email"),
        "names the subject flags: {stderr}"
    );
    assert!(stderr.contains("Usage"), "{stderr}");

    let (code, stderr) = failure(&[
        "check",
        "--dir",
        dir,
        "--feature",
        "login",
        "--ip",
        "not-an-ip",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--ip") && stderr.contains("not-an-ip"),
        "{stderr}"
    );

    let (code, stderr) = failure(&[
        "check",
        "--dir",
        dir,
        "--feature",
        "login",
        "--user",
        "1",
        "--scope",
        "nokind",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--scope") && stderr.contains("KIND=NAME") && stderr.contains("nokind"),
        "{stderr}"
    );

    let (code, stderr) = failure(&[
        "check",
        "--dir",
        dir,
        "--feature",
        "login",
        "--user",
        "1",
        "--at",
        "tomorrow",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--at") && stderr.contains("tomorrow"),
        "{stderr}"
    );

    let (code, stderr) = failure(&[
        "check",
        "--dir",
        "/nonexistent",
        "--feature",
        "login",
        "--user",
        "1",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot read blocklist directory") && stderr.contains("/nonexistent"),
        "{stderr}"
    );

    let (code, stderr) = failure(&["check", "--dir", dir, "--feature", "login", "--user", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no blocklist") && stderr.contains(dir),
        "an empty directory is not an empty blocklist: {stderr}"
    );

    let broken = empty.path().join("blocklist.json");
    std::fs::write(
        &broken,
        "{\"format\": \"interdict.dev/blocklist/v1\", \"entries\": [",
    )
    .unwrap();
    let (code, stderr) = failure(&["check", "--dir", dir, "--feature", "login", "--user", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(broken.to_str().unwrap()),
        "names the file: {stderr}"
    );

    std::fs::write(&broken, r#"{"format":"interdict.dev/blocklist/v9","namespace":"x","shard":{"index":0,"count":1},"entries":[]}"#).unwrap();
    let (code, stderr) = failure(&["check", "--dir", dir, "--feature", "login", "--user", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(broken.to_str().unwrap())
            && stderr.contains("unsupported blocklist format"),
        "{stderr}"
    );
}
