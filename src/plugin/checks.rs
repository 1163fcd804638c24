//! The API server's rules for the values of a ban (the CRD's schema and CEL
//! rules), repeated here so that a bad value is refused with its flag or its
//! import line before anything is sent.

use super::subject::has_control;
use crate::api::Scope;

/// A lowercase token such as `spam` or `brute-force` (reason codes, scope kinds).
pub fn check_token(text: &str) -> Result<(), String> {
    let chars_ok = text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ends_ok = !text.starts_with('-') && !text.ends_with('-');
    if text.is_empty() || text.len() > 63 || !chars_ok || !ends_ok {
        return Err(format!(
            "{text:?} must be a lowercase token such as spam, abuse or brute-force"
        ));
    }
    Ok(())
}

pub fn check_line(text: &str, max: usize) -> Result<(), String> {
    if has_control(text) {
        return Err("must be one line without control characters".into());
    }
    check_length(text, max)
}

pub fn check_text(text: &str, max: usize) -> Result<(), String> {
    let bad = text
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{2028}' || c == '\u{2029}');
    if bad {
        return Err("must not contain control characters other than line feeds and tabs".into());
    }
    check_length(text, max)
}

fn check_length(text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    Ok(())
}

pub fn check_features(features: &[String]) -> Result<(), String> {
    if features.is_empty() {
        return Err("a FeatureBlock needs at least one feature (* for all)".into());
    }
    if features.len() > 64 {
        return Err("at most 64 features".into());
    }
    for feature in features {
        let first_ok = feature
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = feature
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
        let ok = feature == "*" || (first_ok && rest_ok && feature.len() <= 63);
        if !ok {
            return Err(format!(
                "feature {feature:?} must be * or an identifier of letters, digits and . _ : / -"
            ));
        }
    }
    Ok(())
}

pub fn check_scopes(scopes: &[Scope]) -> Result<(), String> {
    if scopes.len() > 64 {
        return Err("at most 64 scopes".into());
    }
    for scope in scopes {
        check_token(&scope.kind).map_err(|e| format!("scope kind {e}"))?;
        if scope.name.is_empty() || scope.name.chars().count() > 253 {
            return Err(format!(
                "scope name {:?} must be 1 to 253 characters",
                scope.name
            ));
        }
        if has_control(&scope.name) {
            return Err("scope names must be one line without control characters".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercase_words_joined_by_dashes() {
        for good in ["spam", "brute-force", "a1"] {
            assert!(check_token(good).is_ok(), "{good}");
        }
        for bad in ["", "Spam", "-x", "x-", "a_b", &"a".repeat(64)] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_line_and_free_text_differ_on_line_feeds_and_tabs() {
        assert!(check_line("a\tb", 10).is_err());
        assert!(check_text("a\tb\nc", 10).is_ok());
        assert!(check_text("a\u{7}", 10).is_err());
        assert!(check_text("\u{2028}", 10).is_err());
        assert!(check_line("é".repeat(10).as_str(), 10).is_ok());
        assert!(check_line("é".repeat(11).as_str(), 10).is_err());
    }

    #[test]
    fn features_and_scopes() {
        assert!(check_features(&["*".into(), "EXPENSES".into(), "a.b_c:d/e-f".into()]).is_ok());
        assert!(check_features(&[]).is_err());
        assert!(check_features(&["-x".into()]).is_err());
        let scope = |kind: &str, name: &str| Scope {
            kind: kind.into(),
            name: name.into(),
        };
        assert!(check_scopes(&[scope("page", "/posts/42")]).is_ok());
        assert!(check_scopes(&[scope("Page", "x")]).is_err());
        assert!(check_scopes(&[scope("page", "")]).is_err());
        assert!(check_scopes(&[scope("page", "a\nb")]).is_err());
    }
}
