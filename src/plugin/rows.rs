//! The import and export format: one ban per row, as CSV with a header or as
//! JSON lines, and the checks that turn a row into a ban request. Every bad
//! row is reported with its line and column; export writes stored bans back
//! in the same columns, so an export imports again unchanged.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::csv;
use super::manifest::{BanRequest, parse_scope};
use super::subject::{SUBJECT_COLUMNS, SubjectRef};
use super::timing::timing;
use super::view::AnyBan;
use crate::api::{Appeal, BanKind, BanMode, Scope};

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

fn row_error(line: usize, column: &str, message: impl Into<String>) -> RowError {
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

fn parse_bool(line: usize, column: &str, value: Option<&String>) -> Result<bool, RowError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "no" | "0") => Ok(false),
        Some("true" | "yes" | "1") => Ok(true),
        Some(other) => Err(row_error(
            line,
            column,
            format!("{other:?} is not true or false"),
        )),
    }
}

/// `a;b;c`, where `\;` is a semicolon inside an item and `\\` a backslash.
fn split_list(text: &str) -> Vec<String> {
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

fn escape_scope(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;")
}

/// The ban request a row describes, or the first problem with it.
pub fn request_of(row: &Row, now: DateTime<Utc>) -> Result<BanRequest, RowError> {
    let line = row.line;
    let cell = |column: &str| row.cells.get(column).map(|v| v.trim().to_string());
    let kind = match cell("kind").map(|k| k.to_ascii_lowercase()).as_deref() {
        None | Some("userban" | "ub") => BanKind::UserBan,
        Some("featureblock" | "fb") => BanKind::FeatureBlock,
        Some(other) => {
            return Err(row_error(
                line,
                "kind",
                format!("{other:?} is not UserBan or FeatureBlock"),
            ));
        }
    };
    let mode = match cell("mode").map(|m| m.to_ascii_lowercase()).as_deref() {
        None | Some("suspend") => BanMode::Suspend,
        Some("silence") if kind == BanKind::UserBan => BanMode::Silence,
        Some(_) if kind == BanKind::FeatureBlock => {
            return Err(row_error(line, "mode", "a FeatureBlock has no mode"));
        }
        Some(other) => {
            return Err(row_error(
                line,
                "mode",
                format!("{other:?} is not Suspend or Silence"),
            ));
        }
    };
    let given: Vec<&str> = SUBJECT_COLUMNS
        .into_iter()
        .filter(|c| row.cells.contains_key(*c))
        .collect();
    let column = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(row_error(
                line,
                "subject",
                "one of user, username, email, ip, key is required",
            ));
        }
        more => {
            return Err(row_error(
                line,
                more[1],
                format!(
                    "only one subject column per row; {} are set",
                    more.join(", ")
                ),
            ));
        }
    };
    // Subject values keep their own spaces (an id is matched exactly).
    let subject =
        SubjectRef::parse(column, &row.cells[column]).map_err(|e| row_error(line, column, e))?;
    let timing = timing(
        cell("duration").as_deref(),
        cell("until").as_deref(),
        cell("starts").as_deref(),
        now,
    )
    .map_err(|e| row_error(line, e.field, e.message))?;
    let reason =
        cell("reason").ok_or_else(|| row_error(line, "reason", "a reason code is required"))?;
    let appealable = parse_bool(line, "appealable", row.cells.get("appealable"))?;
    let instructions = row.cells.get("appeal_instructions").cloned();
    if instructions.is_some() && !appealable {
        return Err(row_error(
            line,
            "appeal_instructions",
            "instructions need appealable: true",
        ));
    }
    let scopes = split_list(row.cells.get("scopes").map_or("", String::as_str))
        .iter()
        .map(|s| parse_scope(s))
        .collect::<Result<Vec<Scope>, String>>()
        .map_err(|e| row_error(line, "scopes", e))?;
    let mut request = BanRequest::new(kind, subject, &reason);
    request.mode = mode;
    request.timing = timing;
    request.acknowledge_wide_range = parse_bool(
        line,
        "acknowledge_wide_range",
        row.cells.get("acknowledge_wide_range"),
    )?;
    request.notes = row.cells.get("notes").cloned();
    request.message = row.cells.get("message").cloned();
    request.appeal = appealable.then_some(Appeal {
        allowed: true,
        instructions,
    });
    request.features = split_list(row.cells.get("features").map_or("", String::as_str));
    request.scopes = scopes;
    request.name = cell("name");
    request
        .check()
        .map_err(|e| row_error(line, e.field, e.message))?;
    Ok(request)
}

/// Every row checked: the requests of the good rows (with their lines), and
/// every problem, including two rows that would write the same object.
pub fn validate(rows: &[Row], now: DateTime<Utc>) -> (Vec<(usize, BanRequest)>, Vec<RowError>) {
    let mut good = Vec::new();
    let mut errors = Vec::new();
    let mut names: HashMap<(u8, String), usize> = HashMap::new();
    for row in rows {
        match request_of(row, now) {
            Ok(request) => {
                let key = (request.kind as u8, request.name());
                if let Some(first) = names.get(&key) {
                    errors.push(row_error(
                        row.line,
                        "name",
                        format!(
                            "{} is also the name of line {first}'s ban; give one of them a name",
                            key.1
                        ),
                    ));
                } else {
                    names.insert(key, row.line);
                    good.push((row.line, request));
                }
            }
            Err(error) => errors.push(error),
        }
    }
    (good, errors)
}

/// A stored ban as a row of cells (empty cells left out).
pub fn row_of(ban: &AnyBan) -> BTreeMap<&'static str, String> {
    let mut cells = BTreeMap::new();
    let common = ban.common();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
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
    use crate::plugin::manifest::Manifest;
    use crate::plugin::timing::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-21T10:00:00Z").unwrap()
    }

    const GOOD: &str = "kind,mode,user,email,ip,duration,until,reason,message,features,scopes,appealable,name\n\
        UserBan,Silence,1,,,7d,,spam,\"Silenced, for now\",,,true,\n\
        FeatureBlock,,2,,,,2027-01-01,abuse,,comments;uploads,academy=miami;page=/p/1,,block-two\n\
        ,,,Eve+x@Example.org,,,,fraud,,,,,\n\
        ,,,,203.0.113.0/24,30m,,brute-force,,,,no,\n";

    #[test]
    fn good_rows_become_requests() {
        let rows = parse_csv(GOOD).unwrap();
        let (good, errors) = validate(&rows, now());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(good.len(), 4);
        let lines: Vec<usize> = good.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        let silence = &good[0].1;
        assert_eq!(silence.mode, BanMode::Silence);
        assert_eq!(silence.message.as_deref(), Some("Silenced, for now"));
        assert!(silence.appeal.as_ref().unwrap().allowed);
        let block = &good[1].1;
        assert_eq!(block.features, ["comments", "uploads"]);
        assert_eq!(block.scopes.len(), 2);
        assert_eq!(block.name(), "block-two");
        assert_eq!(
            good[2].1.subject,
            SubjectRef::EmailHash(crate::core::email::hash_email("eve@example.org"))
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_column() {
        let text = "user,email,duration,until,reason,kind,mode,features,appealable,name,scopes\n\
            1,,7x,,spam,,,,,,\n\
            2,,,,,,,,,,\n\
            3,a@b.c,,,spam,,,,,,\n\
            4,,,,spam,Group,,,,,\n\
            5,,,,spam,FeatureBlock,Silence,x,,,\n\
            6,,,,spam,FeatureBlock,,,,,\n\
            7,,,,spam,,,,maybe,,\n\
            8,,,,spam,,,,,Bad_Name,\n\
            9,,,2020-01-01,spam,,,,,,\n\
            10,,,,spam,FeatureBlock,,x,,,academy\n\
            11,,,,Spam,,,,,,\n\
            ,not-an-address,,,spam,,,,,,\n";
        let rows = parse_csv(text).unwrap();
        let (good, errors) = validate(&rows, now());
        assert!(good.is_empty(), "{good:?}");
        let found: Vec<(usize, &str)> =
            errors.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(
            found,
            [
                (2, "duration"),
                (3, "reason"),
                (4, "email"),
                (5, "kind"),
                (6, "mode"),
                (7, "features"),
                (8, "appealable"),
                (9, "name"),
                (10, "until"),
                (11, "scopes"),
                (12, "reason"),
                (13, "email"),
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "line 2, column duration: duration \"7x\" is not digits followed by s, m, h, d or w (e.g. 30m, 12h, 7d, 1h30m)"
        );
        assert!(!errors[11].to_string().contains("not-an-address"));
    }

    #[test]
    fn two_rows_for_one_object_are_refused() {
        let rows = parse_csv("user,reason\n1,spam\n2,spam\n1,spam\n").unwrap();
        let (good, errors) = validate(&rows, now());
        assert_eq!(good.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column.as_str()), (4, "name"));
        assert!(errors[0].message.contains("line 2"), "{}", errors[0]);
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
    fn export_round_trips_through_import() {
        let rows = parse_csv(GOOD).unwrap();
        let (good, _) = validate(&rows, now());
        let stored: Vec<AnyBan> = good
            .iter()
            .map(|(_, request)| match request.manifest(Some("apps")) {
                Manifest::UserBan(b) => AnyBan::User(b),
                Manifest::FeatureBlock(b) => AnyBan::Feature(b),
            })
            .collect();
        let exported: Vec<_> = stored.iter().map(row_of).collect();
        for text in [to_csv(&exported), to_jsonl(&exported)] {
            let format = detect("-", &text);
            let (again, errors) = validate(&parse(format, &text).unwrap(), now());
            assert!(errors.is_empty(), "{errors:?}\n{text}");
            assert_eq!(again.len(), good.len());
            for ((_, first), (_, second)) in good.iter().zip(&again) {
                assert_eq!(
                    serde_json::to_value(first.manifest(Some("apps"))).unwrap(),
                    serde_json::to_value(second.manifest(Some("apps"))).unwrap(),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn lists_escape_their_separator() {
        assert_eq!(split_list("a; b;;c"), ["a", "b", "c"]);
        assert_eq!(split_list(r"page=/a\;b;x=\\y"), ["page=/a;b", r"x=\y"]);
        assert_eq!(escape_scope(r"page=/a;b\c"), r"page=/a\;b\\c");
    }
}
