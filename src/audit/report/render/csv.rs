//! `-o csv`: RFC 4180 rows with a header, then (unless `--no-summary`) an
//! empty line and the figures as `figure,key,value`. A cell a spreadsheet
//! would run as a formula (subjects and messages come from outside) is
//! written with a leading `'`, as spreadsheet hygiene asks.

use super::{COLUMNS, View, cells};

fn cell(text: &str) -> String {
    let guarded = match text.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => format!("'{text}"),
        Some('-') if text.len() > 1 => format!("'{text}"),
        _ => text.to_string(),
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut text = cells
        .into_iter()
        .map(|c| cell(&c))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str("\r\n");
    text
}

pub fn render(view: &View<'_>) -> String {
    let mut out = String::new();
    if let Some(rows) = view.rows {
        out.push_str(&line(
            COLUMNS
                .iter()
                .chain(&["phase", "policy", "message"])
                .map(|c| c.to_string()),
        ));
        for record in rows {
            let mut row: Vec<String> = cells(record)
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            row.push(record.facts.phase.clone().unwrap_or_default());
            row.push(record.policy.clone().unwrap_or_default());
            row.push(record.message.clone().unwrap_or_default());
            out.push_str(&line(row));
        }
    }
    if let Some(summary) = view.summary {
        if view.rows.is_some() {
            out.push_str("\r\n");
        }
        out.push_str(&line(["figure", "key", "value"].map(String::from)));
        for figure in summary.figures() {
            out.push_str(&line([figure.figure.to_string(), figure.key, figure.value]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-"), "-");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn rows_then_figures() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let text = render(&View {
            rows: Some(&rows),
            summary: Some(&summary),
            scope: &[],
        });
        let (table, figures) = text.split_once("\r\n\r\n").expect("a blank line between");
        let lines: Vec<&str> = table.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "time,source,kind,namespace,name,action,subject,reason,actor,origin,phase,policy,message"
        );
        assert_eq!(
            lines[2],
            format!(
                "2026-11-21T10:00:00Z,object,UserBan,apps,spammer,Active,{},spam,ann,manual,Active,,",
                sample::EMAIL
            )
        );
        assert!(
            table.contains("\"Suspend of \"\"x\"\", in force\nuntil, =later | *\""),
            "{table}"
        );
        assert!(
            figures.starts_with("figure,key,value\r\nrows,,3\r\n"),
            "{figures}"
        );
        assert!(figures.contains("overturn rate,,0/0 (-)\r\n"));
    }
}
