use super::*;
use crate::core::document::render_data;
use crate::core::entry::fixtures::{at, user_ban};
use crate::core::{Contents, Entry, Mode, SubjectKey};

fn blocklist_with(entries: Vec<Entry>) -> (tempfile::TempDir, Blocklist) {
    let dir = tempfile::tempdir().unwrap();
    let data = render_data("apps", entries.into(), at(0));
    std::fs::write(dir.path().join("blocklist.json"), &data["blocklist.json"]).unwrap();
    let blocklist = Blocklist::new(dir.path());
    (dir, blocklist)
}

fn get(
    blocklist: &Blocklist,
    counters: &Counters,
    path_and_query: &str,
) -> (u16, serde_json::Value) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let response = handle(
        "GET",
        path,
        query,
        blocklist,
        counters,
        Unloaded::FailClosed,
        at(10),
    );
    let body =
        serde_json::from_str(&response.body).unwrap_or(serde_json::Value::String(response.body));
    (response.status, body)
}

#[test]
fn decision_and_block_status() {
    let later = Entry {
        from: at(100),
        until: Some(at(200)),
        ..user_ban(
            "UserBan/later",
            SubjectKey::UserId("7".into()),
            Mode::Suspend,
        )
    };
    let (_dir, blocklist) = blocklist_with(vec![
        user_ban("UserBan/now", SubjectKey::UserId("7".into()), Mode::Silence),
        later,
    ]);
    let counters = Counters::default();

    let (status, body) = get(&blocklist, &counters, "/v1/decision?feature=publish&user=7");
    assert_eq!(status, 200);
    assert_eq!(body["allowed"], false);
    assert_eq!(body["mode"], "Silence");
    let (_, body) = get(&blocklist, &counters, "/v1/decision?feature=publish&user=8");
    assert_eq!(body, serde_json::json!({ "allowed": true }));

    let (status, body) = get(&blocklist, &counters, "/v1/blocks?user=7");
    assert_eq!(status, 200);
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0]["id"].as_str(), blocks[0]["active"].as_bool()),
        (Some("UserBan/now"), Some(true))
    );
    assert_eq!(
        (blocks[1]["id"].as_str(), blocks[1]["active"].as_bool()),
        (Some("UserBan/later"), Some(false))
    );

    let (_, metrics) = get(&blocklist, &counters, "/metrics");
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(
            "interdict_decisions_total{outcome=\"denied\",mode=\"Silence\",reason=\"spam\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("interdict_decisions_total{outcome=\"allowed\",mode=\"\",reason=\"\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("interdict_blocklist_entries 2"),
        "{metrics}"
    );
}

#[test]
fn malformed_queries_are_400_with_a_reason() {
    let (_dir, blocklist) = blocklist_with(vec![]);
    let counters = Counters::default();
    let (status, body) = get(&blocklist, &counters, "/v1/decision?feature=x&ip=banana");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("banana"));
    assert_eq!(get(&blocklist, &counters, "/v1/blocks").0, 400);
    assert_eq!(get(&blocklist, &counters, "/nope").0, 404);
    assert_eq!(
        handle(
            "POST",
            "/v1/decision",
            "",
            &blocklist,
            &counters,
            Unloaded::FailClosed,
            at(0)
        )
        .status,
        405
    );
}

#[test]
fn readiness_follows_the_first_load() {
    let dir = tempfile::tempdir().unwrap();
    let blocklist = Blocklist::new(dir.path());
    let counters = Counters::default();
    assert_eq!(get(&blocklist, &counters, "/readyz").0, 503);
    assert_eq!(get(&blocklist, &counters, "/healthz").0, 200);
    let data = render_data("apps", Contents::default(), at(0));
    std::fs::write(dir.path().join("blocklist.json"), &data["blocklist.json"]).unwrap();
    blocklist.reload().unwrap();
    assert_eq!(get(&blocklist, &counters, "/readyz").0, 200);
}

#[test]
fn metrics_count_the_items_left_out_of_the_copy_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        user_ban("UserBan/ok", SubjectKey::UserId("1".into()), Mode::Suspend),
        user_ban("UserBan/far", SubjectKey::UserId("2".into()), Mode::Suspend),
    ];
    let data = render_data("apps", entries.into(), at(0));
    // The operator never writes an end past year 9999 any more; an older one did.
    let odd = data["blocklist.json"].replacen(
        "\"id\":\"UserBan/far\",",
        "\"id\":\"UserBan/far\",\"until\":\"+21192-01-01T00:00:00Z\",",
        1,
    );
    assert!(odd.contains("+21192"), "{odd}");
    std::fs::write(dir.path().join("blocklist.json"), odd).unwrap();
    let blocklist = Blocklist::new(dir.path());
    let counters = Counters::default();

    let (status, metrics) = get(&blocklist, &counters, "/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("# HELP interdict_blocklist_skipped_items ")
            && metrics.contains("# TYPE interdict_blocklist_skipped_items gauge\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ninterdict_blocklist_skipped_items 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ninterdict_blocklist_entries 1\n"),
        "{metrics}"
    );
    assert_eq!(get(&blocklist, &counters, "/readyz").0, 200);

    let good = render_data(
        "apps",
        vec![user_ban(
            "UserBan/ok",
            SubjectKey::UserId("1".into()),
            Mode::Suspend,
        )]
        .into(),
        at(1),
    );
    std::fs::write(dir.path().join("blocklist.json"), &good["blocklist.json"]).unwrap();
    assert!(blocklist.reload().unwrap(), "a shorter file is a new copy");
    let (_, metrics) = get(&blocklist, &counters, "/metrics");
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("\ninterdict_blocklist_skipped_items 0\n"),
        "{metrics}"
    );
}

#[test]
fn nothing_loaded_is_a_503_with_the_reason_never_an_allowed() {
    let empty = tempfile::tempdir().unwrap();
    let blocklist = Blocklist::new(empty.path());
    let counters = Counters::default();
    for path in ["/v1/decision?feature=login&user=1", "/v1/blocks?user=1"] {
        let (status, body) = get(&blocklist, &counters, path);
        assert_eq!(status, 503, "{path}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("no blocklist loaded"), "{error}");
    }
    let open = handle(
        "GET",
        "/v1/decision",
        "feature=login&user=1",
        &blocklist,
        &counters,
        Unloaded::FailOpen,
        at(10),
    );
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(open.body.contains("\"allowed\":true"), "{}", open.body);
    let (_, metrics) = get(&blocklist, &counters, "/metrics");
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("interdict_unavailable_total 2"),
        "{metrics}"
    );
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("interdict_decisions_total{outcome=\"unavailable\",mode=\"\",reason=\"\"} 2"),
        "{metrics}"
    );
}

#[test]
fn the_probe_address_answers_probes_and_metrics_but_no_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let blocklist = Blocklist::new(dir.path());
    let counters = Counters::default();
    let probe = |path: &str| handle_probes("GET", path, &blocklist, &counters);
    assert_eq!(probe("/healthz").status, 200);
    assert_eq!(probe("/readyz").status, 503);
    assert_eq!(probe("/metrics").status, 200);
    let decision = probe("/v1/decision");
    assert_eq!(decision.status, 404);
    assert!(
        decision.body.contains("decisions are on --listen"),
        "{}",
        decision.body
    );
    assert_eq!(probe("/v1/blocks").status, 404);

    let data = render_data("apps", Contents::default(), at(0));
    std::fs::write(dir.path().join("blocklist.json"), &data["blocklist.json"]).unwrap();
    blocklist.reload().unwrap();
    assert_eq!(probe("/readyz").status, 200);
}
