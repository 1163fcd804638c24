//! The sidecar's endpoints as a plain function of (method, path, query): the HTTP
//! plumbing in `mod.rs` only moves bytes, so every answer is testable here.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::params;
use crate::core::SubjectKey;
use crate::http::Response;
use crate::reader::{Blocklist, DecisionCounts};

/// Decision counters for `/metrics`.
#[derive(Default)]
pub struct Counters {
    decisions: DecisionCounts,
    bad_requests: AtomicU64,
    unavailable: AtomicU64,
}

/// What a decision is before any blocklist has loaded (an empty mount, a
/// broken first copy): nothing loaded is not "nobody is banned".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unloaded {
    /// 503 with the reason (the default): the application decides what to do.
    FailClosed,
    /// Answer as if nothing were banned (`--fail-open`).
    FailOpen,
}

/// The 503 a decision gets while nothing is loaded and the sidecar fails closed.
fn not_loaded(blocklist: &Blocklist, unloaded: Unloaded, counters: &Counters) -> Option<Response> {
    let stats = blocklist.stats();
    if stats.loaded || unloaded == Unloaded::FailOpen {
        return None;
    }
    counters.unavailable.fetch_add(1, Ordering::Relaxed);
    counters.decisions.record_unavailable();
    let why = stats
        .last_error
        .unwrap_or_else(|| "the blocklist directory holds no blocklist yet".into());
    Some(Response::error(
        503,
        format!(
            "no blocklist loaded, so no decision: {why} (start with --fail-open to answer as if nobody were banned)"
        ),
    ))
}

/// The probe and metrics address (`--metrics-addr`): what kubelet and
/// Prometheus need, and no decisions, as it faces the pod network.
pub fn handle_probes(
    method: &str,
    path: &str,
    blocklist: &Blocklist,
    counters: &Counters,
) -> Response {
    match path {
        "/healthz" | "/readyz" | "/metrics" => handle(
            method,
            path,
            "",
            blocklist,
            counters,
            Unloaded::FailClosed,
            Utc::now(),
        ),
        _ => Response::error(
            404,
            format!(
                "no endpoint {path} on this address: it serves /healthz, /readyz and /metrics; decisions are on --listen"
            ),
        ),
    }
}

pub fn handle(
    method: &str,
    path: &str,
    query: &str,
    blocklist: &Blocklist,
    counters: &Counters,
    unloaded: Unloaded,
    now: DateTime<Utc>,
) -> Response {
    if method != "GET" && method != "HEAD" {
        return Response::error(
            405,
            format!("{method} is not allowed; every endpoint answers GET"),
        );
    }
    match path {
        "/v1/decision" | "/v1/blocks" => match not_loaded(blocklist, unloaded, counters) {
            Some(refusal) => refusal,
            None if path == "/v1/decision" => decision(query, blocklist, counters, now),
            None => blocks(query, blocklist, counters, now),
        },
        "/healthz" => Response::text(200, "ok\n"),
        "/readyz" => {
            let stats = blocklist.stats();
            if stats.loaded {
                Response::text(200, "ok\n")
            } else {
                let why = stats
                    .last_error
                    .unwrap_or_else(|| "no blocklist loaded yet".into());
                Response::text(503, format!("not ready: {why}\n"))
            }
        }
        "/metrics" => metrics(blocklist, counters),
        _ => Response::error(
            404,
            format!(
                "no endpoint {path}; try /v1/decision, /v1/blocks, /healthz, /readyz, /metrics"
            ),
        ),
    }
}

fn bad_request(counters: &Counters, message: String) -> Response {
    counters.bad_requests.fetch_add(1, Ordering::Relaxed);
    Response::error(400, message)
}

fn decision(
    query: &str,
    blocklist: &Blocklist,
    counters: &Counters,
    now: DateTime<Utc>,
) -> Response {
    let asked = match params::parse(query, true) {
        Ok(asked) => asked,
        Err(message) => return bad_request(counters, message),
    };
    let decision = blocklist.decide(&asked.query, asked.at.unwrap_or(now));
    counters.decisions.record(&decision);
    Response::json(
        200,
        serde_json::to_value(&decision).expect("decisions serialise"),
    )
}

/// "My block status": every active and scheduled block of one subject.
fn blocks(query: &str, blocklist: &Blocklist, counters: &Counters, now: DateTime<Utc>) -> Response {
    let asked = match params::parse(query, false) {
        Ok(asked) => asked,
        Err(message) => return bad_request(counters, message),
    };
    let at = asked.at.unwrap_or(now);
    let blocks: Vec<serde_json::Value> = blocklist
        .blocks_of(&asked.query, at)
        .into_iter()
        .map(|entry| {
            let mut value = serde_json::to_value(&entry).expect("entries serialise");
            value["active"] = json!(entry.in_force(at));
            if let SubjectKey::Email(_) = entry.subject {
                // The caller gave the address; echoing the hash adds nothing.
                value.as_object_mut().map(|o| o.remove("subject"));
            }
            value
        })
        .collect();
    Response::json(200, json!({ "at": at, "blocks": blocks }))
}

fn metrics(blocklist: &Blocklist, counters: &Counters) -> Response {
    let stats = blocklist.stats();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let decisions: Vec<(String, u64)> = counters
        .decisions
        .snapshot()
        .into_iter()
        .map(|(key, count)| {
            let labels = format!(
                "{{outcome=\"{}\",mode=\"{}\",reason=\"{}\"}}",
                key.outcome,
                label_value(&key.mode),
                label_value(&key.reason)
            );
            (labels, count)
        })
        .collect();
    let decisions: Vec<(&str, u64)> = decisions.iter().map(|(l, c)| (l.as_str(), *c)).collect();
    metric(
        "interdict_decisions_total",
        "counter",
        "Decisions answered, by outcome (allowed, denied, unavailable), mode and reason code.",
        &decisions,
    );
    metric(
        "interdict_bad_requests_total",
        "counter",
        "Malformed queries answered with 400.",
        &[("", counters.bad_requests.load(Ordering::Relaxed))],
    );
    metric(
        "interdict_unavailable_total",
        "counter",
        "Decisions refused with 503 because no blocklist had loaded yet.",
        &[("", counters.unavailable.load(Ordering::Relaxed))],
    );
    metric(
        "interdict_blocklist_reloads_total",
        "counter",
        "Blocklist copies loaded.",
        &[("", stats.reloads)],
    );
    metric(
        "interdict_blocklist_reload_failures_total",
        "counter",
        "Blocklist copies refused (malformed); the previous copy stayed in force.",
        &[("", stats.reload_failures)],
    );
    metric(
        "interdict_blocklist_entries",
        "gauge",
        "Entries in the blocklist copy in force.",
        &[("", stats.entries as u64)],
    );
    metric(
        "interdict_blocklist_skipped_items",
        "gauge",
        "Items of the blocklist copy in force left out because the reader could not understand them.",
        &[("", stats.skipped as u64)],
    );
    metric(
        "interdict_blocklist_email_key_mismatches",
        "gauge",
        "Items of the blocklist copy in force whose email is keyed with a key this sidecar does not hold (--email-hash-key-file): they match no query.",
        &[("", stats.email_key_mismatches as u64)],
    );
    metric(
        "interdict_blocklist_loaded",
        "gauge",
        "1 once a blocklist copy has been loaded.",
        &[("", u64::from(stats.loaded))],
    );
    Response {
        status: 200,
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        body: out,
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[path = "routes_properties.rs"]
mod properties;
#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
