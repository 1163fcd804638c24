//! The report as text: one small file per format. Each prints the same
//! rows and the same [`Summary::figures`], so a figure read from the table
//! is the figure in the CSV, the JSON and the Markdown.

mod csv;
mod json;
mod markdown;
pub mod subject;
mod table;

use chrono::{DateTime, SecondsFormat, Utc};

use super::record::Record;
use super::summary::Summary;

/// Output formats of `interdict audit -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Markdown,
}

/// What to print: rows, figures or both, and what the report covers
/// (`("namespaces", "apps")`, `("window", "…")`) for the formats that say so.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub rows: Option<&'a [Record]>,
    pub summary: Option<&'a Summary>,
    pub scope: &'a [(String, String)],
}

pub fn render(format: Format, view: &View<'_>) -> String {
    match format {
        Format::Table => table::render(view),
        Format::Csv => csv::render(view),
        Format::Json => json::render(view),
        Format::Markdown => markdown::render(view),
    }
}

/// Printed for what a row does not know.
pub const ABSENT: &str = "-";

pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The columns of every tabular format, in order.
pub(crate) const COLUMNS: [&str; 10] = [
    "time",
    "source",
    "kind",
    "namespace",
    "name",
    "action",
    "subject",
    "reason",
    "actor",
    "origin",
];

/// A row's cells for [`COLUMNS`]; `None` where the row knows nothing.
pub(crate) fn cells(record: &Record) -> [Option<String>; 10] {
    [
        Some(time(record.time)),
        Some(record.source.as_str().to_string()),
        Some(record.kind.clone()),
        Some(record.namespace.clone()).filter(|n| !n.is_empty()),
        Some(record.name.clone()).filter(|n| !n.is_empty()),
        Some(record.action.clone()).filter(|a| !a.is_empty() && a != ABSENT),
        record.subject.clone(),
        record.reason.clone(),
        record.actor.clone(),
        record.origin.map(|o| o.as_str().to_string()),
    ]
}

/// Control characters (a hand-edited audit file, say) written visibly, so
/// no cell can move a terminal's cursor or break a line of the output.
pub(crate) fn visible(text: &str) -> String {
    text.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                Box::new(c.escape_unicode())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod sample {
    //! Rows and figures every renderer's tests print.
    use super::super::filter::Filter;
    use super::super::record::{Facts, Origin, Record, Source};
    use super::super::summary::{Summary, summarize};

    pub const EMAIL: &str =
        "email:sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498";

    pub fn rows() -> Vec<Record> {
        let mut ban = Record::new(
            Source::Object,
            "2026-11-21T10:00:00Z".parse().unwrap(),
            "UserBan",
            "apps",
            "spammer",
        );
        ban.action = "Active".into();
        ban.subject = Some(EMAIL.into());
        ban.reason = Some("spam".into());
        ban.actor = Some("ann".into());
        ban.origin = Some(Origin::Manual);
        ban.facts = Facts {
            phase: Some("Active".into()),
            effective_from: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            expires_at: Some("2026-11-28T10:00:00Z".parse().unwrap()),
            created_by: Some("ann".into()),
            ..Facts::default()
        };
        let mut line = ban.clone();
        line.source = Source::Audit;
        line.action = "Applied".into();
        line.time = "2026-11-21T10:00:01Z".parse().unwrap();
        line.message = Some("Suspend of \"x\", in force\nuntil, =later | *".into());
        line.transition = Some("5b1f0c8e2a7d4e9f3c6a1b2d".into());
        let mut policy = Record::new(
            Source::Object,
            "2026-11-20T09:00:00Z".parse().unwrap(),
            "BanPolicy",
            "apps",
            "logins",
        );
        policy.action = "Enforce".into();
        policy.facts.phase = Some("Enforce".into());
        vec![policy, ban, line]
    }

    pub fn summary(rows: &[Record]) -> Summary {
        summarize(rows, &Filter::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\u{a}c");
        assert_eq!(visible("plain é"), "plain é");
    }

    #[test]
    fn every_format_prints_the_same_figures() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let view = View {
            rows: Some(&rows),
            summary: Some(&summary),
            scope: &[],
        };
        let outputs: Vec<String> = [Format::Table, Format::Csv, Format::Json, Format::Markdown]
            .into_iter()
            .map(|f| render(f, &view))
            .collect();
        for figure in summary.figures() {
            for output in &outputs {
                assert!(
                    output.contains(&figure.value),
                    "{} {} = {} missing from\n{output}",
                    figure.figure,
                    figure.key,
                    figure.value
                );
            }
        }
    }
}
