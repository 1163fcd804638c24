//! Admission rules the CRDs cannot express. CEL in a CRD sees only the object,
//! so "who may set this field" needs a ValidatingAdmissionPolicy, which can ask
//! the authorizer about the requesting user. Shipped with the CRDs (`crds/`,
//! the chart's `crds/`), so every install that has the kinds has the rules.

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::GROUP;

/// The policy (and its binding) that reserves appeal decisions to deciders.
pub const APPEAL_DECISIONS_POLICY: &str = "banappeal-decisions.interdict.dev";
/// The verb on `banappeals` that allows setting `spec.decision`, as `approve`
/// on `signers` allows approving a CertificateSigningRequest.
pub const DECIDE_VERB: &str = "decide";

/// A decision can be set (on create or on update) only by a user the authorizer
/// allows to `decide` banappeals in the appeal's namespace. Without this, anyone
/// allowed to create appeals (an application, an appellant) could create one
/// that is born approved, and the operator would lift the ban: CRD rules with
/// `oldSelf` do not run on create.
fn appeal_decisions_policy() -> ValidatingAdmissionPolicy {
    let may_decide = format!(
        "authorizer.group('{GROUP}').resource('banappeals').namespace(request.namespace).check('{DECIDE_VERB}').allowed()"
    );
    policy(
        APPEAL_DECISIONS_POLICY,
        &["banappeals"],
        vec![Validation {
            // A decision already stored is final (the CRD's own rule); only
            // setting one is checked here.
            expression: format!(
                "!has(object.spec.decision) || (request.operation == 'UPDATE' && has(oldObject.spec.decision)) || {may_decide}"
            ),
            message_expression: Some(format!(
                "'spec.decision: ' + request.userInfo.username + ' may not decide appeals: setting a decision needs the {DECIDE_VERB} verb on banappeals.{GROUP} in namespace ' + request.namespace"
            )),
            reason: Some("Forbidden".to_string()),
            ..Validation::default()
        }],
    )
}

/// The policy (and its binding) that keeps the actor annotations honest.
pub const ACTOR_ANNOTATIONS_POLICY: &str = "actor-annotations.interdict.dev";

/// An actor annotation (`interdict.dev/created-by`, ...) may only name the
/// user making the request, or stay as it was. The operator's admission
/// webhook fills them in from the request; this policy is what makes them
/// unforgeable, also while the webhook is down or not installed.
fn actor_annotations_policy() -> ValidatingAdmissionPolicy {
    let validations = crate::actor::ACTOR_ANNOTATIONS
        .iter()
        .map(|key| {
            let now = format!("object.metadata.annotations['{key}']");
            let before = format!("oldObject.metadata.annotations['{key}']");
            Validation {
                expression: format!(
                    "!has(object.metadata.annotations) || !('{key}' in object.metadata.annotations) \
                     || {now} == request.userInfo.username \
                     || (request.operation == 'UPDATE' && has(oldObject.metadata.annotations) \
                         && '{key}' in oldObject.metadata.annotations && {before} == {now})"
                ),
                message_expression: Some(format!(
                    "'metadata.annotations[{key}]: ' + {now} + ' is not the requesting user ' + request.userInfo.username + '; the annotation names who made the change and is set at admission'"
                )),
                reason: Some("Forbidden".to_string()),
                ..Validation::default()
            }
        })
        .chain(std::iter::once(deleted_by_validation()))
        .collect();
    policy(
        ACTOR_ANNOTATIONS_POLICY,
        &["userbans", "featureblocks", "banappeals", "banexemptions"],
        validations,
    )
}

/// `interdict.dev/deleted-by` is written by the operator at the moment of a
/// deletion, for someone else: only a user allowed the `record-deletion`
/// verb on the kind may set or change it.
fn deleted_by_validation() -> Validation {
    use crate::actor::{DELETED_BY, RECORD_DELETION_VERB};
    let now = format!("object.metadata.annotations['{DELETED_BY}']");
    let before = format!("oldObject.metadata.annotations['{DELETED_BY}']");
    let may_record = format!(
        "authorizer.group('{GROUP}').resource(request.resource.resource).namespace(request.namespace).check('{RECORD_DELETION_VERB}').allowed()"
    );
    Validation {
        expression: format!(
            "!has(object.metadata.annotations) || !('{DELETED_BY}' in object.metadata.annotations) \
             || (request.operation == 'UPDATE' && has(oldObject.metadata.annotations) \
                 && '{DELETED_BY}' in oldObject.metadata.annotations && {before} == {now}) \
             || {may_record}"
        ),
        message_expression: Some(format!(
            "'metadata.annotations[{DELETED_BY}]: only the operator records who deleted an object (the {RECORD_DELETION_VERB} verb); ' + request.userInfo.username + ' may not'"
        )),
        reason: Some("Forbidden".to_string()),
        ..Validation::default()
    }
}

/// A policy on creates and updates of `resources` of this group.
fn policy(
    name: &str,
    resources: &[&str],
    validations: Vec<Validation>,
) -> ValidatingAdmissionPolicy {
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_string()),
            // `matchConstraints` is atomic for server-side apply: spelling out
            // the API server's defaults keeps a re-apply by another field
            // manager (an upgrade, the chart) from conflicting with the first.
            match_constraints: Some(MatchResources {
                match_policy: Some("Equivalent".to_string()),
                namespace_selector: Some(LabelSelector::default()),
                object_selector: Some(LabelSelector::default()),
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![GROUP.to_string()]),
                    api_versions: Some(vec!["*".to_string()]),
                    operations: Some(vec!["CREATE".to_string(), "UPDATE".to_string()]),
                    resources: Some(resources.iter().map(|r| r.to_string()).collect()),
                    scope: Some("*".to_string()),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            validations: Some(validations),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        ..ValidatingAdmissionPolicy::default()
    }
}

fn binding(policy: &str) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(policy.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(policy.to_string()),
            validation_actions: Some(vec!["Deny".to_string()]),
            ..ValidatingAdmissionPolicyBindingSpec::default()
        }),
    }
}

/// Every admission policy with its binding, in install order.
pub fn policies() -> (
    Vec<ValidatingAdmissionPolicy>,
    Vec<ValidatingAdmissionPolicyBinding>,
) {
    (
        vec![appeal_decisions_policy(), actor_annotations_policy()],
        vec![
            binding(APPEAL_DECISIONS_POLICY),
            binding(ACTOR_ANNOTATIONS_POLICY),
        ],
    )
}
