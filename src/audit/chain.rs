//! The hash chain of an audit file, as plain functions of bytes (no I/O).
//!
//! Every line is one JSON object whose last two members are `prev` and
//! `hash`. `prev` is the `hash` of the line before (`GENESIS` on the first
//! line of a chain). `hash` is the lowercase hex SHA-256 of
//!
//! ```text
//! prev + "\n" + body
//! ```
//!
//! where `body` is the line exactly as written with its trailing
//! `,"hash":"<64 hex>"` cut out (the closing `}` stays). Hashing the bytes as
//! written, rather than a re-serialised object, means a verifier needs no JSON
//! canonicalisation to agree with the writer: key order, escapes and number
//! spelling are whatever the file holds.

use std::fmt;

use sha2::{Digest, Sha256};

/// `prev` of the first line of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What closes every chained line: `,"hash":"` 64 hex digits `"}`.
const HASH_KEY: &[u8] = b",\"hash\":\"";
const HASH_HEX: usize = 64;
const SEAL_LEN: usize = HASH_KEY.len() + HASH_HEX + 2;

/// The `action` of a line that starts a new chain because the previous one
/// could not be continued.
pub const RESTART_ACTION: &str = "ChainRestarted";

/// `hex(sha256(prev + "\n" + body))`.
pub fn chain_hash(prev: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A record sealed into the chain: the line to write (without its newline)
/// and its hash, the next line's `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub line: String,
    pub hash: String,
}

/// Appends `prev` and `hash` to one serialised JSON object (which holds
/// neither yet).
pub fn seal(prev: &str, record: &str) -> Sealed {
    let open = record
        .strip_suffix('}')
        .expect("an audit record serialises to a JSON object");
    let separator = if open.trim_end() == "{" { "" } else { "," };
    let body = format!("{open}{separator}\"prev\":\"{prev}\"}}");
    let hash = chain_hash(prev, body.as_bytes());
    let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
    Sealed { line, hash }
}

/// What is wrong with one line. The `Display` text is what `audit verify`
/// prints after `FILE:LINE: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The file ends in the middle of a line.
    Incomplete,
    Empty,
    /// Not a JSON object once the hash is cut off.
    Unparsable(String),
    /// Does not end with a `hash` member: not chained, or edited by hand.
    NoHash,
    /// No `prev` member of 64 lowercase hex digits.
    NoPrev,
    HashMismatch,
    PrevMismatch,
}

impl Fault {
    /// A machine name, for `-o json` and the `reason` of a restart line.
    pub fn code(&self) -> &'static str {
        match self {
            Fault::Incomplete => "IncompleteLine",
            Fault::Empty => "EmptyLine",
            Fault::Unparsable(_) => "UnparsableLine",
            Fault::NoHash => "NoHash",
            Fault::NoPrev => "NoPrev",
            Fault::HashMismatch => "HashMismatch",
            Fault::PrevMismatch => "PrevMismatch",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Incomplete => {
                f.write_str("incomplete line: the file ends without a newline (a write cut short?)")
            }
            Fault::Empty => f.write_str("unparsable line: empty"),
            Fault::Unparsable(error) => write!(f, "unparsable line: {error}"),
            Fault::NoHash => f.write_str(
                "unparsable line: it does not end with a \"hash\" member \
                 (written before the chain, or edited?)",
            ),
            Fault::NoPrev => f.write_str("unparsable line: no \"prev\" hash"),
            Fault::HashMismatch => f.write_str("hash does not match (line edited?)"),
            Fault::PrevMismatch => {
                f.write_str("prev does not match the previous line (a line removed or reordered?)")
            }
        }
    }
}

/// One line whose hash recomputes. Whether its `prev` is the right one is for
/// the caller to say: that depends on the line before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub prev: String,
    pub hash: String,
    pub time: Option<String>,
    pub action: Option<String>,
    pub message: Option<String>,
}

impl Link {
    pub fn is_restart(&self) -> bool {
        self.action.as_deref() == Some(RESTART_ACTION)
    }
}

fn is_hash(text: &[u8]) -> bool {
    text.len() == HASH_HEX && text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks one line, given without its newline.
pub fn read_line(line: &[u8]) -> Result<Link, Fault> {
    if line.is_empty() {
        return Err(Fault::Empty);
    }
    let sealed = line.len().checked_sub(SEAL_LEN).and_then(|split| {
        let (open, seal) = line.split_at(split);
        let hash = &seal[HASH_KEY.len()..HASH_KEY.len() + HASH_HEX];
        (seal.starts_with(HASH_KEY) && seal.ends_with(b"\"}") && is_hash(hash))
            .then_some((open, hash))
    });
    let Some((open, hash)) = sealed else {
        return Err(match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(_)) => Fault::NoHash,
            Ok(_) => Fault::Unparsable("not a JSON object".into()),
            Err(error) => Fault::Unparsable(error.to_string()),
        });
    };
    let mut body = open.to_vec();
    body.push(b'}');
    let object = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => return Err(Fault::Unparsable("not a JSON object".into())),
        Err(error) => return Err(Fault::Unparsable(error.to_string())),
    };
    if object.contains_key("hash") {
        return Err(Fault::Unparsable("two \"hash\" members".into()));
    }
    let text = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let prev = text("prev")
        .filter(|prev| is_hash(prev.as_bytes()))
        .ok_or(Fault::NoPrev)?;
    let hash = String::from_utf8(hash.to_vec()).expect("checked as hex");
    if chain_hash(&prev, &body) != hash {
        return Err(Fault::HashMismatch);
    }
    Ok(Link {
        prev,
        hash,
        time: text("time"),
        action: text("action"),
        message: text("message"),
    })
}

/// Where the chain stands at the end of `tail`, the last bytes of a file:
/// `None` when it is empty, else its last line, which must be complete and
/// whose hash must recompute.
pub fn last_link(tail: &[u8]) -> Result<Option<Link>, Fault> {
    if tail.is_empty() {
        return Ok(None);
    }
    let Some(text) = tail.strip_suffix(b"\n") else {
        return Err(Fault::Incomplete);
    };
    let start = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    read_line(&text[start..]).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"audit":"interdict.dev/audit/v1","time":"2026-11-21T10:00:15Z","action":"Expired","message":"a \"quoted\" é"}"#;

    #[test]
    fn the_hash_covers_prev_a_newline_and_the_line_without_its_hash() {
        let sealed = seal(GENESIS, RECORD);
        let body = format!("{},\"prev\":\"{GENESIS}\"}}", &RECORD[..RECORD.len() - 1]);
        let mut hasher = Sha256::new();
        hasher.update(format!("{GENESIS}\n{body}"));
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sealed.hash, expected);
        assert_eq!(
            sealed.line,
            format!("{},\"hash\":\"{expected}\"}}", &body[..body.len() - 1])
        );
        let parsed: serde_json::Value = serde_json::from_str(&sealed.line).unwrap();
        assert_eq!(parsed["prev"], GENESIS);
        assert_eq!(parsed["hash"], expected.as_str());
        assert_eq!(parsed["message"], "a \"quoted\" é");
    }

    #[test]
    fn a_sealed_line_reads_back() {
        let first = seal(GENESIS, RECORD);
        let second = seal(&first.hash, RECORD);
        let link = read_line(second.line.as_bytes()).unwrap();
        assert_eq!(link.prev, first.hash);
        assert_eq!(link.hash, second.hash);
        assert_eq!(link.time.as_deref(), Some("2026-11-21T10:00:15Z"));
        assert_eq!(link.action.as_deref(), Some("Expired"));
        assert!(!link.is_restart());
        assert_ne!(
            first.hash, second.hash,
            "the same record chains differently"
        );
    }

    #[test]
    fn an_empty_object_seals_without_a_stray_comma() {
        let sealed = seal(GENESIS, "{}");
        assert!(sealed.line.starts_with("{\"prev\""), "{}", sealed.line);
        assert!(read_line(sealed.line.as_bytes()).is_ok());
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let good = seal(GENESIS, RECORD).line;
        let edited = good.replace("Expired", "Applied");
        let rehashed_elsewhere =
            good.replacen(&good[good.len() - 66..good.len() - 2], &"f".repeat(64), 1);
        let upper = good.replacen(
            &good[good.len() - 66..good.len() - 2],
            &good[good.len() - 66..good.len() - 2].to_uppercase(),
            1,
        );
        let cases: Vec<(String, Fault)> = vec![
            (String::new(), Fault::Empty),
            (edited, Fault::HashMismatch),
            (rehashed_elsewhere, Fault::HashMismatch),
            (upper, Fault::NoHash),
            (RECORD.to_string(), Fault::NoHash),
            (
                "not json at all, but long enough to hold a seal, surely, and more".repeat(2),
                Fault::Unparsable(String::new()),
            ),
            (
                r#"{"audit": tru"#.to_string(),
                Fault::Unparsable(String::new()),
            ),
            ("[]".to_string(), Fault::Unparsable(String::new())),
            ("{}".to_string(), Fault::NoHash),
            (
                good[..good.len() - 10].to_string(),
                Fault::Unparsable(String::new()),
            ),
            (good.replace("\"prev\"", "\"prior\""), Fault::NoPrev),
            (
                format!("[1{}", &good[good.find(",\"hash\"").unwrap()..]),
                Fault::Unparsable(String::new()),
            ),
        ];
        for (line, expected) in cases {
            let fault = read_line(line.as_bytes()).expect_err(&line);
            assert_eq!(fault.code(), expected.code(), "{line}: {fault}");
        }
    }

    #[test]
    fn a_second_hash_member_in_the_body_is_refused() {
        let record = r#"{"hash":"x","message":"m"}"#;
        let sealed = seal(GENESIS, record);
        assert_eq!(
            read_line(sealed.line.as_bytes()).unwrap_err().code(),
            "UnparsableLine"
        );
    }

    #[test]
    fn the_end_of_a_file_is_its_last_complete_line() {
        let first = seal(GENESIS, RECORD);
        let second = seal(&first.hash, RECORD);
        let file = format!("{}\n{}\n", first.line, second.line);
        assert_eq!(last_link(b"").unwrap(), None);
        assert_eq!(
            last_link(file.as_bytes()).unwrap().unwrap().hash,
            second.hash
        );
        // A tail read from the middle of a file starts mid-line: only the last line counts.
        assert_eq!(
            last_link(&file.as_bytes()[5..]).unwrap().unwrap().hash,
            second.hash
        );
        assert_eq!(
            last_link(&file.as_bytes()[..file.len() - 1]),
            Err(Fault::Incomplete)
        );
        assert_eq!(
            last_link(format!("{}\n", RECORD).as_bytes()),
            Err(Fault::NoHash)
        );
    }
}
