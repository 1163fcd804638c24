//! From an import row to a checked ban request: which columns a row needs,
//! what each may hold, and two rows that would write one object. The first
//! problem of each row is reported with its line and column.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::manifest::{BanRequest, parse_scope};
use super::rows::{Row, RowError, row_error, split_list};
use super::subject::{SUBJECT_COLUMNS, SubjectRef};
use super::timing::timing;
use crate::api::{Appeal, BanKind, BanMode, Scope};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::manifest::Manifest;
    use crate::plugin::rows::{detect, parse, parse_csv, row_of, to_csv, to_jsonl};
    use crate::plugin::timing::parse_time;
    use crate::plugin::view::AnyBan;

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
            "line 2, column duration: duration \"7x\" is not digits followed by s, m, h, d or w (e.g. 30m, 12h, 7d, 1h30m; at most 4 parts of at most 6 digits)"
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
}
