//! Tables as kubectl prints them: upper-case headers, columns padded to the
//! widest cell and three spaces apart, the last column unpadded; ages in
//! kubectl's short form.

use chrono::{DateTime, Utc};

/// Renders `headers` and `rows` as aligned text, one line each, ending in a
/// newline. Widths count characters, so accented names stay aligned.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = width - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `then` was, as kubectl's AGE column says it: `45s`, `12m`,
/// `5h`, `3d`, `2y`.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 3_600 * 3 => format!("{}m", s / 60),
        s if s < 86_400 * 2 => format!("{}h", s / 3_600),
        s if s < 86_400 * 365 * 2 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (86_400 * 365)),
    }
}

/// `text` on one line, cut to `max` characters with `…` when longer.
pub fn truncate(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A time as the tables show it (UTC, to the second); `-` when absent.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// An optional cell: `-` when empty.
pub fn cell(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_like_kubectl() {
        let text = render(
            &["NAME", "PHASE", "REASON"],
            &[
                vec!["spam-user-123".into(), "Active".into(), "spam".into()],
                vec!["x".into(), "Scheduled".into(), "abuse".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME            PHASE       REASON\n\
             spam-user-123   Active      spam\n\
             x               Scheduled   abuse\n"
        );
    }

    #[test]
    fn short_rows_and_wide_characters_keep_alignment() {
        let text = render(
            &["A", "B"],
            &[vec!["é".into()], vec!["ab".into(), "z".into()]],
        );
        assert_eq!(text, "A    B\né\nab   z\n");
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = crate::plugin::timing::parse_time("2026-11-21T10:00:00Z").unwrap();
        let ago = |s: i64| age(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(600), "10m");
        assert_eq!(ago(5 * 3_600), "5h");
        assert_eq!(ago(3 * 86_400), "3d");
        assert_eq!(ago(800 * 86_400), "2y");
        assert_eq!(ago(-10), "0s");
    }

    #[test]
    fn long_text_is_cut_on_one_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a\nb  c", 10), "a b c");
        assert_eq!(truncate("abcdefghijkl", 5), "abcd…");
        assert_eq!(truncate("abcdefghijkl", 5).chars().count(), 5);
    }
}
