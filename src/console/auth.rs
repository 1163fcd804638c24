//! Who may drive the console, decided before any page is rendered or any
//! Kubernetes call is made.
//!
//! Local mode serves 127.0.0.1, which every local user and every web page the
//! moderator visits can reach, so being able to connect proves nothing. The
//! console prints a one-time login token; visiting it once exchanges it for a
//! session cookie (HttpOnly, SameSite=Strict). Every POST must also carry the
//! session's CSRF token in a hidden field and an `Origin` (or `Referer`) equal
//! to the console's own origin, and every request a `Host` naming it (a page
//! that rebinds its DNS name to 127.0.0.1 gets nothing). The console sends no
//! CORS headers, so no other origin can read its answers.
//!
//! Bearer mode has no sessions of its own: the authenticating proxy in front
//! puts the moderator's token on each request. The CSRF token is then an HMAC
//! of that bearer token under a key the process draws at start.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE: &str = "interdict_console";
/// How long a session lasts; then the console must be restarted for a new link.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// `n` random bytes from the kernel, as hex. The console cannot run with
/// guessable tokens, so failing to read them is fatal at start.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Whether a POST comes from the console's own pages: `Origin` must be
/// `expected` exactly; without an `Origin`, `Referer` must start with it
/// followed by `/`. Neither header: refused (a same-origin form always sends one).
pub fn same_origin(origin: Option<&str>, referer: Option<&str>, expected: &str) -> bool {
    match (origin, referer) {
        (Some(origin), _) => origin == expected,
        (None, Some(referer)) => referer
            .strip_prefix(expected)
            .is_some_and(|rest| rest.starts_with('/')),
        (None, None) => false,
    }
}

/// `http://host:port` → `host:port`, what the `Host` header of a request to it says.
pub fn host_of(origin: &str) -> &str {
    origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// A signed-in local session.
struct Session {
    csrf: String,
    expires: Instant,
}

/// Local mode's state: the unused login token and the sessions it opened.
pub struct LocalAuth {
    login_token: Mutex<Option<String>>,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Why a request is refused, with the status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: &'static str,
}

pub const NO_SESSION: Refusal = Refusal {
    status: 401,
    message: "Not signed in. Open the link `interdict console` printed when it started; \
              each link works once (start the console again for a new one).",
};
pub const BAD_LOGIN: Refusal = Refusal {
    status: 403,
    message: "This login link is wrong or was used already: each works once. \
              Start `interdict console` again for a new one.",
};
pub const FOREIGN_ORIGIN: Refusal = Refusal {
    status: 403,
    message: "Refused: this form was not sent from the console's own page (Origin check).",
};
pub const BAD_CSRF: Refusal = Refusal {
    status: 403,
    message: "Refused: the form's security token is missing or stale. Reload the page and try again.",
};
pub const WRONG_HOST: Refusal = Refusal {
    status: 421,
    message: "Refused: this request names another host than the console's.",
};
pub const NO_TOKEN: Refusal = Refusal {
    status: 401,
    message: "No bearer token: the console expects an authenticating proxy in front that \
              sets Authorization: Bearer <the moderator's token>.",
};

impl LocalAuth {
    pub fn new(login_token: String) -> Self {
        LocalAuth {
            login_token: Mutex::new(Some(login_token)),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Exchanges the login token (once) for a new session id.
    pub fn exchange(&self, offered: &str) -> Result<String, Refusal> {
        let mut token = self.login_token.lock().expect("login token lock");
        match token.as_deref() {
            Some(expected) if same_secret(expected, offered) => {
                *token = None;
                let id = random_hex(32).map_err(|_| BAD_LOGIN)?;
                let csrf = random_hex(32).map_err(|_| BAD_LOGIN)?;
                let session = Session {
                    csrf,
                    expires: Instant::now() + SESSION_LIFETIME,
                };
                let mut sessions = self.sessions.lock().expect("sessions lock");
                sessions.retain(|_, s| s.expires > Instant::now());
                sessions.insert(id.clone(), session);
                Ok(id)
            }
            _ => Err(BAD_LOGIN),
        }
    }

    /// The CSRF token of the live session named by the `Cookie` header.
    pub fn session_csrf(&self, cookie_header: Option<&str>) -> Result<String, Refusal> {
        let id = cookie_header
            .and_then(|h| cookie_value(h, COOKIE))
            .ok_or(NO_SESSION)?;
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .iter()
            .find(|(known, s)| same_secret(known, id) && s.expires > Instant::now())
            .map(|(_, s)| s.csrf.clone())
            .ok_or(NO_SESSION)
    }
}

/// Bearer mode's CSRF token for one bearer token: stable for that token in
/// this process, unguessable without the process's key.
pub fn bearer_csrf(key: &[u8], bearer: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(bearer.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The `Set-Cookie` header value of a new session.
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_token_works_once_and_opens_one_session() {
        let auth = LocalAuth::new("t0k3n".into());
        assert_eq!(auth.exchange("wrong"), Err(BAD_LOGIN));
        let id = auth.exchange("t0k3n").unwrap();
        assert_eq!(auth.exchange("t0k3n"), Err(BAD_LOGIN), "single use");
        let cookie = format!("other=1; {COOKIE}={id}");
        let csrf = auth.session_csrf(Some(&cookie)).unwrap();
        assert_eq!(csrf.len(), 64);
        assert_eq!(auth.session_csrf(None), Err(NO_SESSION));
        assert_eq!(
            auth.session_csrf(Some(&format!("{COOKIE}=forged"))),
            Err(NO_SESSION)
        );
        assert!(session_cookie(&id).contains("HttpOnly; SameSite=Strict; Path=/"));
    }

    #[test]
    fn only_the_consoles_own_origin_may_post() {
        let me = "http://127.0.0.1:8400";
        assert!(same_origin(Some(me), None, me));
        assert!(!same_origin(Some("http://evil.example"), Some(me), me));
        assert!(!same_origin(Some("null"), None, me));
        assert!(same_origin(None, Some("http://127.0.0.1:8400/ban"), me));
        assert!(!same_origin(None, Some("http://127.0.0.1:84000/ban"), me));
        assert!(!same_origin(None, None, me));
        assert_eq!(host_of(me), "127.0.0.1:8400");
        assert_eq!(host_of("https://mod.example.com/"), "mod.example.com");
    }

    #[test]
    fn bearer_tokens_and_their_csrf_tokens() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
        let one = bearer_csrf(b"key", "a");
        assert_eq!(one, bearer_csrf(b"key", "a"));
        assert_ne!(one, bearer_csrf(b"key", "b"));
        assert_ne!(one, bearer_csrf(b"other", "a"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert_eq!(cookie_value("a=1; b=2", "b"), Some("2"));
        assert_eq!(cookie_value("a=1", "b"), None);
        assert_eq!(random_hex(4).unwrap().len(), 8);
    }
}
