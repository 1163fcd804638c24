//! The actor annotations an admission request should leave on an object, as
//! JSONPatch operations: pure, over the request's JSON, so every rule is
//! tested without an API server.
//!
//! - `created-by`: the creating user; never changes afterwards.
//! - `lifted-by` (UserBan, FeatureBlock): the user whose request set or changed
//!   `spec.lift`; kept while the lift stays as it is.
//! - `decided-by` (BanAppeal): the user whose request set `spec.decision`.
//!
//! Values the object already had are carried over, so a client that drops
//! them (a GitOps tool applying its manifest again) cannot erase them, and a
//! client that sets them is overwritten by what the API server says about it.

use serde_json::{Value, json};

use super::{CREATED_BY, DECIDED_BY, LIFTED_BY};

/// What the API server is admitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// The annotations `object` must carry after this request by `user`.
pub fn wanted(
    kind: &str,
    operation: Operation,
    object: &Value,
    old: Option<&Value>,
    user: &str,
) -> Vec<(&'static str, String)> {
    let previous = |key: &str| -> Option<String> {
        old?.pointer("/metadata/annotations")?
            .get(key)?
            .as_str()
            .map(str::to_string)
    };
    let changed = |pointer: &str| {
        let now = object.pointer(pointer);
        now.is_some() && now != old.and_then(|o| o.pointer(pointer))
    };
    let mut wanted = Vec::new();
    match operation {
        Operation::Create => wanted.push((CREATED_BY, user.to_string())),
        Operation::Update => {
            if let Some(creator) = previous(CREATED_BY) {
                wanted.push((CREATED_BY, creator));
            }
        }
    }
    let (field, key) = match kind {
        "UserBan" | "FeatureBlock" => ("/spec/lift", LIFTED_BY),
        "BanAppeal" => ("/spec/decision", DECIDED_BY),
        _ => return wanted,
    };
    if changed(field) {
        wanted.push((key, user.to_string()));
    } else if object.pointer(field).is_some()
        && let Some(earlier) = previous(key)
    {
        wanted.push((key, earlier));
    }
    wanted
}

/// JSONPatch operations that make `object`'s annotations hold `wanted`
/// (others untouched).
pub fn operations(object: &Value, wanted: &[(&'static str, String)]) -> Vec<Value> {
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let Some(annotations) = annotations else {
        if wanted.is_empty() {
            return Vec::new();
        }
        let all: serde_json::Map<String, Value> = wanted
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        return vec![json!({"op": "add", "path": "/metadata/annotations", "value": all})];
    };
    wanted
        .iter()
        .filter(|(key, value)| annotations.get(*key).and_then(Value::as_str) != Some(value))
        .map(|(key, value)| {
            // RFC 6901: "/" in a key is written "~1".
            let path = format!(
                "/metadata/annotations/{}",
                key.replace('~', "~0").replace('/', "~1")
            );
            let op = if annotations.contains_key(*key) {
                "replace"
            } else {
                "add"
            };
            json!({"op": op, "path": path, "value": value})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "system:serviceaccount:mods:ann";
    const BOB: &str = "system:serviceaccount:mods:bob";

    fn ban(annotations: Value, lift: Option<Value>) -> Value {
        let mut ban = json!({"metadata": {"name": "b", "annotations": annotations}, "spec": {"subject": {"userId": "1"}}});
        if let Some(lift) = lift {
            ban["spec"]["lift"] = lift;
        }
        ban
    }

    #[test]
    fn a_creation_is_signed_by_its_user_whatever_the_client_wrote() {
        let forged = ban(json!({CREATED_BY: "mallory"}), None);
        let wanted = wanted("UserBan", Operation::Create, &forged, None, ANN);
        assert_eq!(wanted, [(CREATED_BY, ANN.to_string())]);
        let ops = operations(&forged, &wanted);
        assert_eq!(
            ops,
            [
                json!({"op": "replace", "path": "/metadata/annotations/interdict.dev~1created-by", "value": ANN})
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "spec": {}});
        assert_eq!(
            operations(&bare, &wanted),
            [json!({"op": "add", "path": "/metadata/annotations", "value": {CREATED_BY: ANN}})]
        );
    }

    #[test]
    fn a_lift_is_signed_by_who_set_it_and_kept_while_it_stays() {
        let old = ban(json!({CREATED_BY: ANN}), None);
        let lifted = ban(json!({}), Some(json!({"by": "bob", "reason": "mistake"})));
        let wanted_now = wanted("UserBan", Operation::Update, &lifted, Some(&old), BOB);
        assert_eq!(
            wanted_now,
            [(CREATED_BY, ANN.to_string()), (LIFTED_BY, BOB.to_string())]
        );

        // Applied again by someone else (a GitOps tool) with the same lift.
        let old = ban(
            json!({CREATED_BY: ANN, LIFTED_BY: BOB}),
            Some(json!({"by": "bob", "reason": "mistake"})),
        );
        let again = wanted("UserBan", Operation::Update, &lifted, Some(&old), "argocd");
        assert_eq!(
            again,
            [(CREATED_BY, ANN.to_string()), (LIFTED_BY, BOB.to_string())]
        );
    }

    #[test]
    fn a_decision_is_signed_by_the_reviewer() {
        let old =
            json!({"metadata": {"annotations": {CREATED_BY: "app"}}, "spec": {"statement": "x"}});
        let decided = json!({"metadata": {}, "spec": {"statement": "x", "decision": {"outcome": "Approved", "reviewer": "ann"}}});
        let wanted = wanted("BanAppeal", Operation::Update, &decided, Some(&old), ANN);
        assert_eq!(
            wanted,
            [
                (CREATED_BY, "app".to_string()),
                (DECIDED_BY, ANN.to_string())
            ]
        );
    }

    #[test]
    fn nothing_to_change_is_no_operation() {
        let signed = ban(json!({CREATED_BY: ANN}), None);
        let wanted = wanted("UserBan", Operation::Update, &signed, Some(&signed), BOB);
        assert!(operations(&signed, &wanted).is_empty());
    }
}
