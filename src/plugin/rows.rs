//! The import and export format: one ban per row, as CSV with a header or as
//! JSON lines. Reading keeps each row's line, so every problem can name it;
//! writing (export) uses the same columns, so an export imports again
//! unchanged. What a row must hold is checked in `row_checks`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::csv;
use super::subject::SubjectRef;
use super::view::AnyBan;
use crate::api::BanKind;

/// Every column, in the order export writes them.
pub const COLUMNS: [&str; 19] = [
    "kind",
    "mode",
    "user",
    "username",
    "email",
    "ip",
    "key",
    "acknowledge_wide_range",
    "duration",
    "until",
    "starts",
    "reason",
    "notes",
    "message",
    "features",
    "scopes",
    "appealable",
    "appeal_instructions",
    "name",
];

/// One row: its line in the file and its non-empty cells by column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub cells: BTreeMap<String, String>,
}

/// What is wrong with one row (or the header), and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    /// A column name, or empty when the whole line is at fault.
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

pub(crate) fn row_error(line: usize, column: &str, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: column.to_string(),
        message: message.into(),
    }
}

/// Import file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

/// The format of `text`, from the file name when it says (`.csv`,
/// `.jsonl`, `.ndjson`, `.json`), else from the first character (`{`: JSON lines).
pub fn detect(file_name: &str, text: &str) -> FileFormat {
    let lower = file_name.to_ascii_lowercase();
    let named_jsonl = [".jsonl", ".ndjson", ".json"]
        .iter()
        .any(|e| lower.ends_with(e));
    let looks_jsonl = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{');
    if lower.ends_with(".csv") {
        FileFormat::Csv
    } else if named_jsonl || looks_jsonl {
        FileFormat::Jsonl
    } else {
        FileFormat::Csv
    }
}

pub fn parse(format: FileFormat, text: &str) -> Result<Vec<Row>, Vec<RowError>> {
    match format {
        FileFormat::Csv => parse_csv(text),
        FileFormat::Jsonl => parse_jsonl(text),
    }
}

fn known(column: &str) -> bool {
    COLUMNS.contains(&column)
}

fn unknown_column(line: usize, column: &str) -> RowError {
    row_error(
        line,
        column,
        format!("unknown column; the columns are {}", COLUMNS.join(", ")),
    )
}

/// CSV with a header naming the columns (in any order, any subset).
pub fn parse_csv(text: &str) -> Result<Vec<Row>, Vec<RowError>> {
    let records = csv::parse(text).map_err(|e| vec![row_error(e.line, "", e.message)])?;
    let Some((header, records)) = records.split_first() else {
        return Err(vec![row_error(
            1,
            "",
            "the file is empty: a header line is needed",
        )]);
    };
    let columns: Vec<String> = header
        .fields
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let mut errors = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        if !known(column) {
            errors.push(unknown_column(header.line, column));
        } else if columns[..i].contains(column) {
            errors.push(row_error(header.line, column, "column given twice"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        if record.fields.len() != columns.len() {
            errors.push(row_error(
                record.line,
                "",
                format!(
                    "{} fields where the header has {}",
                    record.fields.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let cells = columns
            .iter()
            .zip(&record.fields)
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(column, value)| (column.clone(), value.clone()))
            .collect();
        rows.push(Row {
            line: record.line,
            cells,
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// One JSON object per line; values are strings, and also booleans
/// (`appealable`) and arrays (`features`, `scopes`). Blank lines are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<Row>, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                errors.push(row_error(number, "", "each line must be one JSON object"));
                continue;
            }
            Err(e) => {
                errors.push(row_error(number, "", format!("not JSON: {e}")));
                continue;
            }
        };
        let mut cells = BTreeMap::new();
        for (key, value) in object {
            if !known(&key) {
                errors.push(unknown_column(number, &key));
                continue;
            }
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) if matches!(key.as_str(), "features" | "scopes") => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::String(s) if key == "scopes" => parts.push(escape_scope(&s)),
                            Value::String(s) => parts.push(s),
                            _ => {
                                errors.push(row_error(number, &key, "list items must be strings"));
                            }
                        }
                    }
                    parts.join(";")
                }
                _ => {
                    errors.push(row_error(number, &key, "must be a string"));
                    continue;
                }
            };
            if !text.trim().is_empty() {
                cells.insert(key, text);
            }
        }
        rows.push(Row {
            line: number,
            cells,
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// `a;b;c`, where `\;` is a semicolon inside an item and `\\` a backslash.
pub fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some(next @ (';' | '\\')) => item.push(next),
                Some(next) => {
                    item.push('\\');
                    item.push(next);
                }
                None => item.push('\\'),
            },
            ';' => items.push(std::mem::take(&mut item)),
            other => item.push(other),
        }
    }
    items.push(item);
    items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect()
}

pub(crate) fn escape_scope(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;")
}

/// A stored ban as a row of cells (empty cells left out).
pub fn row_of(ban: &AnyBan) -> BTreeMap<&'static str, String> {
    let mut cells = BTreeMap::new();
    let common = ban.common();
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    cells.insert(
        "kind",
        match ban.kind() {
            BanKind::UserBan => "UserBan",
            BanKind::FeatureBlock => "FeatureBlock",
        }
        .to_string(),
    );
    if let Some(mode) = ban.mode() {
        cells.insert("mode", format!("{mode:?}"));
    }
    if let Some(subject) = SubjectRef::from_api(common.subject) {
        cells.insert(subject.column(), subject.value().to_string());
    }
    if common.subject.acknowledge_wide_range == Some(true) {
        cells.insert("acknowledge_wide_range", "true".to_string());
    }
    let mut optional = |column: &'static str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            cells.insert(column, value);
        }
    };
    optional("duration", common.duration.map(str::to_string));
    optional("until", common.expires_at.map(time));
    optional("starts", common.starts_at.map(time));
    optional("reason", Some(common.reason.code.clone()));
    optional("notes", common.reason.notes.clone());
    optional("message", common.message.map(str::to_string));
    optional("features", Some(ban.features().join(";")));
    optional(
        "scopes",
        Some(
            ban.scopes()
                .iter()
                .map(|s| escape_scope(&format!("{}={}", s.kind, s.name)))
                .collect::<Vec<_>>()
                .join(";"),
        ),
    );
    let appeal = common.appeal.filter(|a| a.allowed);
    optional("appealable", appeal.map(|_| "true".to_string()));
    optional(
        "appeal_instructions",
        appeal.and_then(|a| a.instructions.clone()),
    );
    optional("name", Some(ban.name()));
    cells
}

/// Rows as CSV, every column in [`COLUMNS`] order under a header.
pub fn to_csv(rows: &[BTreeMap<&'static str, String>]) -> String {
    let mut out = csv::write_record(&COLUMNS);
    for row in rows {
        let cells: Vec<&str> = COLUMNS
            .iter()
            .map(|c| row.get(c).map_or("", String::as_str))
            .collect();
        out.push_str(&csv::write_record(&cells));
    }
    out
}

/// Rows as JSON lines: strings, and booleans for the yes/no columns.
pub fn to_jsonl(rows: &[BTreeMap<&'static str, String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let object: serde_json::Map<String, Value> = COLUMNS
            .iter()
            .filter_map(|c| {
                let value = row.get(c)?;
                let value = match *c {
                    "appealable" | "acknowledge_wide_range" => Value::Bool(value == "true"),
                    _ => Value::String(value.clone()),
                };
                Some((c.to_string(), value))
            })
            .collect();
        out.push_str(&Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::row_checks::validate;
    use crate::plugin::timing::parse_time;

    fn now() -> chrono::DateTime<chrono::Utc> {
        parse_time("2026-11-21T10:00:00Z").unwrap()
    }

    #[test]
    fn headers_and_shapes_are_checked_first() {
        let errors = parse_csv("user,colour\n1,red\n").unwrap_err();
        assert_eq!((errors[0].line, errors[0].column.as_str()), (1, "colour"));
        let errors = parse_csv("user,reason\n1,spam,extra\n").unwrap_err();
        assert_eq!(errors[0].line, 2);
        assert!(parse_csv("").is_err());
    }

    #[test]
    fn json_lines_take_strings_booleans_and_lists() {
        let text = "{\"user\":\"1\",\"reason\":\"spam\",\"duration\":\"7d\",\"appealable\":true}\n\n\
            {\"kind\":\"FeatureBlock\",\"user\":\"2\",\"reason\":\"abuse\",\"features\":[\"a\",\"b\"],\"scopes\":[\"page=/x;y\"]}\n\
            [1]\n\
            {\"user\":\"3\",\"colour\":\"red\"}\n";
        let errors = parse_jsonl(text).unwrap_err();
        let found: Vec<(usize, &str)> =
            errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(found, [(4, ""), (5, "colour")]);
        let rows = parse_jsonl(&text.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
        let (good, errors) = validate(&rows, now());
        assert!(errors.is_empty(), "{errors:?}");
        assert!(good[0].1.appeal.is_some());
        assert_eq!(good[1].1.features, ["a", "b"]);
        assert_eq!(good[1].1.scopes[0].name, "/x;y");
        assert_eq!(good[1].0, 3);
    }

    #[test]
    fn the_format_comes_from_the_name_then_the_content() {
        assert_eq!(detect("bans.csv", "{"), FileFormat::Csv);
        assert_eq!(detect("bans.jsonl", "user"), FileFormat::Jsonl);
        assert_eq!(detect("-", " {\"user\":\"1\"}"), FileFormat::Jsonl);
        assert_eq!(detect("-", "user,reason"), FileFormat::Csv);
    }

    /// What an import writes, exported and imported again, is the same manifest.

    #[test]
    fn lists_escape_their_separator() {
        assert_eq!(split_list("a; b;;c"), ["a", "b", "c"]);
        assert_eq!(split_list(r"page=/a\;b;x=\\y"), ["page=/a;b", r"x=\y"]);
        assert_eq!(escape_scope(r"page=/a;b\c"), r"page=/a\;b\\c");
    }
}
