//! The API calls the verbs share: finding bans (by subject with field
//! selectors, by batch label, by name), writing new ones (create, or
//! server-side apply for imports) and lifting them with a merge patch on
//! `spec.lift`. Every write names the field manager `kubectl-interdict`.

use clap::ValueEnum;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{PluginError, Result};
use super::manifest::Manifest;
use super::subject::SubjectRef;
use super::view::AnyBan;
use crate::api::{BanKind, FeatureBlock, Lift, SUBJECT_LABEL, UserBan};

/// The field manager of every write, so `kubectl get --show-managed-fields`
/// tells the plugin's changes apart.
pub const FIELD_MANAGER: &str = "kubectl-interdict";

/// `--dry-run` (client: print, send nothing) or `--dry-run=server` (the API
/// server checks and admits the request, and stores nothing).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    None,
    Client,
    Server,
}

/// Where to look: one namespace, or every namespace (`-A`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Where {
    Namespace(String),
    All,
}

impl Where {
    pub fn of(namespace: &str, all: bool) -> Where {
        if all {
            Where::All
        } else {
            Where::Namespace(namespace.to_string())
        }
    }

    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match self {
            Where::Namespace(ns) => Api::namespaced(client.clone(), ns),
            Where::All => Api::all(client.clone()),
        }
    }

    /// `in namespace apps` / `in any namespace`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Where::Namespace(ns) => format!("in namespace {ns}"),
            Where::All => "in any namespace".to_string(),
        }
    }
}

/// Which kinds a listing covers.
pub fn kinds(only: Option<BanKind>) -> Vec<BanKind> {
    match only {
        Some(kind) => vec![kind],
        None => vec![BanKind::UserBan, BanKind::FeatureBlock],
    }
}

async fn list<K>(api: &Api<K>, params: &ListParams) -> Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(api.list(params).await?.items)
}

/// Every ban of `kinds` in `place` matching the selectors, oldest first.
pub async fn list_bans(
    client: &Client,
    place: &Where,
    kinds: &[BanKind],
    fields: Option<&str>,
    labels: Option<&str>,
) -> Result<Vec<AnyBan>> {
    let mut params = ListParams::default();
    if let Some(fields) = fields {
        params = params.fields(fields);
    }
    if let Some(labels) = labels {
        params = params.labels(labels);
    }
    let mut bans = Vec::new();
    for kind in kinds {
        match kind {
            BanKind::UserBan => bans.extend(
                list(&place.api::<UserBan>(client), &params)
                    .await?
                    .into_iter()
                    .map(AnyBan::User),
            ),
            BanKind::FeatureBlock => bans.extend(
                list(&place.api::<FeatureBlock>(client), &params)
                    .await?
                    .into_iter()
                    .map(AnyBan::Feature),
            ),
        }
    }
    sort(&mut bans);
    Ok(bans)
}

/// Oldest first, then by namespace, kind and name: a stable order for tables
/// and exports.
pub fn sort(bans: &mut [AnyBan]) {
    bans.sort_by(|a, b| {
        (a.created(), a.namespace(), a.kind() as u8, a.name()).cmp(&(
            b.created(),
            b.namespace(),
            b.kind() as u8,
            b.name(),
        ))
    });
}

/// How a subject's bans are looked up on the API server.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lookup {
    /// Field selectors, and the label when the cluster has no selectable fields.
    #[default]
    Auto,
    /// `spec.subject.*` field selectors (Kubernetes 1.32 and later).
    Fields,
    /// The `interdict.dev/subject` label the operator keeps on every ban
    /// (any cluster; bans the operator has not seen yet lack it).
    Labels,
}

/// Every ban of the subject in `place`, found by the API server with the
/// `spec.subject.*` field selectors (each spelling of a network) or, on a
/// cluster without selectable fields, the operator's subject label.
pub async fn bans_of(
    client: &Client,
    place: &Where,
    subject: &SubjectRef,
    typed_ip: Option<&str>,
    lookup: Lookup,
) -> Result<Vec<AnyBan>> {
    let mut found: Vec<AnyBan> = Vec::new();
    let mut add = |bans: Vec<AnyBan>| {
        for ban in bans {
            let seen = found.iter().any(|b| {
                (b.kind(), b.namespace(), b.name()) == (ban.kind(), ban.namespace(), ban.name())
            });
            if !seen {
                found.push(ban);
            }
        }
    };
    let by_label = |client| async move {
        let selector = format!("{SUBJECT_LABEL}={}", subject.lookup_label());
        list_bans(client, place, &kinds(None), None, Some(&selector)).await
    };
    match lookup {
        Lookup::Labels => add(by_label(client).await?),
        Lookup::Fields | Lookup::Auto => {
            for selector in subject.field_selectors(typed_ip) {
                match list_bans(client, place, &kinds(None), Some(&selector), None).await {
                    Ok(bans) => add(bans),
                    Err(error) if lookup == Lookup::Auto && fields_unsupported(&error) => {
                        add(by_label(client).await?);
                        break;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
    }
    sort(&mut found);
    Ok(found)
}

/// The API server's answer to a field selector on a field the CRD does not
/// declare selectable (clusters before 1.32, or CRDs installed by an older chart).
fn fields_unsupported(error: &PluginError) -> bool {
    matches!(error, PluginError::Kube(kube::Error::Api(status))
        if status.code == 400 && status.message.contains("field label not supported"))
}

/// A ban named on the command line: `NAME`, `ub/NAME`, `fb/NAME`,
/// `userban/NAME`, `featureblocks.interdict.dev/NAME`, …; a bare name that
/// both kinds hold is ambiguous.
pub async fn get_named(client: &Client, namespace: &str, reference: &str) -> Result<AnyBan> {
    let (kind, name) = parse_reference(reference).map_err(PluginError::usage)?;
    let users: Api<UserBan> = Api::namespaced(client.clone(), namespace);
    let blocks: Api<FeatureBlock> = Api::namespaced(client.clone(), namespace);
    let user = match kind {
        None | Some(BanKind::UserBan) => users.get_opt(name).await?.map(AnyBan::User),
        _ => None,
    };
    let block = match kind {
        None | Some(BanKind::FeatureBlock) => blocks.get_opt(name).await?.map(AnyBan::Feature),
        _ => None,
    };
    match (user, block) {
        (Some(_), Some(_)) => Err(PluginError::usage(format!(
            "both a UserBan and a FeatureBlock are named {name} in namespace {namespace}: say ub/{name} or fb/{name}"
        ))),
        (Some(ban), None) | (None, Some(ban)) => Ok(ban),
        (None, None) => Err(PluginError::failed(format!(
            "no {} named {name} in namespace {namespace}",
            match kind {
                Some(BanKind::UserBan) => "UserBan",
                Some(BanKind::FeatureBlock) => "FeatureBlock",
                None => "UserBan or FeatureBlock",
            }
        ))),
    }
}

/// `(kind, name)` of a reference as kubectl spells resources.
pub fn parse_reference(reference: &str) -> std::result::Result<(Option<BanKind>, &str), String> {
    let (kind, name) = match reference.split_once('/') {
        None => (None, reference),
        Some((kind, name)) => {
            let kind = match kind.to_ascii_lowercase().as_str() {
                "ub"
                | "userban"
                | "userbans"
                | "userban.interdict.dev"
                | "userbans.interdict.dev" => BanKind::UserBan,
                "fb"
                | "featureblock"
                | "featureblocks"
                | "featureblock.interdict.dev"
                | "featureblocks.interdict.dev" => BanKind::FeatureBlock,
                other => {
                    return Err(format!(
                        "{other:?} is not a kind of ban: use ub/NAME or fb/NAME"
                    ));
                }
            };
            (Some(kind), name)
        }
    };
    if name.is_empty() {
        return Err(format!("{reference:?} names no ban"));
    }
    Ok((kind, name))
}

fn patch_params(dry_run: DryRun, manager: &str) -> PatchParams {
    let mut params = PatchParams {
        field_manager: Some(manager.to_string()),
        ..PatchParams::default()
    };
    params.dry_run = dry_run == DryRun::Server;
    params
}

/// Sets `spec.lift` with a merge patch, as `kubectl patch` would: the ban
/// becomes Lifted, keeping the object as the record. A merge patch rather
/// than an apply, so a later import (which applies without `lift`) cannot
/// take the lift back.
pub async fn lift(client: &Client, ban: &AnyBan, lift: &Lift, dry_run: DryRun) -> Result<AnyBan> {
    lift_as(client, ban, lift, dry_run, FIELD_MANAGER).await
}

/// [`lift`] under another field manager (the web console's).
pub async fn lift_as(
    client: &Client,
    ban: &AnyBan,
    lift: &Lift,
    dry_run: DryRun,
    manager: &str,
) -> Result<AnyBan> {
    let patch = Patch::Merge(serde_json::json!({ "spec": { "lift": lift } }));
    let params = patch_params(dry_run, manager);
    let namespace = ban.namespace();
    let name = ban.name();
    Ok(match ban.kind() {
        BanKind::UserBan => AnyBan::User(
            Api::<UserBan>::namespaced(client.clone(), &namespace)
                .patch(&name, &params, &patch)
                .await?,
        ),
        BanKind::FeatureBlock => AnyBan::Feature(
            Api::<FeatureBlock>::namespaced(client.clone(), &namespace)
                .patch(&name, &params, &patch)
                .await?,
        ),
    })
}

async fn create_or_apply_one<K>(api: Api<K>, name: &str, object: &K, dry_run: DryRun) -> Result<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let create = PostParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    match api.create(&create, object).await {
        Err(kube::Error::Api(status)) if status.code == 409 => {
            // Forced: the create above made this manager the fields' owner
            // by an update, which server-side apply counts as another
            // manager; the manifest is what the user asked for either way.
            let mut params = PatchParams::apply(FIELD_MANAGER).force();
            params.dry_run = dry_run == DryRun::Server;
            Ok(api.patch(name, &params, &Patch::Apply(object)).await?)
        }
        other => Ok(other?),
    }
}

/// Creates the ban, or when one of that name exists, brings it to the
/// manifest by server-side apply (nothing changes when it already matches:
/// a re-run import). A create costs the API server less than an apply, and
/// nearly every row of an import is new.
pub async fn create_or_apply(
    client: &Client,
    namespace: &str,
    manifest: &Manifest,
    dry_run: DryRun,
) -> Result<AnyBan> {
    Ok(match manifest {
        Manifest::UserBan(ban) => AnyBan::User(
            create_or_apply_one(
                Api::namespaced(client.clone(), namespace),
                manifest.name(),
                ban,
                dry_run,
            )
            .await?,
        ),
        Manifest::FeatureBlock(block) => AnyBan::Feature(
            create_or_apply_one(
                Api::namespaced(client.clone(), namespace),
                manifest.name(),
                block,
                dry_run,
            )
            .await?,
        ),
    })
}

/// Creates the ban; an existing one of the same name is an error, never
/// overwritten (a ban that ended must not silently stand for a new one).
pub async fn create(
    client: &Client,
    namespace: &str,
    manifest: &Manifest,
    dry_run: DryRun,
) -> Result<AnyBan> {
    create_as(client, namespace, manifest, dry_run, FIELD_MANAGER).await
}

/// [`create`] under another field manager (the web console's).
pub async fn create_as(
    client: &Client,
    namespace: &str,
    manifest: &Manifest,
    dry_run: DryRun,
    manager: &str,
) -> Result<AnyBan> {
    let params = PostParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some(manager.to_string()),
    };
    let created = match manifest {
        Manifest::UserBan(ban) => Api::<UserBan>::namespaced(client.clone(), namespace)
            .create(&params, ban)
            .await
            .map(AnyBan::User),
        Manifest::FeatureBlock(block) => Api::<FeatureBlock>::namespaced(client.clone(), namespace)
            .create(&params, block)
            .await
            .map(AnyBan::Feature),
    };
    match created {
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = get_named(
                client,
                namespace,
                &format!("{}/{}", short_kind(manifest.kind()), manifest.name()),
            )
            .await
            .ok();
            let phase = existing
                .and_then(|b| b.phase())
                .map_or("no phase yet", |p| p.as_str());
            Err(PluginError::failed(format!(
                "{} already exists in namespace {namespace} ({phase}); lift it first or give another --name",
                manifest.reference()
            )))
        }
        other => Ok(other?),
    }
}

pub fn short_kind(kind: BanKind) -> &'static str {
    match kind {
        BanKind::UserBan => "ub",
        BanKind::FeatureBlock => "fb",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_like_kubectl_resources() {
        assert_eq!(parse_reference("spam-1"), Ok((None, "spam-1")));
        assert_eq!(
            parse_reference("ub/spam-1"),
            Ok((Some(BanKind::UserBan), "spam-1"))
        );
        assert_eq!(
            parse_reference("featureblocks.interdict.dev/x"),
            Ok((Some(BanKind::FeatureBlock), "x"))
        );
        assert!(parse_reference("pod/x").is_err());
        assert!(parse_reference("ub/").is_err());
    }

    #[test]
    fn places_describe_themselves() {
        assert_eq!(Where::of("apps", false).describe(), "in namespace apps");
        assert_eq!(Where::of("apps", true), Where::All);
    }
}
