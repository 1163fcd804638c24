//! `-o markdown`: a document to paste into a review: what it covers, the
//! rows as a table, and the figures as a table.

use super::{ABSENT, COLUMNS, View, cells};

/// Escapes what Markdown would read as markup or as a cell boundary; a line
/// break becomes a space, since a table cell is one line.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '<' | '>' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn table_row(cells: impl IntoIterator<Item = String>) -> String {
    let cells: Vec<String> = cells.into_iter().collect();
    format!("| {} |\n", cells.join(" | "))
}

pub(crate) fn table_head(header: &[&str]) -> String {
    let mut out = table_row(header.iter().map(|h| h.to_string()));
    out.push_str(&table_row(header.iter().map(|_| "---".to_string())));
    out
}

pub fn render(view: &View<'_>) -> String {
    let mut out = String::from("# Interdict audit report\n\n");
    for (key, value) in view.scope {
        out.push_str(&format!("- {}: {}\n", escape(key), escape(value)));
    }
    if !view.scope.is_empty() {
        out.push('\n');
    }
    if let Some(rows) = view.rows {
        out.push_str("## Rows\n\n");
        if rows.is_empty() {
            out.push_str("No rows match.\n\n");
        } else {
            out.push_str(&table_head(&COLUMNS));
            for record in rows {
                out.push_str(&table_row(cells(record).into_iter().map(|c| match c {
                    Some(text) => escape(&text),
                    None => ABSENT.to_string(),
                })));
            }
            out.push('\n');
        }
    }
    if let Some(summary) = view.summary {
        out.push_str("## Summary\n\n");
        out.push_str(&table_head(&["figure", "key", "value"]));
        for figure in summary.figures() {
            out.push_str(&table_row([
                figure.figure.to_string(),
                escape(&figure.key),
                escape(&figure.value),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    #[test]
    fn markup_in_values_stays_text() {
        assert_eq!(escape("a|b *c* <x>\nd"), "a\\|b \\*c\\* \\<x\\> d");
        assert_eq!(escape("BanPolicy/p_1"), "BanPolicy/p\\_1");
    }

    #[test]
    fn a_document_with_scope_rows_and_figures() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let scope = [("namespaces".to_string(), "apps".to_string())];
        let text = render(&View {
            rows: Some(&rows),
            summary: Some(&summary),
            scope: &scope,
        });
        assert!(
            text.starts_with("# Interdict audit report\n\n- namespaces: apps\n"),
            "{text}"
        );
        assert!(text.contains("| time | source | kind | namespace | name | action | subject | reason | actor | origin |\n| --- |"));
        assert!(text.contains(&format!(
            "| 2026-11-21T10:00:00Z | object | UserBan | apps | spammer | Active | {} | spam | ann | manual |",
            sample::EMAIL
        )));
        assert!(
            text.contains("| BanPolicy | apps | logins | Enforce | - | - | - | - |"),
            "{text}"
        );
        assert!(text.contains("## Summary\n\n| figure | key | value |"));
        assert!(text.contains("| bans | manual | 1 |"));
    }
}
