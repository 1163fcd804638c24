//! The model against a from-scratch render: random sequences of ban and
//! exemption changes and clock advances, after each of which the shards the
//! model publishes (only the dirty ones rendered) equal `render_shards` of the
//! same bans computed from nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::core::compile::{CompileError, CompiledBan};
use crate::core::entry::fixtures::{at, user_ban};
use crate::core::schedule::Window;
use crate::core::shard::{Limits, render_shards};
use crate::core::{Contents, Entry, EntryKind, Exemption, Mode, Revocation, SubjectKey};

const NAMESPACE: &str = "apps";

fn retention() -> Duration {
    Duration::seconds(30)
}

fn subject(n: u8) -> SubjectKey {
    match n % 4 {
        0 => SubjectKey::UserId(format!("{n}")),
        1 => SubjectKey::Username(format!("user-{n}")),
        2 => SubjectKey::Ip(format!("10.0.0.{n}")),
        _ => SubjectKey::KeyFingerprint(format!("fp{n}")),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Ban {
        slot: u8,
        feature_block: bool,
        subject: u8,
        from: i64,
        length: Option<i64>,
        revokes: bool,
        lifted: Option<i64>,
        deleting: bool,
        invalid: bool,
    },
    Unban(u8),
    Exempt {
        slot: u8,
        subject: u8,
        length: Option<i64>,
        deleting: bool,
    },
    Unexempt(u8),
    Wait(i64),
    /// Time passes with no wake-up in between: the next pass's changes are
    /// folded in after timers came due.
    Jump(i64),
    /// The same ban seen again, unchanged (the echo of a status write).
    Echo(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..10, any::<bool>(), 0u8..6, -40i64..40, proptest::option::of(1i64..60), any::<bool>(),
              proptest::option::weighted(0.2, -20i64..20), proptest::bool::weighted(0.1), proptest::bool::weighted(0.1))
            .prop_map(|(slot, feature_block, subject, from, length, revokes, lifted, deleting, invalid)| Op::Ban {
                slot, feature_block, subject, from, length, revokes, lifted, deleting, invalid,
            }),
        1 => (0u8..10).prop_map(Op::Unban),
        2 => (0u8..3, 0u8..6, proptest::option::of(1i64..60), proptest::bool::weighted(0.1))
            .prop_map(|(slot, subject, length, deleting)| Op::Exempt { slot, subject, length, deleting }),
        1 => (0u8..3).prop_map(Op::Unexempt),
        3 => (0i64..40).prop_map(Op::Wait),
        1 => (1i64..40).prop_map(Op::Jump),
        2 => (0u8..10).prop_map(Op::Echo),
    ]
}

fn ban_facts(op: &Op, now: DateTime<Utc>) -> Option<BanFacts> {
    let Op::Ban {
        slot,
        feature_block,
        subject: n,
        from,
        length,
        revokes,
        lifted,
        deleting,
        invalid,
    } = op
    else {
        return None;
    };
    let kind = if *feature_block {
        EntryKind::FeatureBlock
    } else {
        EntryKind::UserBan
    };
    let key = BanKey {
        kind,
        name: format!("b{slot}"),
    };
    let from = now + Duration::seconds(*from);
    let window = Window {
        from,
        until: length.map(|l| from + Duration::seconds(l)),
    };
    let mut entry: Entry = user_ban(&key.id(), subject(*n), Mode::Suspend);
    entry.kind = kind;
    if *feature_block {
        entry.mode = None;
        entry.features = vec!["comments".into()];
    }
    entry.from = window.from;
    entry.until = window.until;
    entry.revoke_sessions_before = revokes.then_some(window.from);
    let compiled: Result<CompiledBan, CompileError> = if *invalid {
        Err(CompileError::SubjectCount)
    } else {
        Ok(CompiledBan { window, entry })
    };
    Some(BanFacts {
        key,
        uid: Uid::of(Some(&format!("uid-{slot}"))),
        generation: Some(1),
        compiled: Arc::new(compiled),
        lifted: lifted.map(|l| Box::new((now + Duration::seconds(l), "spec.lift".to_string()))),
        deleting: *deleting,
        review_at: None,
        retry_at: None,
    })
}

fn exemption_facts(
    slot: u8,
    n: u8,
    length: Option<i64>,
    deleting: bool,
    now: DateTime<Utc>,
) -> ExemptionFacts {
    ExemptionFacts {
        name: format!("x{slot}"),
        compiled: Ok(Exemption {
            id: format!("BanExemption/x{slot}"),
            subject: subject(n),
            until: length.map(|l| now + Duration::seconds(l)),
        }),
        deleting,
    }
}

/// The namespace's contents from nothing but the current facts: the rules of
/// a whole-namespace pass, written out again on purpose.
fn from_scratch(
    bans: &BTreeMap<BanKey, BanFacts>,
    exemptions: &BTreeMap<String, ExemptionFacts>,
    now: DateTime<Utc>,
) -> Contents {
    let in_force: Vec<Exemption> = exemptions
        .values()
        .filter(|x| !x.deleting)
        .filter_map(|x| x.compiled.as_ref().ok())
        .filter(|x| x.until.is_none_or(|u| now < u))
        .cloned()
        .collect();
    let mut contents = Contents {
        exemptions: in_force.clone(),
        ..Contents::default()
    };
    for facts in bans.values() {
        let Ok(compiled) = facts.compiled.as_ref() else {
            continue;
        };
        let entry = &compiled.entry;
        if facts.deleting || in_force.iter().any(|x| x.subject == entry.subject) {
            continue;
        }
        let ended = match facts.lifted_at() {
            Some(at) if at <= now => Some(at),
            _ => entry.until.filter(|u| *u <= now),
        };
        match (ended, entry.revoke_sessions_before) {
            (None, _) => contents.entries.push(entry.clone()),
            (Some(end), Some(before)) if now < end + retention() => {
                contents.revocations.push(Revocation {
                    id: entry.id.clone(),
                    subject: entry.subject.clone(),
                    before,
                    until: end + retention(),
                })
            }
            _ => {}
        }
    }
    contents
}

fn limits(count: u32) -> Limits {
    Limits {
        max_bytes: usize::MAX,
        min_count: count,
        max_count: count,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn published_shards_always_equal_a_from_scratch_render(
        ops in proptest::collection::vec(op(), 1..60),
        count in 1u32..5,
    ) {
        let mut now = at(1_000);
        let mut model = NamespaceModel::new(NAMESPACE, retention(), count);
        let mut bans: BTreeMap<BanKey, BanFacts> = BTreeMap::new();
        let mut exemptions: BTreeMap<String, ExemptionFacts> = BTreeMap::new();
        // What readers hold: each shard as last rendered.
        let mut published: Vec<BTreeMap<String, String>> = model.render_all(now);
        let mut echoes = 0u64;
        model.render_dirty(now, limits(count)).unwrap();
        for op in ops {
            match &op {
                Op::Ban { .. } => {
                    let facts = ban_facts(&op, now).unwrap();
                    bans.insert(facts.key.clone(), facts.clone());
                    let dirty = model.apply(Change::Ban(facts.clone()), now);
                    prop_assert!(dirty.bans.contains(&facts.key));
                }
                Op::Unban(slot) => {
                    for kind in [EntryKind::UserBan, EntryKind::FeatureBlock] {
                        let key = BanKey { kind, name: format!("b{slot}") };
                        bans.remove(&key);
                        model.apply(Change::BanGone(key), now);
                    }
                }
                Op::Exempt { slot, subject: n, length, deleting } => {
                    let facts = exemption_facts(*slot, *n, *length, *deleting, now);
                    exemptions.insert(facts.name.clone(), facts.clone());
                    model.apply(Change::Exemption(facts), now);
                }
                Op::Unexempt(slot) => {
                    let name = format!("x{slot}");
                    exemptions.remove(&name);
                    model.apply(Change::ExemptionGone(name), now);
                }
                Op::Wait(seconds) => {
                    // Time passes in steps no longer than the gap to the next
                    // timer, as the controller's wake-ups would.
                    let target = now + Duration::seconds(*seconds);
                    while let Some(next) = model.next_wake().filter(|n| *n <= target) {
                        now = next;
                        model.advance(now);
                        for (shard, data) in model.render_dirty(now, limits(count)).unwrap() {
                            published[shard.index as usize] = data;
                        }
                    }
                    now = target;
                    model.advance(now);
                }
                Op::Jump(seconds) => {
                    // No pass yet: the next op's pass sees the time passed.
                    now += Duration::seconds(*seconds);
                    continue;
                }
                Op::Echo(slot) => {
                    for kind in [EntryKind::UserBan, EntryKind::FeatureBlock] {
                        let key = BanKey { kind, name: format!("b{slot}") };
                        if let Some(facts) = bans.get_mut(&key) {
                            // Every other echo is folded whole, the rest taken in as one.
                            echoes += 1;
                            if echoes.is_multiple_of(2) {
                                model.apply(Change::Ban(facts.clone()), now);
                            } else {
                                prop_assert!(model.echo_says_nothing_new(&echo_of(facts)), "an echo of the same facts says nothing new");
                            }
                        }
                    }
                }
            }
            // As a pass does: changes first, then time.
            model.advance(now);
            for (shard, data) in model.render_dirty(now, limits(count)).unwrap() {
                published[shard.index as usize] = data;
            }
            let expected = render_shards(NAMESPACE, from_scratch(&bans, &exemptions, now), now, limits(count));
            prop_assert_eq!(&published, &expected, "after {:?}", op);
            prop_assert_eq!(model.render_all(now), expected);
            prop_assert!(model.render_dirty(now, limits(count)).unwrap().is_empty(), "nothing left dirty");
            prop_assert_eq!(model.stray_timers(), 0, "every armed time is on a present target's timeline");
        }
    }
}

/// What the echo of a write that changed nothing the model keeps says.
fn echo_of(facts: &BanFacts) -> EchoFacts {
    EchoFacts {
        key: facts.key.clone(),
        uid: facts.uid,
        generation: facts.generation,
        lifted: facts.lifted.as_deref().cloned(),
        deleting: facts.deleting,
        retry_at: facts.retry_at,
    }
}

#[test]
fn an_echo_that_says_something_new_is_left_to_a_whole_fold() {
    let now = at(0);
    let mut model = NamespaceModel::new(NAMESPACE, retention(), 1);
    add_active_bans(&mut model, 1, now);
    model.render_dirty(now, limits(1)).unwrap();
    let facts = model
        .ban_keys()
        .next()
        .and_then(|k| model.ban(k))
        .unwrap()
        .clone();
    let echo = echo_of(&facts);

    let mut edited = echo.clone();
    edited.generation = Some(facts.generation.unwrap_or(0) + 1);
    let mut lifted = echo.clone();
    lifted.lifted = Some((now, "spec.lift".into()));
    let mut deleting = echo.clone();
    deleting.deleting = true;
    let mut retrying = echo.clone();
    retrying.retry_at = Some(now + Duration::seconds(5));
    let mut replaced = echo.clone();
    replaced.uid = Uid::of(Some("another"));
    let mut unknown = echo.clone();
    unknown.key.name = "no-such-ban".into();
    for refused in [edited, lifted, deleting, retrying, replaced, unknown] {
        assert!(!model.echo_says_nothing_new(&refused), "{refused:?}");
    }
    assert!(model.echo_says_nothing_new(&echo));
    assert!(
        model.render_dirty(now, limits(1)).unwrap().is_empty(),
        "nothing dirty"
    );
}

/// A permanent ban in force, to copy under other names.
fn active_ban() -> Op {
    Op::Ban {
        slot: 0,
        feature_block: false,
        subject: 1,
        from: -5,
        length: None,
        revokes: false,
        lifted: None,
        deleting: false,
        invalid: false,
    }
}

/// `ban-0` … `ban-(count-1)`, permanent and in force, each with its own
/// entry id and subject (as compiled from objects of those names).
fn add_active_bans(model: &mut NamespaceModel, count: u16, now: DateTime<Utc>) {
    for slot in 0..count {
        model.apply(Change::Ban(active_ban_named(slot.into(), now)), now);
    }
}

fn active_ban_named(i: usize, now: DateTime<Utc>) -> BanFacts {
    let facts = ban_facts(&active_ban(), now).expect("a ban");
    let key = BanKey {
        kind: EntryKind::UserBan,
        name: format!("ban-{i}"),
    };
    let mut compiled = facts.compiled.as_ref().clone().expect("compiles");
    compiled.entry.id = key.id();
    compiled.entry.subject = SubjectKey::UserId(i.to_string());
    BanFacts {
        key,
        compiled: Arc::new(Ok(compiled)),
        ..facts
    }
}

#[test]
fn a_change_renders_one_shard() {
    let now = at(0);
    let mut model = NamespaceModel::new(NAMESPACE, retention(), 8);
    add_active_bans(&mut model, 200, now);
    let first = model.render_dirty(now, limits(8)).unwrap();
    assert_eq!(first.len(), 8);
    let one = BanKey {
        kind: EntryKind::UserBan,
        name: "ban-7".into(),
    };
    let dirty = model.apply(Change::BanGone(one), now);
    assert_eq!(dirty.shards.len(), 1);
    assert_eq!(model.render_dirty(now, limits(8)).unwrap().len(), 1);
}

#[test]
fn shards_double_when_one_would_pass_the_limit_and_refuse_past_the_maximum() {
    let now = at(0);
    let mut model = NamespaceModel::new(NAMESPACE, retention(), 1);
    add_active_bans(&mut model, 100, now);
    let one = model.render_all(now)[0]
        .values()
        .map(String::len)
        .sum::<usize>();
    let limit = Limits {
        max_bytes: one / 3,
        min_count: 1,
        max_count: 8,
    };
    let rendered = model.render_dirty(now, limit).unwrap();
    assert_eq!(model.shard_count(), 4);
    assert_eq!(rendered.len(), 4);
    assert!(
        rendered
            .iter()
            .all(|(_, d)| d.values().map(String::len).sum::<usize>() <= limit.max_bytes)
    );
    let tight = Limits {
        max_bytes: one / 100,
        min_count: 1,
        max_count: 8,
    };
    model.mark_all_dirty();
    let refused = model.render_dirty(now, tight).unwrap_err();
    assert_eq!(refused.shards, 8);
    assert!(
        !model.render_dirty(now, limit).unwrap().is_empty(),
        "still dirty after a refusal"
    );
}

/// A ban seen again (its status echo, say) after its start passed and before
/// the wake-up for that start: the start still reaches the plain lists.
#[test]
fn a_start_passed_before_a_change_is_folded_in_is_rendered() {
    let created = at(1_000);
    let mut model = NamespaceModel::new(NAMESPACE, retention(), 1);
    let scheduled = Op::Ban {
        slot: 0,
        feature_block: false,
        subject: 1,
        from: 5,
        length: None,
        revokes: false,
        lifted: None,
        deleting: false,
        invalid: false,
    };
    let facts = ban_facts(&scheduled, created).expect("a ban");
    model.apply(Change::Ban(facts.clone()), created);
    model.advance(created);
    model.render_dirty(created, limits(1)).unwrap();
    let later = created + Duration::seconds(6);
    model.apply(Change::Ban(facts.clone()), later);
    model.advance(later);
    let rendered = model.render_dirty(later, limits(1)).unwrap();
    assert_eq!(
        rendered.len(),
        1,
        "the shard is rendered again at the start"
    );
    let bans = BTreeMap::from([(facts.key.clone(), facts)]);
    let expected = render_shards(
        NAMESPACE,
        from_scratch(&bans, &BTreeMap::new(), later),
        later,
        limits(1),
    );
    assert_eq!(rendered[0].1, expected[0]);
}

/// Skipping the doublings that cannot fit reaches the same shard count,
/// and the same shards, as doubling one count at a time (`render_shards`).
#[test]
fn the_shard_count_reached_is_the_smallest_doubling_that_fits() {
    let now = at(0);
    let mut bans = BTreeMap::new();
    for i in 0..600 {
        let facts = active_ban_named(i, now);
        bans.insert(facts.key.clone(), facts);
    }
    let whole = render_shards(
        NAMESPACE,
        from_scratch(&bans, &BTreeMap::new(), now),
        now,
        limits(1),
    );
    let total: usize = whole[0].values().map(String::len).sum();
    for divisor in [2, 3, 5, 9, 17, 30, 60] {
        let limit = Limits {
            max_bytes: total / divisor,
            min_count: 1,
            max_count: 256,
        };
        let mut model = NamespaceModel::new(NAMESPACE, retention(), 1);
        for facts in bans.values() {
            model.apply(Change::Ban(facts.clone()), now);
        }
        let rendered = model.render_dirty(now, limit).unwrap();
        let expected = render_shards(
            NAMESPACE,
            from_scratch(&bans, &BTreeMap::new(), now),
            now,
            limit,
        );
        assert_eq!(
            model.shard_count() as usize,
            expected.len(),
            "1/{divisor} of the whole"
        );
        let data: Vec<_> = rendered.into_iter().map(|(_, data)| data).collect();
        assert_eq!(data, expected, "1/{divisor} of the whole");
    }
}
