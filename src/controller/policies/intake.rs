//! `POST /v1/offenses` on the operator: who is reporting (TokenReview), the
//! batch checked whole, whether they may report in its namespace
//! (SubjectAccessReview), then counted by the leader. A standby passes the
//! request on to the leader named on the lease, unchanged (the leader checks
//! it again); a request already passed on is never passed on twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use serde_json::json;

use super::auth::Reviewer;
use super::engine::PolicyEngine;
use crate::controller::leader::INTAKE_URL_ANNOTATION;
use crate::http::{FORWARDED_HEADER, PostHandler, Posted, Response};
use crate::http_post::Poster;
use crate::policy::parse_batch;

pub const OFFENSES_PATH: &str = "/v1/offenses";

/// How long a standby trusts the leader URL it read from the lease.
const LEADER_URL_KEPT: Duration = Duration::from_secs(2);

pub struct Intake {
    engine: Arc<PolicyEngine>,
    reviewer: Reviewer,
    /// True while this process holds the lease (or runs alone).
    leading: Arc<AtomicBool>,
    leader: Option<LeaderLookup>,
    poster: Poster,
}

/// Where a standby finds the leader: the URL it advertises on the lease.
pub struct LeaderLookup {
    api: Api<Lease>,
    name: String,
    kept: tokio::sync::Mutex<Option<(Option<String>, Instant)>>,
}

impl LeaderLookup {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        LeaderLookup {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn url(&self) -> Option<String> {
        let mut kept = self.kept.lock().await;
        if let Some((url, at)) = kept.as_ref()
            && at.elapsed() < LEADER_URL_KEPT
        {
            return url.clone();
        }
        let url = self
            .api
            .get_opt(&self.name)
            .await
            .ok()
            .flatten()
            .and_then(|lease| {
                lease
                    .metadata
                    .annotations?
                    .get(INTAKE_URL_ANNOTATION)
                    .cloned()
            });
        *kept = Some((url.clone(), Instant::now()));
        url
    }
}

impl Intake {
    pub fn new(
        engine: Arc<PolicyEngine>,
        client: Client,
        leading: Arc<AtomicBool>,
        leader: Option<LeaderLookup>,
    ) -> Self {
        Intake {
            engine,
            reviewer: Reviewer::new(client),
            leading,
            leader,
            poster: Poster::new(Duration::from_secs(10)),
        }
    }

    pub fn handler(self: Arc<Self>) -> PostHandler {
        Arc::new(move |posted| {
            let intake = self.clone();
            Box::pin(async move { intake.handle(posted).await })
        })
    }

    async fn handle(&self, posted: Posted) -> Response {
        if posted.path != OFFENSES_PATH {
            return Response::error(404, format!("no such endpoint: POST {}", posted.path));
        }
        if !self.leading.load(Ordering::Acquire) {
            return self.pass_on(posted).await;
        }
        let user = match self
            .reviewer
            .authenticate(posted.authorization.as_deref())
            .await
        {
            Ok(user) => user,
            Err(denied) => return Response::error(denied.status(), denied.message().to_string()),
        };
        let now = Utc::now();
        let (namespace, mut offenses) = match parse_batch(&posted.body, now) {
            Ok(batch) => batch,
            Err(error) => return Response::error(400, error.to_string()),
        };
        if let Some(key) = self.engine.email_key() {
            offenses
                .iter_mut()
                .for_each(|offense| offense.key_emails(key));
        }
        if let Err(denied) = self.reviewer.authorize(&user, &namespace).await {
            return Response::error(denied.status(), denied.message().to_string());
        }
        let reported = self.engine.report(&namespace, &offenses, now).await;
        Response::json(
            200,
            json!({
                "accepted": offenses.len(),
                "counted": reported.counted,
                "bans": reported.bans,
            }),
        )
    }

    async fn pass_on(&self, posted: Posted) -> Response {
        let unavailable = |why: String| Response::error(503, why);
        if posted.forwarded {
            return unavailable("this replica is not the leader either; retry shortly".into());
        }
        let Some(lookup) = &self.leader else {
            return unavailable("not the leader, and no leader to pass the report on to".into());
        };
        let Some(url) = lookup.url().await else {
            return unavailable("no leader has advertised an intake URL yet; retry shortly".into());
        };
        let mut headers = vec![(FORWARDED_HEADER, "1".to_string())];
        if let Some(authorization) = posted.authorization {
            headers.push(("authorization", authorization));
        }
        let target = format!("{}{OFFENSES_PATH}", url.trim_end_matches('/'));
        match self.poster.post(&target, &headers, posted.body).await {
            Ok(answer) => answer.relayed(),
            Err(error) => unavailable(format!("cannot pass the report on to the leader: {error}")),
        }
    }
}
