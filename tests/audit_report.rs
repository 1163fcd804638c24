//! `interdict audit` on a real control plane: a mix of bans, a feature block,
//! appeals, an exemption and an automatic ban, reconciled by the operator,
//! then reported by the `interdict` binary in every format. The figures are
//! worked out by hand from the objects created here and must read the same
//! in the table, the CSV, the Markdown and the JSON.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::audit::{audit, json_of, ok, scene};
use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, cluster, eventually};
use interdict::api::{AppealPhase, BanAppeal, Phase, UserBan};
use interdict::core::email::hash_email;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// How the cluster holds the address, and how the requester types it.
const HELD_EMAIL: &str = "typed+shop@address.example";
const TYPED_EMAIL: &str = "Typed@Address.example";

fn appeal(name: &str, ban: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {{name: {name}}}\nspec:\n  banRef: {{kind: UserBan, name: {ban}}}\n  statement: Please reconsider.\n"
    )
}

async fn ban_phase(ns: &TestNamespace, name: &str) -> Option<Phase> {
    ns.api::<UserBan>().get(name).await.ok()?.status?.phase
}

async fn appeal_phase(ns: &TestNamespace, name: &str) -> Option<AppealPhase> {
    ns.api::<BanAppeal>().get(name).await.ok()?.status?.phase
}

/// What the moderator `ann` may do: create the scene's objects.
const MODERATOR: Rule = Rule {
    group: "interdict.dev",
    resources: &["userbans", "featureblocks", "banexemptions"],
    verbs: &["get", "list", "create", "patch"],
};

/// `ann` creates the scene (two bans naming her as their creator), the
/// appeals are filed and decided, and the operator gives every object its
/// status. Returns ann's user name.
async fn set_the_scene(ns: &TestNamespace) -> String {
    let ann = Principal::new(&ns.name, "ann", &[MODERATOR]);
    let applied = ann.apply(&scene(Some(&ann.username())));
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    apply_ok(&ns.name, &appeal("approve-me", "spam-1"));
    apply_ok(&ns.name, &appeal("deny-me", "spam-2"));
    for name in ["approve-me", "deny-me"] {
        eventually(
            &format!("{name} pending"),
            Duration::from_secs(30),
            || async { (appeal_phase(ns, name).await == Some(AppealPhase::Pending)).then_some(()) },
        )
        .await;
    }
    for (name, outcome) in [("approve-me", "Approved"), ("deny-me", "Denied")] {
        let decision = json!({"spec": {"decision": {"outcome": outcome, "reviewer": "carol"}}});
        ns.api::<BanAppeal>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&decision))
            .await
            .unwrap();
    }
    eventually("every status written", Duration::from_secs(30), || async {
        let bans = [
            ("by-email", Phase::Active),
            ("spam-1", Phase::Lifted),
            ("spam-2", Phase::Active),
            ("lifted", Phase::Lifted),
            ("auto", Phase::Active),
        ];
        for (name, phase) in bans {
            if ban_phase(ns, name).await != Some(phase) {
                return None;
            }
        }
        let decided = appeal_phase(ns, "approve-me").await == Some(AppealPhase::Approved)
            && appeal_phase(ns, "deny-me").await == Some(AppealPhase::Denied);
        decided.then_some(())
    })
    .await;
    ann.username()
}

/// The figures worked out by hand from the scene and its two appeals.
fn expected(ann: &str) -> BTreeMap<(String, String), String> {
    let figures = [
        ("objects", "", "9"),
        ("objects by kind and phase", "BanAppeal Approved", "1"),
        ("objects by kind and phase", "BanAppeal Denied", "1"),
        ("objects by kind and phase", "BanExemption Active", "1"),
        ("objects by kind and phase", "FeatureBlock Active", "1"),
        ("objects by kind and phase", "UserBan Active", "3"),
        ("objects by kind and phase", "UserBan Lifted", "2"),
        ("actions by reason", "abuse", "1"),
        ("actions by reason", "brute-force", "1"),
        ("actions by reason", "fraud", "1"),
        ("actions by reason", "harassment", "1"),
        ("actions by reason", "office-network", "1"),
        ("actions by reason", "spam", "2"),
        // Creations: ann's two bans, the policy's, six unrecorded;
        // lifts: bob (spec.lift.by) and the approved appeal; carol's two decisions.
        ("actions by actor", "-", "6"),
        ("actions by actor", "BanAppeal/approve-me", "1"),
        ("actions by actor", "BanPolicy/p", "1"),
        ("actions by actor", ann, "2"),
        ("actions by actor", "bob", "1"),
        ("actions by actor", "carol", "2"),
        ("bans", "total", "6"),
        ("bans", "automatic", "1"),
        ("bans", "manual", "5"),
        ("bans", "permanent", "1"),
        // spam-1, spam-2 and by-email allow appeals; the first two were appealed.
        ("appeal rate", "", "2/3 (66.7%)"),
        ("overturn rate", "", "1/2 (50.0%)"),
        // Two lifts within seconds, 1h, 12h, years: the middle one is the hour.
        ("median ban duration", "", "1h"),
        ("median ban duration", "bans measured", "5"),
    ];
    figures
        .into_iter()
        .map(|(f, k, v)| ((f.to_string(), k.to_string()), v.to_string()))
        .collect()
}

/// Rows and Event counts move while Events arrive; the rest may not.
fn stable(mut figures: BTreeMap<(String, String), String>) -> BTreeMap<(String, String), String> {
    figures.retain(|(figure, _), _| figure != "rows" && figure != "trail by action");
    figures
}

fn from_table(text: &str) -> BTreeMap<(String, String), String> {
    let (_, figures) = text.split_once("FIGURE").expect("a figures table");
    let mut lines = figures.lines();
    // Cells are read by the header's columns: a figure without a key leaves it blank.
    let header = format!("FIGURE{}", lines.next().unwrap());
    let key_at = header.find("KEY").unwrap();
    let value_at = header.find("VALUE").unwrap();
    lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let cell = |from: usize, to: usize| -> String {
                chars[from.min(chars.len())..to.min(chars.len())]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            (
                (cell(0, key_at), cell(key_at, value_at)),
                cell(value_at, chars.len()),
            )
        })
        .collect()
}

fn from_csv(text: &str) -> BTreeMap<(String, String), String> {
    let (_, figures) = text
        .split_once("figure,key,value\r\n")
        .expect("figures in the CSV");
    figures
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
            (
                (cells[0].to_string(), cells[1].to_string()),
                cells[2].to_string(),
            )
        })
        .collect()
}

fn from_markdown(text: &str) -> BTreeMap<(String, String), String> {
    let (_, figures) = text.split_once("## Summary").expect("a summary section");
    figures
        .lines()
        .filter(|line| line.starts_with("| "))
        .skip(2)
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace('\\', ""))
                .collect();
            ((cells[0].clone(), cells[1].clone()), cells[2].clone())
        })
        .collect()
}

fn from_json(summary: &Value) -> BTreeMap<(String, String), String> {
    let mut figures = BTreeMap::new();
    let mut put = |f: &str, k: &str, v: String| {
        figures.insert((f.to_string(), k.to_string()), v);
    };
    put("objects", "", summary["objects"].to_string());
    for (kind, phases) in summary["byKindAndPhase"].as_object().unwrap() {
        for (phase, n) in phases.as_object().unwrap() {
            put(
                "objects by kind and phase",
                &format!("{kind} {phase}"),
                n.to_string(),
            );
        }
    }
    for (reason, n) in summary["actionsByReason"].as_object().unwrap() {
        put("actions by reason", reason, n.to_string());
    }
    for (actor, n) in summary["actionsByActor"].as_object().unwrap() {
        put("actions by actor", actor, n.to_string());
    }
    for key in ["total", "automatic", "manual", "permanent"] {
        put("bans", key, summary["bans"][key].to_string());
    }
    put(
        "appeal rate",
        "",
        summary["appealRate"]["text"].as_str().unwrap().into(),
    );
    put(
        "overturn rate",
        "",
        summary["overturnRate"]["text"].as_str().unwrap().into(),
    );
    let median = &summary["medianBanDuration"];
    put(
        "median ban duration",
        "",
        median["text"].as_str().unwrap_or("-").into(),
    );
    put(
        "median ban duration",
        "bans measured",
        median["bans"].to_string(),
    );
    figures
}

#[tokio::test]
async fn reports_and_subject_requests_on_a_reconciled_namespace() {
    let ns = TestNamespace::new("audit-report").await;
    let logs = tempfile::tempdir().unwrap();
    let audit_log = logs.path().join("audit.jsonl");
    let mut operator = ns.operator_with(&["--audit-log", audit_log.to_str().unwrap()]);
    let ann = set_the_scene(&ns).await;
    let kubeconfig = &cluster().kubeconfig;
    let namespace = ns.name.as_str();

    // The same figures in every format, and the ones worked out by hand.
    let json = json_of(kubeconfig, &["report", "-n", namespace, "-o", "json"]);
    assert_eq!(json["summary"]["overturnRate"]["numerator"], 1);
    assert_eq!(json["summary"]["overturnRate"]["denominator"], 2);
    assert_eq!(json["summary"]["bans"]["automatic"], 1);
    let expected = expected(&ann);
    assert_eq!(stable(from_json(&json["summary"])), expected);
    for (format, parse) in [
        ("table", from_table as fn(&str) -> _),
        ("csv", from_csv),
        ("markdown", from_markdown),
    ] {
        // The report is the default verb: no `report` here.
        let text = ok(kubeconfig, &["-n", namespace, "-o", format]);
        assert_eq!(stable(parse(&text)), expected, "-o {format}:\n{text}");
        assert!(
            !text.contains(HELD_EMAIL),
            "-o {format} printed the address:\n{text}"
        );
    }

    // The email ban is listed by its hash; the address never appears.
    let published = format!("email:{}", hash_email(HELD_EMAIL));
    assert_eq!(published, format!("email:{}", hash_email(TYPED_EMAIL)));
    let rows = json["rows"].as_array().unwrap();
    let by_email = rows
        .iter()
        .find(|r| r["name"] == "by-email" && r["source"] == "object")
        .unwrap();
    assert_eq!(by_email["subject"], published.as_str());
    assert_eq!(by_email["actor"], ann.as_str());
    assert!(!json.to_string().contains(HELD_EMAIL));
    let auto = rows.iter().find(|r| r["name"] == "auto").unwrap();
    assert_eq!(
        (auto["origin"].as_str(), auto["policy"].as_str()),
        (Some("automatic"), Some("p"))
    );
    assert!(
        rows.iter()
            .any(|r| r["source"] == "event" && r["name"] == "spam-1"),
        "Events are rows"
    );

    // Filters test each row's object: an appeal follows its ban's reason.
    let spam = json_of(
        kubeconfig,
        &[
            "-n",
            namespace,
            "--reason",
            "spam",
            "--summary",
            "-o",
            "json",
        ],
    );
    assert!(spam.get("rows").is_none());
    assert_eq!(spam["summary"]["bans"]["total"], 2);
    assert_eq!(spam["summary"]["overturnRate"]["text"], "1/2 (50.0%)");
    assert_eq!(spam["summary"]["appealRate"]["text"], "2/2 (100.0%)");
    let automatic = json_of(kubeconfig, &["-n", namespace, "--automatic", "-o", "json"]);
    assert_eq!(automatic["summary"]["bans"]["total"], 1);
    let lifted = json_of(
        kubeconfig,
        &[
            "-n",
            namespace,
            "--outcome",
            "Lifted",
            "--kind",
            "ub",
            "--no-summary",
            "-o",
            "json",
        ],
    );
    let mut names: Vec<&str> = lifted["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.dedup();
    names.sort();
    names.dedup();
    assert_eq!(names, ["lifted", "spam-1"]);
    let by_address = json_of(
        kubeconfig,
        &["-n", namespace, "--email", TYPED_EMAIL, "-o", "json"],
    );
    assert!(
        by_address["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] == "by-email"),
        "{by_address}"
    );
    assert_eq!(by_address["summary"]["bans"]["total"], 1);

    // The data-subject request: the typed address finds the ban held under another spelling.
    let subject = json_of(
        kubeconfig,
        &[
            "subject",
            "--email",
            TYPED_EMAIL,
            "-n",
            namespace,
            "-o",
            "json",
        ],
    );
    assert_eq!(subject["nothingHeld"], false);
    assert_eq!(subject["subject"]["asGiven"], TYPED_EMAIL);
    assert_eq!(subject["subject"]["published"], published.as_str());
    assert_eq!(subject["bans"][0]["name"], "by-email");
    assert_eq!(subject["bans"][0]["matchedBy"], "subject");
    assert_eq!(subject["bans"][0]["reason"]["code"], "harassment");
    assert!(
        !subject["events"].as_array().unwrap().is_empty(),
        "{subject}"
    );
    assert!(
        subject["published"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["item"] == "entry" && p["id"] == "UserBan/by-email"),
        "the blocklist publishes it: {subject}"
    );
    let document = ok(
        kubeconfig,
        &["subject", "--email", TYPED_EMAIL, "-n", namespace],
    );
    assert!(
        document.contains(TYPED_EMAIL) && document.contains(&published),
        "{document}"
    );
    assert!(!document.contains(HELD_EMAIL), "{document}");
    let nobody = audit(
        kubeconfig,
        &["subject", "--user", "nobody", "-n", namespace],
    );
    assert_eq!(nobody.code, 0, "{}", nobody.stderr);
    assert!(
        nobody.stdout.contains("**Nothing held.**"),
        "{}",
        nobody.stdout
    );

    // The audit file alone tells the same story, bar what only labels say.
    operator.stop();
    let file = audit_log.to_str().unwrap();
    let from_file = json_of(
        kubeconfig,
        &["--audit-file", file, "--summary", "-o", "json"],
    );
    let summary = &from_file["summary"];
    assert_eq!(summary["bans"]["total"], 6, "{from_file}");
    assert_eq!(summary["overturnRate"]["text"], "1/2 (50.0%)");
    assert_eq!(summary["byKindAndPhase"]["UserBan"]["Lifted"], 2);
    assert_eq!(summary["byKindAndPhase"]["BanExemption"]["Active"], 1);
    assert_eq!(summary["medianBanDuration"]["text"], "1h");
    // Lines carry no labels and no spec.appeal: without the cluster the
    // policy's ban counts as manual, and only appealed bans as appealable.
    assert_eq!(summary["bans"]["automatic"], 0);
    // The operator writes the creator into each line it records for her bans.
    assert_eq!(summary["actionsByActor"][ann.as_str()], 2, "{from_file}");
    assert_eq!(summary["appealRate"]["text"], "2/2 (100.0%)");
    // Both sources at once: each transition is one row, the figures unchanged.
    let both = json_of(
        kubeconfig,
        &["-n", namespace, "--audit-file", file, "-o", "json"],
    );
    assert_eq!(stable(from_json(&both["summary"])), expected);
    let rows = both["rows"].as_array().unwrap();
    let audited: Vec<&Value> = rows
        .iter()
        .filter(|r| r["source"] == "audit")
        .map(|r| &r["transition"])
        .collect();
    assert!(!audited.is_empty());
    assert!(
        rows.iter()
            .filter(|r| r["source"] == "event")
            .all(|r| r["transition"].is_null() || !audited.contains(&&r["transition"])),
        "an Event and its audit line are one row"
    );
    ns.cleanup().await;
}
