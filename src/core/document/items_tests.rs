use super::*;
use crate::core::document::render_data;
use crate::core::entry::fixtures::{at, user_ban};
use crate::core::{EntryKind, Mode};

fn document(entries: &[&str], extra: &str) -> String {
    format!(
        r#"{{"format":"interdict.dev/blocklist/v1","namespace":"apps","shard":{{"count":1,"index":0}},"entries":[{}]{extra}}}"#,
        entries.join(",")
    )
}

const GOOD: &str = r#"{"id":"UserBan/good","kind":"UserBan","subject":{"userId":"1"},"mode":"Suspend","from":"2027-01-15T08:00:00Z","reason":"spam"}"#;

/// A skipped item as (list, index, id, reason).
type Found = (ItemList, usize, Option<String>, String);

/// The ids kept and the items skipped of a valid document.
fn skipped(text: &str) -> (Vec<String>, Vec<Found>) {
    let document = BlocklistDocument::parse(text).expect("the document itself is valid");
    let kept = document.entries.iter().map(|e| e.id.clone()).collect();
    let skipped = document
        .skipped
        .into_iter()
        .map(|s| (s.list, s.index, s.id, s.reason))
        .collect();
    (kept, skipped)
}

#[test]
fn odd_entries_are_left_out_with_their_id_and_reason_and_the_rest_is_kept() {
    let odd = [
        (
            r#"{"id":"UserBan/year-21192","kind":"UserBan","subject":{"userId":"2"},"mode":"Suspend","from":"2027-01-15T08:00:00Z","until":"+21192-01-01T00:00:00Z","reason":"spam"}"#,
            "+21192-01-01T00:00:00Z",
        ),
        (
            r#"{"id":"UserBan/yesterday","kind":"UserBan","subject":{"userId":"3"},"from":"yesterday","reason":"spam"}"#,
            "yesterday",
        ),
        (
            r#"{"id":"UserBan/leap","kind":"UserBan","subject":{"userId":"3"},"from":"2027-12-31T23:59:60Z","reason":"spam"}"#,
            "valid date",
        ),
        (
            r#"{"id":"UserBan/year-0","kind":"UserBan","subject":{"userId":"3"},"from":"0000-01-01T00:00:00Z","reason":"spam"}"#,
            "0001 to 9999",
        ),
        (
            r#"{"id":"IpBan/x","kind":"IpBan","subject":{"ip":"10.0.0.1"},"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "IpBan",
        ),
        (
            r#"{"id":"UserBan/mute","kind":"UserBan","subject":{"userId":"4"},"mode":"Mute","from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "Mute",
        ),
        (
            r#"{"id":"UserBan/mode-object","kind":"UserBan","subject":{"userId":"4"},"mode":{"Suspend":null},"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "expected a string",
        ),
        (
            r#"{"id":"UserBan/bad-ip","kind":"UserBan","subject":{"ip":"10.0.0.300"},"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "10.0.0.300",
        ),
        (
            r#"{"id":"UserBan/no-reason","kind":"UserBan","subject":{"userId":"5"},"from":"2027-01-15T08:00:00Z"}"#,
            "reason",
        ),
        (
            r#"{"id":"UserBan/two","kind":"UserBan","subject":{"userId":"6","username":"six"},"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "exactly one member",
        ),
        (
            r#"{"id":"FeatureBlock/features","kind":"FeatureBlock","subject":{"userId":"7"},"features":"chat","from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "string",
        ),
        (
            r#"{"id":"FeatureBlock/scope-array","kind":"FeatureBlock","subject":{"userId":"7"},"features":["chat"],"scopes":[["academy","madrid"]],"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "sequence",
        ),
        (
            r#"{"id":"UserBan/global","kind":"UserBan","subject":{"userId":"8"},"from":"2027-01-15T08:00:00Z","reason":"spam","global":"yes"}"#,
            "boolean",
        ),
        (
            r#"{"id":"UserBan/first","id":"UserBan/repeated","kind":"UserBan","subject":{"userId":"9"},"from":"2027-01-15T08:00:00Z","reason":"spam"}"#,
            "duplicate field",
        ),
        (
            r#"["UserBan/array","UserBan",{"userId":"9"},"Suspend",[],[],"2027-01-15T08:00:00Z",null,"spam"]"#,
            "sequence",
        ),
        (r#"{"id":7,"kind":"UserBan"}"#, "integer"),
        ("null", "unit"),
    ];
    let mut entries: Vec<&str> = odd.iter().map(|(text, _)| *text).collect();
    entries.insert(3, GOOD);
    let (kept, skipped) = skipped(&document(&entries, ""));
    assert_eq!(kept, ["UserBan/good"]);
    assert_eq!(skipped.len(), odd.len());
    let expected_ids = [
        Some("UserBan/year-21192"),
        Some("UserBan/yesterday"),
        Some("UserBan/leap"),
        Some("UserBan/year-0"),
        Some("IpBan/x"),
        Some("UserBan/mute"),
        Some("UserBan/mode-object"),
        Some("UserBan/bad-ip"),
        Some("UserBan/no-reason"),
        Some("UserBan/two"),
        Some("FeatureBlock/features"),
        Some("FeatureBlock/scope-array"),
        Some("UserBan/global"),
        Some("UserBan/repeated"),
        None,
        None,
        None,
    ];
    for (n, ((list, index, id, reason), (_, mentions))) in skipped.iter().zip(odd).enumerate() {
        assert_eq!(*list, ItemList::Entries);
        assert_eq!(*index, if n < 3 { n } else { n + 1 }, "{reason}");
        assert_eq!(id.as_deref(), expected_ids[n], "{reason}");
        assert!(reason.contains(mentions), "{id:?}: {reason}");
    }
}

#[test]
fn odd_exemptions_and_revocations_are_left_out_too() {
    let text = document(
        &[GOOD],
        r#","exemptions":[
            {"id":"BanExemption/ok","subject":{"ip":"10.0.0.1"}},
            {"id":"BanExemption/late","subject":{"ip":"10.0.0.2"},"until":"10000-01-01T00:00:00Z"},
            {"id":"BanExemption/net","subject":{"ip":"10.0.0.0/33"}}
        ],"revocations":[
            {"id":"UserBan/no-before","subject":{"userId":"1"},"until":"2027-02-01T00:00:00Z"},
            {"id":"UserBan/ok","subject":{"userId":"1"},"before":"2027-01-15T08:00:00Z","until":"2027-02-01T00:00:00Z"}
        ]"#,
    );
    let document = BlocklistDocument::parse(&text).unwrap();
    assert_eq!(document.exemptions.len(), 1);
    assert_eq!(document.revocations.len(), 1);
    let found: Vec<(ItemList, usize, Option<&str>)> = document
        .skipped
        .iter()
        .map(|s| (s.list, s.index, s.id.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (ItemList::Exemptions, 1, Some("BanExemption/late")),
            (ItemList::Exemptions, 2, Some("BanExemption/net")),
            (ItemList::Revocations, 0, Some("UserBan/no-before")),
        ]
    );
    assert_eq!(
        document.skipped[2].to_string(),
        "revocations[0] \"UserBan/no-before\": missing field `before`"
    );
}

#[test]
fn null_optional_fields_and_unknown_fields_are_not_odd() {
    let entry = r#"{"id":"UserBan/n","kind":"UserBan","subject":{"userId":"1"},"mode":null,"from":"2027-01-15T10:00:00+02:00","until":null,"reason":"spam","message":null,"revokeSessionsBefore":null,"appealInstructions":null,"extra":{"deep":[1,2.5,-3,true,null]},"extra":1}"#;
    let document = BlocklistDocument::parse(&document(&[entry], r#","generator":"x""#)).unwrap();
    assert!(document.skipped.is_empty(), "{:?}", document.skipped);
    let entry = &document.entries[0];
    assert_eq!(entry.kind, EntryKind::UserBan);
    assert_eq!(entry.mode, None);
    assert_eq!(entry.from, at(0), "2027-01-15T10:00:00+02:00");
}

#[test]
fn what_the_operator_renders_is_read_back_whole() {
    let entries = vec![
        Entry {
            until: Some(crate::core::schedule::latest_time()),
            revoke_sessions_before: Some(at(0)),
            ..user_ban(
                "UserBan/a",
                SubjectKey::Ip("2001:db8::/32".into()),
                Mode::Silence,
            )
        },
        user_ban(
            "UserBan/b",
            SubjectKey::Email("sha256:00".into()),
            Mode::Suspend,
        ),
    ];
    let data = render_data("apps", entries.clone().into(), at(0));
    let document = BlocklistDocument::parse(&data["blocklist.json"]).unwrap();
    assert!(document.skipped.is_empty());
    assert_eq!(document.entries, entries);
}

#[test]
fn the_document_itself_must_still_be_whole() {
    let refused = [
        "{oops".to_string(),
        format!("{} trailing", document(&[GOOD], "")),
        "[]".to_string(),
        r#"{"format":"interdict.dev/blocklist/v1","namespace":"apps","shard":{"count":1,"index":0}}"#
            .to_string(),
        r#"{"format":"interdict.dev/blocklist/v1","namespace":"apps","shard":{"count":1,"index":0},"entries":{}}"#
            .to_string(),
        r#"{"format":"interdict.dev/blocklist/v1","namespace":"apps","shard":[1,0],"entries":[]}"#
            .to_string(),
        r#"{"format":"interdict.dev/blocklist/v1","shard":{"count":1,"index":0},"entries":[]}"#
            .to_string(),
        r#"{"format":"interdict.dev/blocklist/v1","namespace":"apps","shard":{"count":-1,"index":0},"entries":[]}"#
            .to_string(),
        r#"{"namespace":"apps","shard":{"count":1,"index":0},"entries":[]}"#.to_string(),
        document(&[GOOD], r#","exemptions":null"#),
        document(&[GOOD], r#","revocations":{}"#),
        document(&[GOOD], r#","namespace":"again""#),
        document(&[GOOD], r#","format":"interdict.dev/blocklist/v1""#),
        // A number no 64-bit float holds is malformed JSON, even where ignored.
        document(&[GOOD], r#","weight":1e400"#),
        document(&[GOOD, r#"{"id":"UserBan/w","weight":[1e400]}"#], ""),
    ];
    for text in refused {
        assert!(BlocklistDocument::parse(&text).is_err(), "{text}");
    }
    let future = r#"{"format":"interdict.dev/blocklist/v2","entries":"whatever"}"#;
    assert!(matches!(
        BlocklistDocument::parse(future),
        Err(DocumentError::Format { found }) if found == "interdict.dev/blocklist/v2"
    ));
}
