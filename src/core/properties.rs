//! Property tests of subject normalisation and of the duration and time
//! grammars, the inputs users and applications type:
//!
//! - emails: one canonical form whatever the ASCII case, the surrounding
//!   white space or the `+tag`; the hash follows the canonical form; a typed
//!   `sha256:` hash is taken as is, in any case of its prefix;
//! - addresses: an address inside a banned network is denied in every
//!   textual form (IPv4 dotted, IPv4-mapped IPv6 in its several spellings,
//!   IPv6 compressed, expanded, upper-case, with a dotted tail), by the plain
//!   decision and by the [`Index`] readers use, and one outside is not; a
//!   network has one spelling however it is written;
//! - durations: exactly the CRD's grammar (`DURATION_RULE`, at most 100
//!   years), written back in a form that reads back to the same length, never
//!   a panic or an overflow;
//! - document times: every spelling the grammar allows reads back to its
//!   instant; anything else is refused without a panic.
//!
//! Cases: proptest's default (256), `PROPTEST_CASES=N` for more.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Duration};
use proptest::prelude::*;

use super::duration::{MAX_DURATION_SECONDS, format_duration, parse_duration};
use super::email::{canonical_email, hash_email, query_email_hash};
use super::entry::fixtures::{at, user_ban};
use super::ip::IpNet;
use super::{Contents, Index, Mode, Query, SubjectKey, decide_contents};

// ------------------------------------------------------------------ emails

/// Unicode White_Space, which `str::trim` removes (U+001C..U+001F are not).
const WHITE_SPACE: &[char] = &[
    ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{2007}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];

fn padding() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop::sample::select(WHITE_SPACE), 0..3)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Local parts and domains: ASCII, accented and other scripts, no `+`, `@`
/// or white space (those are the parts the rules act on).
fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._\\-éÉøÆßİıКк中]{1,10}"
}

fn ascii_case_variant(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, flip)| match (flip, c.is_ascii_lowercase()) {
            (false, _) => c,
            (true, true) => c.to_ascii_uppercase(),
            (true, false) => c.to_ascii_lowercase(),
        })
        .collect()
}

proptest! {
    #[test]
    fn an_email_has_one_canonical_form(
        local in word(),
        domain in word(),
        tag in proptest::option::of("[a-zA-Z0-9+.\\-]{0,6}"),
        before in padding(),
        after in padding(),
        flips in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        let plain = format!("{local}@{domain}");
        let canonical = canonical_email(&plain);
        prop_assert_eq!(canonical_email(&canonical), canonical.clone(), "idempotent");
        let typed = match &tag {
            Some(tag) => format!("{before}{local}+{tag}@{domain}{after}"),
            None => format!("{before}{plain}{after}"),
        };
        let typed = ascii_case_variant(&typed, &flips);
        prop_assert_eq!(canonical_email(&typed), canonical.clone(), "{:?}", typed);
        prop_assert_eq!(hash_email(&typed), hash_email(&plain));
        prop_assert_eq!(query_email_hash(&typed), hash_email(&plain));
        prop_assert!(!canonical.contains('+') || domain.contains('+'));
    }

    #[test]
    fn a_typed_hash_is_taken_as_is(address in "[a-z]{1,6}@[a-z]{1,6}\\.org", before in padding(), after in padding(), upper in any::<bool>()) {
        let hash = hash_email(&address);
        let typed = if upper { hash.replacen("sha256:", "SHA256:", 1) } else { hash.clone() };
        prop_assert_eq!(query_email_hash(&format!("{before}{typed}{after}")), hash);
    }

    /// Addresses that differ after canonicalisation never share a hash.
    #[test]
    fn different_addresses_hash_apart(a in "[a-z]{1,6}@[a-z]{1,4}", b in "[a-z]{1,6}@[a-z]{1,4}") {
        prop_assume!(canonical_email(&a) != canonical_email(&b));
        prop_assert_ne!(hash_email(&a), hash_email(&b));
    }

    /// Anything at all: no panic, and a typed value and its canonical form
    /// ask the same question.
    #[test]
    fn any_text_canonicalises(text in any::<String>()) {
        let canonical = canonical_email(&text);
        prop_assert_eq!(hash_email(&canonical), hash_email(&text));
    }
}

// ------------------------------------------------------------------ addresses

/// Every spelling of an IPv4 address a client or a socket may report.
fn v4_forms(addr: Ipv4Addr) -> Vec<String> {
    let [a, b, c, d] = addr.octets();
    let high = u16::from_be_bytes([a, b]);
    let low = u16::from_be_bytes([c, d]);
    vec![
        addr.to_string(),
        format!("::ffff:{addr}"),
        format!("::FFFF:{addr}"),
        format!("0:0:0:0:0:ffff:{addr}"),
        format!("::ffff:{high:x}:{low:x}"),
        format!("0000:0000:0000:0000:0000:FFFF:{high:04X}:{low:04X}"),
    ]
}

/// Every spelling of an IPv6 address.
fn v6_forms(addr: Ipv6Addr) -> Vec<String> {
    let segments = addr.segments();
    let expanded: Vec<String> = segments.iter().map(|s| format!("{s:04x}")).collect();
    let [.., a, b, c, d] = addr.octets();
    vec![
        addr.to_string(),
        addr.to_string().to_uppercase(),
        expanded.join(":"),
        segments
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":"),
        format!(
            "{}:{}",
            segments[..6]
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
            Ipv4Addr::new(a, b, c, d)
        ),
    ]
}

fn forms(addr: IpAddr) -> Vec<String> {
    match addr {
        IpAddr::V4(v4) => v4_forms(v4),
        IpAddr::V6(v6) => v6_forms(v6),
    }
}

/// A network (v4, or v6 outside the IPv4-mapped range), an address inside it
/// and one outside it.
fn network_and_probes() -> impl Strategy<Value = (IpNet, IpAddr, Option<IpAddr>)> {
    let v4 = (any::<u32>(), 1u8..=32, any::<u32>()).prop_map(|(base, prefix, host)| {
        let mask = u32::MAX << (32 - prefix);
        let inside = (base & mask) | (host & !mask);
        let outside = inside ^ (1 << (32 - prefix)); // the first network bit flipped
        (
            IpNet::containing(IpAddr::V4(base.into()), prefix),
            IpAddr::V4(inside.into()),
            Some(IpAddr::V4(outside.into())),
        )
    });
    let v6 = (any::<u128>(), 1u8..=128, any::<u128>()).prop_map(|(base, prefix, host)| {
        let mask = u128::MAX << (128 - prefix);
        let inside = (base & mask) | (host & !mask);
        let outside = inside ^ (1 << (128 - prefix));
        let outside = Ipv6Addr::from(outside);
        (
            IpNet::containing(IpAddr::V6(base.into()), prefix),
            IpAddr::V6(inside.into()),
            // An address in the mapped range is an IPv4 client: not a v6 probe.
            outside
                .to_ipv4_mapped()
                .is_none()
                .then_some(IpAddr::V6(outside)),
        )
    });
    prop_oneof![v4, v6].prop_filter(
        "v6 networks outside the mapped range",
        |(net, inside, _)| match inside {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none() && net.network().is_ipv6(),
            IpAddr::V4(_) => true,
        },
    )
}

fn ip_query(text: &str) -> Query {
    Query {
        ip: Some(text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))),
        feature: "publish".into(),
        ..Query::default()
    }
}

proptest! {
    #[test]
    fn an_address_in_a_banned_network_is_denied_in_every_form(
        (net, inside, outside) in network_and_probes(),
    ) {
        let contents = Contents::from(vec![user_ban("UserBan/net", SubjectKey::Ip(net.to_string()), Mode::Suspend)]);
        let index = Index::new(contents.clone());
        for form in forms(inside) {
            let query = ip_query(&form);
            prop_assert!(!decide_contents(&contents, &query, at(1)).allowed, "{} in {}", form, net);
            prop_assert!(!index.decide(&query, at(1)).allowed, "index: {} in {}", form, net);
        }
        if let Some(outside) = outside {
            for form in forms(outside) {
                let query = ip_query(&form);
                prop_assert!(decide_contents(&contents, &query, at(1)).allowed, "{} not in {}", form, net);
                prop_assert!(index.decide(&query, at(1)).allowed, "index: {} not in {}", form, net);
            }
        }
    }

    /// However a network is written (host bits set, an address in any form,
    /// a mapped IPv4 address), it has one spelling, which reads back to itself.
    #[test]
    fn a_network_has_one_spelling((net, inside, _) in network_and_probes()) {
        let canonical = net.to_string();
        prop_assert_eq!(canonical.parse::<IpNet>().unwrap(), net);
        for form in forms(inside) {
            let written = if net.is_single_address() { form.clone() } else { format!("{form}/{}", net.prefix()) };
            // A mapped address with a prefix is an IPv6 network; only plain
            // spellings of a v4 network carry a v4 prefix.
            if inside.is_ipv4() && form.contains(':') && !net.is_single_address() {
                continue;
            }
            prop_assert_eq!(written.parse::<IpNet>().map(|n| n.to_string()), Ok(canonical.clone()), "{}", written);
        }
    }

    /// Anything at all is a network or an error, never a panic; what parses
    /// prints a spelling that parses to the same network.
    #[test]
    fn any_text_is_a_network_or_an_error(text in prop_oneof![
        any::<String>(),
        "[0-9a-fA-F:./]{0,45}",
        "[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}(/[0-9]{0,4})?",
    ]) {
        if let Ok(net) = text.parse::<IpNet>() {
            prop_assert_eq!(net.to_string().parse::<IpNet>(), Ok(net));
            prop_assert!(net.contains(net.network()));
        }
    }
}

// ------------------------------------------------------------------ durations

/// The CRD's rule, `DURATION_RULE` and `DURATION_BOUND_RULE`, written out:
/// one to four parts of one to six digits and a unit, at least one non-zero
/// digit, at most 100 years. `None` when the CRD refuses the text.
fn crd_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut parts = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        if digits.is_empty() || digits.len() > 6 {
            return None;
        }
        total += digits.parse::<i64>().ok()? * unit;
        parts += 1;
        digits.clear();
    }
    let positive = text.chars().any(|c| ('1'..='9').contains(&c));
    (digits.is_empty() && (1..=4).contains(&parts) && positive && total <= MAX_DURATION_SECONDS)
        .then_some(total)
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(("[0-9]{1,8}", "[smhdw]"), 1..6)
            .prop_map(|parts| parts.into_iter().map(|(n, u)| n + &u).collect()),
        1 => "[0-9smhdwSMH .+\\-]{0,12}",
        1 => any::<String>(),
    ]
}

proptest! {
    /// The core reads a duration exactly when the API server would store it,
    /// and as the same length.
    #[test]
    fn durations_follow_the_crd_grammar(text in duration_text()) {
        let parsed = parse_duration(&text).map(|d| d.num_seconds()).ok();
        prop_assert_eq!(parsed, crd_duration(&text), "{:?}", text);
    }

    #[test]
    fn durations_are_written_back_to_the_same_length(seconds in 1i64..=MAX_DURATION_SECONDS) {
        let written = format_duration(Duration::seconds(seconds));
        prop_assert_eq!(parse_duration(&written).map(|d| d.num_seconds()), Ok(seconds), "{}", written);
        prop_assert_eq!(crd_duration(&written), Some(seconds), "{} is not one the CRD takes", written);
    }
}

// ------------------------------------------------------------------ times

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const FIRST: i64 = -62_135_596_800;
const LAST: i64 = 253_402_300_799;

proptest! {
    /// Every spelling the grammar allows reads back to its instant.
    #[test]
    fn times_read_back_in_every_spelling(
        seconds in FIRST..=LAST,
        nanos in 0u32..1_000_000_000,
        fraction_digits in 0usize..12,
        offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i32),
        separator in prop::sample::select(&["T", "t", " "][..]),
        zone_style in 0u8..5,
        spaces in 0usize..3,
    ) {
        let instant = DateTime::from_timestamp(seconds, 0).unwrap();
        // The fraction as written: nanoseconds, cut or padded to the digits.
        let nine = format!("{nanos:09}");
        let fraction = if fraction_digits == 0 { String::new() } else if fraction_digits <= 9 {
            format!(".{}", &nine[..fraction_digits])
        } else {
            format!(".{nine}{}", "7".repeat(fraction_digits - 9))
        };
        let kept: u32 = if fraction_digits == 0 { 0 } else {
            nine[..fraction_digits.min(9)].parse::<u32>().unwrap() * 10u32.pow(9 - fraction_digits.min(9) as u32)
        };
        let offset = if zone_style < 3 { 0 } else { offset_minutes };
        let local = instant + Duration::minutes(i64::from(offset));
        prop_assume!(local.timestamp() >= FIRST && local.timestamp() <= LAST);
        let zone = match zone_style {
            0 => "Z".to_string(),
            1 => "z".to_string(),
            2 => "uTc".to_string(),
            3 => format!("{}{:02}:{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 60, offset.abs() % 60),
            _ => format!("{}{:02}{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 60, offset.abs() % 60),
        };
        let text = format!(
            "{}{separator}{}{fraction}{}{zone}",
            local.format("%Y-%m-%d"),
            local.format("%H:%M:%S"),
            " ".repeat(spaces),
        );
        let parsed = super::document::time::parse_time(&text);
        prop_assert_eq!(parsed, Ok(instant + Duration::nanoseconds(i64::from(kept))), "{}", text);
    }

    /// Anything else: refused, or an instant within the years 0001 to 9999.
    #[test]
    fn any_text_is_a_time_in_range_or_an_error(text in prop_oneof![
        any::<String>(),
        "[0-9+\\-]{1,6}-[0-9]{1,3}-[0-9]{1,3}[Tt ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?( ?(Z|[+-][0-9]{2}:?[0-9]{2}|UTC))?",
    ]) {
        if let Ok(time) = super::document::time::parse_time(&text) {
            prop_assert!(time.timestamp() >= FIRST && time.timestamp() <= LAST, "{} read as {}", text, time);
        }
    }
}

#[test]
fn the_reference_grammar_is_the_crds() {
    // The reference reads texts as the CRD's regular expressions do.
    assert_eq!(crd_duration("1h30m"), Some(5_400));
    assert_eq!(crd_duration("36525d"), Some(MAX_DURATION_SECONDS));
    assert_eq!(crd_duration("999999s"), Some(999_999));
    for refused in [
        "1234567s",
        "1s1s1s1s1s",
        "0s",
        "36526d",
        "",
        "5",
        "5M",
        " 5m",
    ] {
        assert_eq!(crd_duration(refused), None, "{refused:?}");
    }
}
