//! `interdict console` end to end: the console and the operator as processes
//! on a real control plane, driven by a real headless Chromium over
//! WebDriver (hack/chromium.sh installs Debian's packages). A moderator signs
//! in with the printed one-time link, searches a user, bans them for an hour
//! (and the ban reaches the blocklist), sees what the user sees, approves an
//! appeal and lifts another ban; a read-only ServiceAccount's console shows
//! the API server's refusal; requests without the session, from another
//! origin or naming another host are refused.
//!
//! Screenshots of the main pages go to target/test-logs/console/, and with
//! INTERDICT_SCREENSHOTS=1 to docs/console/ (what docs/console.md shows).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::{Browser, ConsoleProcess, Driver, base64_decode, chromium, dechunk, request};
use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, cluster, eventually};
use interdict::api::{AppealPhase, BanAppeal, Phase, UserBan};
use k8s_openapi::api::core::v1::ConfigMap;

fn screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let logs = common::repo_root().join("target/test-logs/console");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join(name), &png).unwrap();
    if std::env::var_os("INTERDICT_SCREENSHOTS").is_some_and(|v| v == "1") {
        let docs: PathBuf = common::repo_root().join("docs/console");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

/// Waits until the page's notice (success or error) is shown, and returns it.
fn notice(browser: &Browser) -> String {
    browser.wait_for("#notice", Duration::from_secs(20));
    browser.text("#notice")
}

async fn phase(ns: &TestNamespace, name: &str) -> Option<Phase> {
    ns.api::<UserBan>().get(name).await.ok()?.status?.phase
}

#[tokio::test]
async fn a_moderator_bans_decides_and_lifts_in_a_real_browser() {
    let chromium = chromium();
    let ns = TestNamespace::new("console").await;
    let n = ns.name.clone();
    let _operator = ns.operator();
    let ban = |name: &str, user: &str, appeal: bool| {
        format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{userId: '{user}'}}\n  duration: 7d\n  reason: {{code: abuse}}\n  appeal: {{allowed: {appeal}}}\n"
        )
    };
    apply_ok(&n, &ban("abuse-user-555", "555", false));
    apply_ok(&n, &ban("abuse-user-777", "777", true));

    let console = ConsoleProcess::start(&cluster().kubeconfig, &["-n", &n]);
    let driver = Driver::start();
    let browser = driver.browser(&chromium);

    // Before signing in, nothing is shown.
    browser.goto(&format!("{}/", console.origin));
    assert!(browser.source().contains("Not signed in"));
    // The one-time link signs in and lands on the search page.
    browser.goto(&console.login_url);
    assert_eq!(browser.url(), format!("{}/", console.origin));
    assert_eq!(browser.text("h1"), "Search a subject");
    let cookie = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "interdict_console")
        .expect("a session cookie");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");

    // Search a user with no record, then ban them for an hour from there.
    browser.fill("#q", "4242");
    browser.submit("#search");
    assert!(browser.source().contains("id=\"no-bans\""));
    browser.submit("#ban-this");
    assert_eq!(browser.text("h1"), "Ban, silence or block");
    // A bad reason code is shown beside its field, and nothing is written.
    browser.click("#duration-1h");
    browser.fill("#reason", "Spam!");
    browser.fill("#message", "Your account is suspended for spamming.");
    browser.click("#appealable");
    browser.submit("#submit-ban");
    let error = browser.text("#reason-error");
    assert!(error.contains("reason code"), "{error}");
    screenshot(&browser, "ban-form.png");
    browser.fill("#reason", "spam");
    browser.submit("#submit-ban");
    let created = notice(&browser);
    assert_eq!(
        created,
        format!("Created userban.interdict.dev/spam-user-4242 in namespace {n}.")
    );
    let stored = ns.api::<UserBan>().get("spam-user-4242").await.unwrap();
    assert_eq!(stored.spec.duration.as_deref(), Some("1h"));
    assert_eq!(stored.spec.subject.user_id.as_deref(), Some("4242"));
    assert!(stored.spec.appeal.unwrap().allowed);
    let managers: Vec<String> = stored
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert!(
        managers.contains(&"interdict-console".to_string()),
        "{managers:?}"
    );
    // The ban reaches the blocklist applications read.
    eventually(
        "user 4242 in the blocklist",
        Duration::from_secs(30),
        || async {
            let blocklist = ns
                .api::<ConfigMap>()
                .get("interdict-blocklist")
                .await
                .ok()?;
            let ids = blocklist.data?.get("suspended-user-ids.txt")?.clone();
            ids.lines().any(|l| l == "4242").then_some(())
        },
    )
    .await;
    eventually("the ban active", Duration::from_secs(30), || async {
        (phase(&ns, "spam-user-4242").await == Some(Phase::Active)).then_some(())
    })
    .await;
    browser.goto(&format!("{}/?q=4242&kind=any", console.origin));
    let record = browser.source();
    assert!(
        record.contains("ub/spam-user-4242") && record.contains("Active"),
        "{record}"
    );
    screenshot(&browser, "search.png");

    // What the user sees, from the blocklist ConfigMap.
    browser.goto(&format!(
        "{}/why?namespace={n}&user=4242&feature=comments",
        console.origin
    ));
    let verdict = browser.text("#verdict");
    assert_eq!(verdict, "Denied: this subject may not use comments");
    assert!(browser.source().contains("UserBan/spam-user-4242"));
    screenshot(&browser, "why.png");

    // An appeal, approved through the queue: the operator lifts the ban.
    apply_ok(
        &n,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {name: please}\nspec:\n  banRef: {kind: UserBan, name: abuse-user-777}\n  statement: Someone else used my account.\n",
    );
    eventually("appeal pending", Duration::from_secs(30), || async {
        let appeal = ns.api::<BanAppeal>().get("please").await.ok()?;
        (appeal.status?.phase == Some(AppealPhase::Pending)).then_some(())
    })
    .await;
    browser.goto(&format!("{}/appeals", console.origin));
    assert!(browser.source().contains("Someone else used my account."));
    browser.fill(&format!("#notes-{n}-please"), "First offence");
    screenshot(&browser, "appeals.png");
    browser.submit("#approve-please");
    assert_eq!(
        notice(&browser),
        "Appeal please approved: the operator lifts ub/abuse-user-777."
    );
    let decision = ns
        .api::<BanAppeal>()
        .get("please")
        .await
        .unwrap()
        .spec
        .decision
        .unwrap();
    assert_eq!(decision.notes.as_deref(), Some("First offence"));
    assert!(!decision.reviewer.is_empty());
    eventually(
        "the appealed ban lifted",
        Duration::from_secs(30),
        || async { (phase(&ns, "abuse-user-777").await == Some(Phase::Lifted)).then_some(()) },
    )
    .await;

    // Another ban lifted from the search page, with a reason.
    browser.goto(&format!("{}/?q=555&kind=user", console.origin));
    browser.fill(&format!("#lift-{n}-ub-abuse-user-555"), "Mistaken identity");
    browser.submit(&format!("#lift-{n}-ub-abuse-user-555 + button"));
    assert_eq!(
        notice(&browser),
        format!("Lifted ub/abuse-user-555 in namespace {n}.")
    );
    let lifted = ns.api::<UserBan>().get("abuse-user-555").await.unwrap();
    let lift = lifted.spec.lift.expect("spec.lift set");
    assert_eq!(lift.reason, "Mistaken identity");
    assert!(lift.by.is_some_and(|b| !b.is_empty()));
    eventually("the lifted ban ended", Duration::from_secs(30), || async {
        (phase(&ns, "abuse-user-555").await == Some(Phase::Lifted)).then_some(())
    })
    .await;

    // The activity view lists the operator's transitions.
    browser.goto(&format!("{}/activity", console.origin));
    let activity = browser.source();
    assert!(
        activity.contains("UserBan/abuse-user-555") && activity.contains("Lifted"),
        "{activity}"
    );
    screenshot(&browser, "activity.png");

    refusals(&console, &browser);

    // A read-only moderator: the page works, the ban is refused by RBAC, plainly.
    let reader = Principal::new(
        &n,
        "reader",
        &[
            Rule {
                group: "interdict.dev",
                resources: &["userbans", "featureblocks", "banappeals"],
                verbs: &["get", "list", "watch"],
            },
            Rule {
                group: "",
                resources: &["configmaps"],
                verbs: &["get", "list"],
            },
        ],
    );
    let read_only = ConsoleProcess::start(&reader.kubeconfig, &["-n", &n]);
    browser.goto(&read_only.login_url);
    assert_eq!(browser.text("h1"), "Search a subject");
    browser.goto(&format!(
        "{}/ban?subject_kind=user&subject=999",
        read_only.origin
    ));
    browser.click("#duration-24h");
    browser.fill("#reason", "spam");
    browser.submit("#submit-ban");
    let refusal = notice(&browser);
    assert!(
        refusal.contains("Forbidden")
            && refusal.contains("cannot create resource \"userbans\"")
            && refusal.contains(&reader.username()),
        "{refusal}"
    );
    screenshot(&browser, "refused.png");
    assert!(
        ns.api::<UserBan>()
            .get_opt("spam-user-999")
            .await
            .unwrap()
            .is_none()
    );
    drop(browser);
    ns.cleanup().await;
}

/// What the console refuses to plain HTTP clients.
fn refusals(console: &ConsoleProcess, browser: &Browser) {
    let host = common::browser::host_of(&console.origin);
    let session = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "interdict_console")
        .and_then(|c| c["value"].as_str().map(str::to_string))
        .unwrap();
    let cookie = format!("interdict_console={session}");
    // The CSRF token of the session, from a page's hidden field.
    let page = request(
        console.port,
        "GET",
        "/ban",
        &[("Host", host), ("Cookie", &cookie)],
        "",
    );
    assert_eq!(page.status, 200);
    for (header, value) in [
        ("content-security-policy", "default-src 'self'"),
        ("x-frame-options", "DENY"),
    ] {
        assert!(
            page.header(header).is_some_and(|v| v.contains(value)),
            "{header}: {:?}",
            page.headers
        );
    }
    assert!(
        !page
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")),
        "no CORS headers: {:?}",
        page.headers
    );
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_string();
    let form = format!(
        "csrf={csrf}&namespace=default&action=ban&subject_kind=user&subject=1&duration=1h&reason=spam"
    );
    let post = |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        request(console.port, "POST", "/ban", &all, body)
    };

    // No session: 401 for pages and forms alike.
    let anonymous = request(console.port, "GET", "/", &[("Host", host)], "");
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        post(&[("Host", host), ("Origin", &console.origin)], &form).status,
        401
    );
    // The one-time link was used already.
    let again = request(
        console.port,
        "GET",
        console.login_url.strip_prefix(&console.origin).unwrap(),
        &[("Host", host)],
        "",
    );
    assert_eq!(again.status, 403);
    // Another origin, even with the session and its CSRF token.
    let foreign = post(
        &[
            ("Host", host),
            ("Cookie", &cookie),
            ("Origin", "http://evil.example"),
        ],
        &form,
    );
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("Origin check"), "{}", foreign.body);
    // No Origin nor Referer: refused too.
    assert_eq!(
        post(&[("Host", host), ("Cookie", &cookie)], &form).status,
        403
    );
    // The right origin without the CSRF token.
    let no_csrf = post(
        &[
            ("Host", host),
            ("Cookie", &cookie),
            ("Origin", &console.origin),
        ],
        "namespace=default&action=ban&subject_kind=user&subject=1&duration=1h&reason=spam",
    );
    assert_eq!(no_csrf.status, 403);
    assert!(no_csrf.body.contains("security token"), "{}", no_csrf.body);
    // A name rebound to 127.0.0.1 is another host.
    let rebound = request(
        console.port,
        "GET",
        "/",
        &[("Host", "evil.example"), ("Cookie", &cookie)],
        "",
    );
    assert_eq!(rebound.status, 421);
}

#[tokio::test]
async fn in_cluster_mode_acts_with_each_requests_bearer_token() {
    let ns = TestNamespace::new("console-bearer").await;
    let n = ns.name.clone();
    let reader = Principal::new(
        &n,
        "reader",
        &[Rule {
            group: "interdict.dev",
            resources: &["userbans", "featureblocks", "banappeals"],
            verbs: &["get", "list"],
        }],
    );
    let port = common::http::free_port();
    // The admin kubeconfig only says where the cluster is: its credentials are never used.
    let console = ConsoleProcess::start_bearer(&cluster().kubeconfig, port, &["-n", &n]);
    let host = format!("127.0.0.1:{port}");
    let get = |headers: &[(&str, &str)]| {
        let mut all = vec![("Host", host.as_str())];
        all.extend_from_slice(headers);
        request(port, "GET", "/ban", &all, "")
    };
    assert_eq!(get(&[]).status, 401, "no token");
    assert_eq!(
        get(&[("Authorization", "Bearer not-a-token")]).status,
        401,
        "a token the API server refuses"
    );
    let bearer = format!("Bearer {}", reader.token);
    let page = get(&[("Authorization", &bearer)]);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&reader.username()),
        "acting as the token's user"
    );
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let form = format!(
        "csrf={csrf}&namespace={n}&action=ban&subject_kind=user&subject=1&duration=1h&reason=spam"
    );
    let post = |origin: &str| {
        request(
            port,
            "POST",
            "/ban",
            &[
                ("Host", host.as_str()),
                ("Authorization", &bearer),
                ("Origin", origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &form,
        )
    };
    assert_eq!(post("http://evil.example").status, 403);
    // The token's own rights decide: a reader may not create bans.
    let refused = post(&console.origin);
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("cannot create resource")
            && refused.body.contains(&reader.username()),
        "{}",
        refused.body
    );
    assert!(
        ns.api::<UserBan>()
            .get_opt("spam-user-1")
            .await
            .unwrap()
            .is_none()
    );
    ns.cleanup().await;
}

#[test]
fn the_test_clients_decode_what_they_receive() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
    assert_eq!(dechunk("5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"), "hello!");
}
