//! `interdict check` on files written here, without a control plane: an item
//! the reader cannot understand is left out of the answer and named on stderr.

use std::process::Command;

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
