//! `-o table`: aligned columns like `kubectl get`, then the figures in a
//! second table. Email hashes are shortened as `kubectl get ub` shows them;
//! the other formats print them whole.

use super::{ABSENT, COLUMNS, View, cells, visible};
use crate::audit::report::summary::Summary;

/// Columns are three spaces apart, as kubectl prints them.
const GAP: &str = "   ";
/// Hex digits of an email hash kept in a table.
const HASH_SHOWN: usize = 12;

fn shorten(subject: &str) -> String {
    match subject.strip_prefix("email:sha256:") {
        Some(hex) if hex.len() > HASH_SHOWN => format!("email:sha256:{}…", &hex[..HASH_SHOWN]),
        _ => subject.to_string(),
    }
}

/// Aligns `rows` under `header`; the last column is not padded.
pub(crate) fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        let cells: Vec<&str> = cells.collect();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] - cell.chars().count();
                out.push_str(&" ".repeat(pad));
                out.push_str(GAP);
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn figures(summary: &Summary) -> String {
    let rows: Vec<Vec<String>> = summary
        .figures()
        .into_iter()
        .map(|f| {
            // A figure without a key leaves the cell blank: "-" is the
            // actor nobody recorded.
            vec![f.figure.to_string(), visible(&f.key), f.value]
        })
        .collect();
    aligned(&["FIGURE", "KEY", "VALUE"], &rows)
}

pub fn render(view: &View<'_>) -> String {
    let mut out = String::new();
    if let Some(rows) = view.rows {
        if rows.is_empty() {
            out.push_str("No rows match.\n");
        } else {
            let header: Vec<String> = COLUMNS.iter().map(|c| c.to_uppercase()).collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|record| {
                    let mut row: Vec<String> = cells(record)
                        .into_iter()
                        .map(|c| c.map_or(ABSENT.to_string(), |c| visible(&c)))
                        .collect();
                    row[6] = shorten(&row[6]);
                    row
                })
                .collect();
            out.push_str(&aligned(&header, &cells));
        }
    }
    if let Some(summary) = view.summary {
        if view.rows.is_some() {
            out.push('\n');
        }
        out.push_str(&figures(summary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    #[test]
    fn columns_line_up_and_hashes_are_shortened() {
        let rows = sample::rows();
        let view = View {
            rows: Some(&rows),
            summary: None,
            scope: &[],
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("TIME                   SOURCE   KIND"),
            "{text}"
        );
        let column = |line: &str, word: &str| line.find(word).unwrap();
        let subject_at = column(lines[0], "SUBJECT");
        assert_eq!(column(lines[2], "email:sha256:7a64adf28737…"), subject_at);
        assert_eq!(lines[1].chars().nth(subject_at), Some('-'), "{text}");
        assert!(
            !text.contains("7a64adf28737e"),
            "the hash is shortened: {text}"
        );
        assert!(lines[2].ends_with("manual"));
        assert!(lines[1].contains("Enforce"));
    }

    #[test]
    fn figures_follow_the_rows_or_stand_alone() {
        let rows = sample::rows();
        let summary = sample::summary(&rows);
        let both = render(&View {
            rows: Some(&rows),
            summary: Some(&summary),
            scope: &[],
        });
        assert!(both.contains("\n\nFIGURE"), "{both}");
        assert!(both.contains("overturn rate"));
        let alone = render(&View {
            rows: None,
            summary: Some(&summary),
            scope: &[],
        });
        assert!(alone.starts_with("FIGURE"), "{alone}");
        assert!(!alone.contains("spammer"));
        let empty = render(&View {
            rows: Some(&[]),
            summary: None,
            scope: &[],
        });
        assert_eq!(empty, "No rows match.\n");
    }
}
