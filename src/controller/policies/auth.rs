//! Who is reporting, and may they: the caller's bearer token goes to the API
//! server's TokenReview, and the user it names to a SubjectAccessReview for
//! `create` on `offenses.interdict.dev` in the batch's namespace, so a
//! platform team grants "may report offenses in namespace X" with a Role
//! like any other permission. Answers are kept briefly (by a hash of the
//! token, never the token), so a busy reporter costs two reviews per
//! [`KEEP`], not two per batch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

/// The RBAC resource a reporter needs `create` on (group `interdict.dev`).
pub const OFFENSES_RESOURCE: &str = "offenses";
/// How long a review's answer is reused.
const KEEP: Duration = Duration::from_secs(30);
/// Answers kept at most; past it the cache starts over.
const MAX_KEPT: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// 401: no token, or one the API server does not accept.
    Unauthenticated(String),
    /// 403: a known caller without `create offenses` in the namespace.
    Forbidden(String),
    /// 503: the API server could not be asked.
    Unavailable(String),
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Unauthenticated(_) => 401,
            Denied::Forbidden(_) => 403,
            Denied::Unavailable(_) => 503,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Denied::Unauthenticated(m) | Denied::Forbidden(m) | Denied::Unavailable(m) => m,
        }
    }
}

type Cache<T> = Mutex<HashMap<String, (Result<T, Denied>, Instant)>>;

pub struct Reviewer {
    client: Client,
    users: Cache<UserInfo>,
    access: Cache<()>,
}

impl Reviewer {
    pub fn new(client: Client) -> Self {
        Reviewer {
            client,
            users: Mutex::default(),
            access: Mutex::default(),
        }
    }

    /// Who the bearer token belongs to.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<UserInfo, Denied> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Denied::Unauthenticated(
                    "send the reporter's ServiceAccount token as Authorization: Bearer <token>"
                        .into(),
                )
            })?;
        let cache_key = hex(&Sha256::digest(token.as_bytes()));
        if let Some(answer) = self.kept(&self.users, &cache_key) {
            return answer;
        }
        let answer = self.review_token(token).await;
        self.keep(&self.users, cache_key, &answer);
        answer
    }

    /// Whether `user` may report offenses in `namespace`.
    pub async fn authorize(&self, user: &UserInfo, namespace: &str) -> Result<(), Denied> {
        let name = user.username.clone().unwrap_or_default();
        let cache_key = format!(
            "{name}\n{}\n{namespace}",
            user.groups.clone().unwrap_or_default().join(",")
        );
        if let Some(answer) = self.kept(&self.access, &cache_key) {
            return answer;
        }
        let answer = self.review_access(user, namespace).await;
        self.keep(&self.access, cache_key, &answer);
        answer
    }

    fn kept<T: Clone>(&self, cache: &Cache<T>, key: &str) -> Option<Result<T, Denied>> {
        let kept = cache.lock().expect("review cache");
        kept.get(key)
            .filter(|(_, at)| at.elapsed() < KEEP)
            .map(|(answer, _)| answer.clone())
    }

    /// Keeps definite answers; "the API server could not be asked" is asked again.
    fn keep<T: Clone>(&self, cache: &Cache<T>, key: String, answer: &Result<T, Denied>) {
        if matches!(answer, Err(Denied::Unavailable(_))) {
            return;
        }
        let mut kept = cache.lock().expect("review cache");
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(key, (answer.clone(), Instant::now()));
    }

    async fn review_token(&self, token: &str) -> Result<UserInfo, Denied> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Denied::Unavailable(format!("cannot review the token: {e}")))?;
        let status = reviewed.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(Denied::Unauthenticated(format!(
                "the token is not accepted by the API server{}",
                status.error.map(|e| format!(": {e}")).unwrap_or_default()
            )));
        }
        Ok(status.user.unwrap_or_default())
    }

    async fn review_access(&self, user: &UserInfo, namespace: &str) -> Result<(), Denied> {
        let name = user.username.clone().unwrap_or_default();
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups.clone(),
                uid: user.uid.clone(),
                extra: user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()),
                    verb: Some("create".into()),
                    group: Some(crate::api::GROUP.into()),
                    resource: Some(OFFENSES_RESOURCE.into()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let decided = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await
            .map_err(|e| Denied::Unavailable(format!("cannot review the access: {e}")))?;
        if decided.status.is_some_and(|s| s.allowed) {
            Ok(())
        } else {
            Err(Denied::Forbidden(format!(
                "{name} may not report offenses in namespace {namespace}: it needs create on {OFFENSES_RESOURCE}.{} there",
                crate::api::GROUP
            )))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
