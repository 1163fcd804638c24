//! Characters that may not reach published values. Subject identifiers, reason
//! codes, scopes and messages end up in one-per-line lists, Event messages and
//! mail headers, where a line break forges a second entry: the CRDs refuse them
//! (the CEL rules `ONE_LINE_RULE` and `TEXT_RULE` in `api::common`), and the
//! core refuses them again for objects stored before those rules existed.

use std::borrow::Cow;

/// Not allowed in a one-line value: control characters (C0, DEL, C1) and the
/// Unicode line and paragraph separators.
pub fn breaks_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Not allowed in free text, which may span lines: as [`breaks_line`], but line
/// feeds and tabs are fine.
pub fn breaks_text(c: char) -> bool {
    c != '\n' && c != '\t' && breaks_line(c)
}

/// Whether `value` is a clean one-line value.
pub fn is_one_line(value: &str) -> bool {
    !value.chars().any(breaks_line)
}

/// Whether `value` is clean free text.
pub fn is_clean_text(value: &str) -> bool {
    !value.chars().any(breaks_text)
}

/// A value as a plain list prints it: a backslash becomes `\\` and anything
/// that would break the line becomes `\uXXXX`, so every value stays on one line
/// and the escaping is reversible. Clean values (all that validation lets
/// through) are printed unchanged.
pub fn escape_line(value: &str) -> Cow<'_, str> {
    if !value.chars().any(|c| c == '\\' || breaks_line(c)) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if breaks_line(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_line_values() {
        assert!(is_one_line("alice"));
        assert!(is_one_line("Ünïcødé name"));
        for bad in [
            "a\nb",
            "a\rb",
            "a\tb",
            "a\u{0}b",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert!(!is_one_line(bad), "{bad:?}");
        }
    }

    #[test]
    fn free_text_keeps_line_feeds_and_tabs() {
        assert!(is_clean_text("line one\nline\ttwo"));
        assert!(!is_clean_text("carriage\rreturn"));
        assert!(!is_clean_text("escape \u{1b}[31m"));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_line("plain"), "plain");
        assert_eq!(escape_line("a\nb"), "a\\u000ab");
        assert_eq!(escape_line("dom\\user"), "dom\\\\user");
        assert_eq!(escape_line("x\u{2028}"), "x\\u2028");
    }

    proptest! {
        #[test]
        fn escaped_values_are_one_line(value in any::<String>()) {
            let escaped = escape_line(&value);
            prop_assert!(is_one_line(&escaped));
            prop_assert!(!escaped.contains('\n'));
        }
    }
}
