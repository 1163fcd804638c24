//! `-o json`: one document, `{"scope": …, "rows": […], "summary": {…}}`, with
//! the rows whole (email hashes in full, windows, transition ids) and the
//! figures structured under `summary`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{View, time};
use crate::audit::report::record::Record;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    time: String,
    source: &'static str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    action: &'a str,
    phase: Option<&'a str>,
    subject: Option<&'a str>,
    reason: Option<&'a str>,
    actor: Option<&'a str>,
    origin: Option<&'static str>,
    policy: Option<&'a str>,
    message: Option<&'a str>,
    transition: Option<&'a str>,
    from: Option<String>,
    until: Option<String>,
    lifted_at: Option<String>,
    appeal_of: Option<&'a str>,
}

fn row(record: &Record) -> Row<'_> {
    let facts = &record.facts;
    Row {
        time: time(record.time),
        source: record.source.as_str(),
        kind: &record.kind,
        namespace: &record.namespace,
        name: &record.name,
        action: &record.action,
        phase: facts.phase.as_deref(),
        subject: record.subject.as_deref(),
        reason: record.reason.as_deref(),
        actor: record.actor.as_deref(),
        origin: record.origin.map(|o| o.as_str()),
        policy: record.policy.as_deref(),
        message: record.message.as_deref(),
        transition: record.transition.as_deref(),
        from: facts.effective_from.map(time),
        until: facts.expires_at.map(time),
        lifted_at: facts.lifted_at.map(time),
        appeal_of: facts.appeal_of.as_deref(),
    }
}

pub fn render(view: &View<'_>) -> String {
    let mut document = Map::new();
    if !view.scope.is_empty() {
        let scope: Map<String, Value> = view
            .scope
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        document.insert("scope".into(), Value::Object(scope));
    }
    if let Some(rows) = view.rows {
        let rows: Vec<Row<'_>> = rows.iter().map(row).collect();
        document.insert("rows".into(), json!(rows));
    }
    if let Some(summary) = view.summary {
        document.insert("summary".into(), json!(summary));
    }
    let mut text =
        serde_json::to_string_pretty(&Value::Object(document)).expect("reports serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    #[test]
    fn rows_and_summary_are_whole_and_structured() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let scope = [("namespaces".to_string(), "apps".to_string())];
        let text = render(&View {
            rows: Some(&rows),
            summary: Some(&summary),
            scope: &scope,
        });
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["scope"]["namespaces"], "apps");
        let ban = &value["rows"][1];
        assert_eq!(ban["subject"], sample::EMAIL);
        assert_eq!(ban["until"], "2026-11-28T10:00:00Z");
        assert_eq!(ban["origin"], "manual");
        assert_eq!(ban["policy"], Value::Null);
        assert_eq!(value["rows"][2]["transition"], "5b1f0c8e2a7d4e9f3c6a1b2d");
        assert_eq!(value["summary"]["bans"]["total"], 1);
        assert_eq!(value["summary"]["overturnRate"]["denominator"], 0);
        assert_eq!(value["summary"]["overturnRate"]["rate"], Value::Null);
        assert_eq!(
            value["summary"]["byKindAndPhase"]["BanPolicy"]["Enforce"],
            1
        );
    }

    #[test]
    fn summary_alone_has_no_rows() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let value: Value = serde_json::from_str(&render(&View {
            rows: None,
            summary: Some(&summary),
            scope: &[],
        }))
        .unwrap();
        assert!(value.get("rows").is_none());
        assert_eq!(value["summary"]["rows"], 3);
    }
}
