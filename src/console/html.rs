//! The page shell and the few widgets every page uses, as plain functions
//! returning HTML text. Everything shown that came from a user or the cluster
//! goes through [`esc`]; nothing here runs script, so the page works with
//! JavaScript off and under `Content-Security-Policy: default-src 'self'`.

use std::collections::BTreeMap;

/// The stylesheet, compiled into the binary (no CDN, no build step).
pub const STYLE: &str = include_str!("style.css");

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A query string value, percent-encoded.
pub fn url(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Search,
    Ban,
    Appeals,
    Activity,
    Why,
    None,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Search, "/", "Search"),
    (Nav::Ban, "/ban", "Ban, silence or block"),
    (Nav::Appeals, "/appeals", "Appeals"),
    (Nav::Activity, "/activity", "Activity"),
    (Nav::Why, "/why", "What does this user see"),
];

/// A whole page: header with the moderator's name, navigation, `body`.
pub fn page(title: &str, nav: Nav, who: Option<&str>, body: &str) -> String {
    let links: String = NAV
        .iter()
        .map(|(entry, href, label)| {
            let current = if *entry == nav {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{href}\"{current}>{label}</a></li>")
        })
        .collect();
    let who = who.map_or(String::new(), |w| {
        format!("<p class=\"who\">Acting as <strong>{}</strong></p>", esc(w))
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Interdict</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header><p class=\"brand\">Interdict moderation</p>{who}\
         <nav aria-label=\"Main\"><ul>{links}</ul></nav></header>\n\
         <main id=\"main\">\n<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

/// A page that only says why a request was refused (no navigation: the
/// visitor may not be signed in).
pub fn refusal_page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title} · Interdict</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body>\n<main id=\"main\">\n<h1>{title}</h1>\n<p role=\"alert\" class=\"error\">{message}</p>\n</main>\n</body>\n</html>\n",
        title = esc(title),
        message = esc(message),
    )
}

/// An announcement at the top of a page: a success or an error.
pub fn notice(ok: bool, text: &str) -> String {
    if ok {
        format!(
            "<p role=\"status\" class=\"notice ok\" id=\"notice\">{}</p>",
            esc(text)
        )
    } else {
        format!(
            "<p role=\"alert\" class=\"notice error\" id=\"notice\">{}</p>",
            esc(text)
        )
    }
}

/// The CSRF token as a hidden field; every form that POSTs carries it.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// Values and errors of a form being shown again.
#[derive(Default, Debug, Clone)]
pub struct FormState {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
}

impl FormState {
    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// The error beside `field`, linked to its input with `aria-describedby`.
    pub fn error(&self, field: &str) -> String {
        self.errors.get(field).map_or(String::new(), |e| {
            format!(
                "<p class=\"field-error\" id=\"{field}-error\">{}</p>",
                esc(e)
            )
        })
    }

    fn described(&self, field: &str) -> String {
        if self.errors.contains_key(field) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{field}-error\"")
        } else {
            String::new()
        }
    }

    /// A labelled one-line input with its error.
    pub fn input(&self, field: &str, label: &str, hint: &str, extra: &str) -> String {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!("<span class=\"hint\">{}</span>", esc(hint))
        };
        format!(
            "<div class=\"field\"><label for=\"{field}\">{label}</label>{hint}\
             <input id=\"{field}\" name=\"{field}\" value=\"{value}\"{described}{extra}>{error}</div>",
            label = esc(label),
            value = esc(self.value(field)),
            described = self.described(field),
            error = self.error(field),
        )
    }

    /// A labelled multi-line input with its error.
    pub fn textarea(&self, field: &str, label: &str, hint: &str) -> String {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!("<span class=\"hint\">{}</span>", esc(hint))
        };
        format!(
            "<div class=\"field\"><label for=\"{field}\">{label}</label>{hint}\
             <textarea id=\"{field}\" name=\"{field}\" rows=\"3\"{described}>{value}</textarea>{error}</div>",
            label = esc(label),
            value = esc(self.value(field)),
            described = self.described(field),
            error = self.error(field),
        )
    }

    /// A labelled select of `(value, label)` options.
    pub fn select(&self, field: &str, label: &str, options: &[(&str, &str)]) -> String {
        let chosen = self.value(field);
        let options: String = options
            .iter()
            .map(|(value, text)| {
                let selected = if *value == chosen { " selected" } else { "" };
                format!(
                    "<option value=\"{}\"{selected}>{}</option>",
                    esc(value),
                    esc(text)
                )
            })
            .collect();
        format!(
            "<div class=\"field\"><label for=\"{field}\">{label}</label>\
             <select id=\"{field}\" name=\"{field}\"{described}>{options}</select>{error}</div>",
            label = esc(label),
            described = self.described(field),
            error = self.error(field),
        )
    }

    /// A checkbox with its label after it.
    pub fn checkbox(&self, field: &str, label: &str) -> String {
        let checked = if matches!(self.value(field), "on" | "true") {
            " checked"
        } else {
            ""
        };
        format!(
            "<div class=\"field check\"><input type=\"checkbox\" id=\"{field}\" name=\"{field}\"{checked}>\
             <label for=\"{field}\">{}</label>{}</div>",
            esc(label),
            self.error(field)
        )
    }
}

/// A table with a caption; `rows` are already HTML.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let head: String = headers
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|row| {
            let cells: String = row.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(
        "<div class=\"table\"><table><caption>{}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>",
        esc(caption)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(
            esc("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        let mut form = FormState::default();
        form.values.insert("reason".into(), "\"><b>".into());
        form.errors.insert("reason".into(), "<i>bad</i>".into());
        let html = form.input("reason", "Reason", "", "");
        assert!(html.contains("value=\"&quot;&gt;&lt;b&gt;\""), "{html}");
        assert!(html.contains("&lt;i&gt;bad&lt;/i&gt;"), "{html}");
        assert!(html.contains("aria-describedby=\"reason-error\""), "{html}");
        assert!(html.contains("<label for=\"reason\">"), "{html}");
    }

    #[test]
    fn pages_mark_where_the_moderator_is() {
        let html = page("Appeals", Nav::Appeals, Some("ann<"), "<p>x</p>");
        assert!(html.contains("<a href=\"/appeals\" aria-current=\"page\">"));
        assert!(html.contains("ann&lt;"));
        assert!(!html.contains("<script"));
        assert_eq!(url("a b&c"), "a+b%26c");
    }
}
