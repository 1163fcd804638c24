//! The subject report as a document: `-o markdown` for the person answering
//! the request (sections in plain words, every value escaped), `-o json` for
//! tooling (the report whole).

use chrono::{DateTime, Utc};

use super::markdown::{escape, table_head, table_row};
use super::{ABSENT, time};
use crate::audit::report::subject::{BanHeld, SubjectReport};

pub fn json(report: &SubjectReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports serialise");
    text.push('\n');
    text
}

fn or_absent(value: Option<&str>) -> String {
    value.map_or(ABSENT.to_string(), escape)
}

fn at(value: Option<DateTime<Utc>>) -> String {
    value.map_or(ABSENT.to_string(), time)
}

fn field(out: &mut String, name: &str, value: String) {
    out.push_str(&table_row([name.to_string(), value]));
}

fn ban(out: &mut String, ban: &BanHeld) {
    out.push_str(&format!(
        "### {} {}/{}\n\n",
        ban.kind,
        escape(&ban.namespace),
        escape(&ban.name)
    ));
    out.push_str(&table_head(&["field", "value"]));
    field(out, "matched by", ban.matched_by.to_string());
    field(out, "subject", or_absent(ban.subject.as_deref()));
    if let Some(contact) = &ban.contact {
        field(out, "contact (hashed)", escape(contact));
    }
    field(out, "phase", or_absent(ban.phase.as_deref()));
    field(out, "created", at(ban.created));
    field(out, "in force from", at(ban.effective_from));
    field(
        out,
        "until",
        ban.expires_at.map_or("no end (permanent)".into(), time),
    );
    if ban.lifted_at.is_some() {
        field(out, "lifted", at(ban.lifted_at));
        field(out, "lifted by", or_absent(ban.lifted_by.as_deref()));
        field(out, "why lifted", or_absent(ban.lift_reason.as_deref()));
    }
    if let Some(mode) = &ban.mode {
        field(out, "mode", escape(mode));
    }
    if !ban.features.is_empty() {
        field(out, "features", escape(&ban.features.join(", ")));
        let scopes = if ban.scopes.is_empty() {
            "everywhere".to_string()
        } else {
            escape(&ban.scopes.join(", "))
        };
        field(out, "scopes", scopes);
    }
    field(out, "reason", escape(&ban.reason.code));
    field(
        out,
        "moderators' notes",
        or_absent(ban.reason.notes.as_deref()),
    );
    field(out, "reference", or_absent(ban.reason.reference.as_deref()));
    field(out, "message shown", or_absent(ban.message.as_deref()));
    let appeal = match (ban.appeal_allowed, &ban.appeal_instructions) {
        (true, Some(instructions)) => format!("allowed: {}", escape(instructions)),
        (true, None) => "allowed".into(),
        (false, _) => "not allowed".into(),
    };
    field(out, "appeal", appeal);
    if ban.review_at.is_some() {
        field(out, "due for review", at(ban.review_at));
    }
    if let Some(by) = &ban.exempted_by {
        field(out, "held back by exemption", escape(by));
    }
    let origin = match &ban.policy {
        Some(policy) => format!("automatic, BanPolicy {}", escape(policy)),
        None => "manual".into(),
    };
    field(out, "origin", origin);
    for n in &ban.notifications {
        field(
            out,
            "notification",
            format!(
                "{} by {}: {} ({})",
                escape(&n.event),
                escape(&n.sink),
                escape(&n.state),
                time(n.occurred_at)
            ),
        );
    }
    out.push('\n');
}

pub fn markdown(report: &SubjectReport) -> String {
    let subject = &report.subject;
    let mut out = String::from("# Data held about a subject\n\n");
    out.push_str(&format!(
        "- Requested: {} {} (as given by the requester)\n",
        subject.kind,
        escape(&subject.as_given)
    ));
    out.push_str(&format!(
        "- Held and published as: {}\n",
        escape(&subject.published)
    ));
    out.push_str(&format!("- Generated: {}\n", time(report.generated_at)));
    let searched = &report.searched;
    let namespaces = if searched.namespaces == ["*"] {
        "every namespace".to_string()
    } else if searched.namespaces.is_empty() {
        "none".to_string()
    } else {
        escape(&searched.namespaces.join(", "))
    };
    out.push_str(&format!("- Namespaces searched: {namespaces}\n"));
    for gap in &searched.not_searched {
        out.push_str(&format!(
            "- **Not searched**: {}: {}\n",
            escape(&gap.namespace),
            escape(&gap.why)
        ));
    }
    if !searched.audit_files.is_empty() {
        out.push_str(&format!(
            "- Audit files read: {}\n",
            escape(&searched.audit_files.join(", "))
        ));
    }
    out.push('\n');
    if report.nothing_held {
        out.push_str(
            "**Nothing held.** No ban, feature block, appeal, exemption, Event, audit line \
             or published blocklist item in what was searched names this subject.\n",
        );
        return out;
    }

    out.push_str(&format!(
        "## Bans and feature blocks ({})\n\n",
        report.bans.len()
    ));
    for held in &report.bans {
        ban(&mut out, held);
    }
    out.push_str(&format!("## Appeals ({})\n\n", report.appeals.len()));
    for appeal in &report.appeals {
        out.push_str(&format!(
            "### BanAppeal {}/{}\n\n",
            escape(&appeal.namespace),
            escape(&appeal.name)
        ));
        out.push_str(&table_head(&["field", "value"]));
        field(&mut out, "matched by", appeal.matched_by.to_string());
        field(&mut out, "appeal against", escape(&appeal.ban));
        field(&mut out, "submitted", at(appeal.submitted));
        field(&mut out, "phase", or_absent(appeal.phase.as_deref()));
        field(&mut out, "statement", escape(&appeal.statement));
        if let Some(contact) = &appeal.contact {
            field(&mut out, "contact (hashed)", escape(contact));
        }
        if let Some(decision) = &appeal.decision {
            field(&mut out, "decision", escape(&decision.outcome));
            field(&mut out, "reviewer", escape(&decision.reviewer));
            field(
                &mut out,
                "decision notes",
                or_absent(decision.notes.as_deref()),
            );
            field(&mut out, "decided", at(appeal.decided_at));
        }
        field(
            &mut out,
            "operator's message",
            or_absent(appeal.message.as_deref()),
        );
        out.push('\n');
    }
    out.push_str(&format!("## Exemptions ({})\n\n", report.exemptions.len()));
    if !report.exemptions.is_empty() {
        out.push_str(&table_head(&[
            "namespace",
            "name",
            "subject",
            "created",
            "reason",
            "notes",
            "until",
        ]));
        for e in &report.exemptions {
            out.push_str(&table_row([
                escape(&e.namespace),
                escape(&e.name),
                or_absent(e.subject.as_deref()),
                at(e.created),
                escape(&e.reason.code),
                or_absent(e.reason.notes.as_deref()),
                e.expires_at.map_or("no end".into(), time),
            ]));
        }
        out.push('\n');
    }
    out.push_str(&format!("## Events ({})\n\n", report.events.len()));
    if !report.events.is_empty() {
        out.push_str(&table_head(&["time", "object", "reason", "note"]));
        for e in &report.events {
            out.push_str(&table_row([
                time(e.time),
                format!("{} {}/{}", e.kind, escape(&e.namespace), escape(&e.name)),
                escape(&e.reason),
                or_absent(e.note.as_deref()),
            ]));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "## Audit lines ({})\n\n",
        report.audit_lines.len()
    ));
    if !report.audit_lines.is_empty() {
        out.push_str(&table_head(&[
            "line", "time", "action", "object", "message",
        ]));
        for l in &report.audit_lines {
            out.push_str(&table_row([
                format!("{}:{}", escape(&l.file), l.line),
                or_absent(l.time.as_deref()),
                or_absent(l.action.as_deref()),
                format!(
                    "{} {}/{}",
                    or_absent(l.kind.as_deref()),
                    or_absent(l.namespace.as_deref()),
                    or_absent(l.name.as_deref())
                ),
                or_absent(l.message.as_deref()),
            ]));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "## Published in blocklists ({})\n\n",
        report.published.len()
    ));
    if !report.published.is_empty() {
        out.push_str(&table_head(&[
            "namespace",
            "ConfigMap",
            "key",
            "item",
            "id",
        ]));
        for p in &report.published {
            out.push_str(&table_row([
                escape(&p.namespace),
                escape(&p.config_map),
                escape(&p.key),
                p.item.to_string(),
                or_absent(p.id.as_deref()),
            ]));
        }
        out.push('\n');
    }
    out
}
