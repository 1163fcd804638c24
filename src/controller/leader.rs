//! Leader election on a `coordination.k8s.io` Lease: with several replicas only
//! the holder reconciles (and so writes); a standby takes over when the lease
//! is released (graceful stop) or expires (the holder died).
//!
//! Expiry is judged on this process's monotonic clock from when the lease
//! record last changed, never by comparing the holder's `renewTime` with our
//! wall clock, so skew between machines cannot cause two leaders.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;

/// How long a lease is valid without renewal: the worst-case takeover after a crash.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// The holder renews (and a standby retries) this often.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// A holder that cannot renew for this long stops, before its lease can expire
/// for the others.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// The lease's resourceVersion when we first saw it, and when.
    observed: Option<(String, Instant)>,
    /// Where the holder takes offense reports, written on the lease so a
    /// standby can pass reports on to it.
    intake_url: Option<String>,
}

/// The lease annotation that names the holder's offense intake URL.
pub const INTAKE_URL_ANNOTATION: &str = "interdict.dev/intake-url";

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaderElector {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            observed: None,
            intake_url: None,
        }
    }

    /// Advertises `url` on the lease while this process holds it.
    pub fn advertising(mut self, url: Option<String>) -> Self {
        self.intake_url = url;
        self
    }

    fn annotations(&self) -> Option<std::collections::BTreeMap<String, String>> {
        self.intake_url
            .as_ref()
            .map(|url| [(INTAKE_URL_ANNOTATION.to_string(), url.clone())].into())
    }

    /// One attempt to take or renew the lease. `Ok(true)`: we hold it now.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    annotations: self.annotations(),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((version, at));
                at
            }
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if holder.is_some() && !ours && first_seen.elapsed() < duration {
            return Ok(false);
        }
        if !ours {
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
        spec.renew_time = Some(now());
        let annotations = lease.metadata.annotations.get_or_insert_default();
        match &self.intake_url {
            Some(url) => {
                annotations.insert(INTAKE_URL_ANNOTATION.to_string(), url.clone());
            }
            None => {
                annotations.remove(INTAKE_URL_ANNOTATION);
            }
        }
        // resourceVersion makes this a compare-and-swap: of two candidates, one wins.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observed = updated
                    .metadata
                    .resource_version
                    .map(|v| (v, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Waits until this process holds the lease.
    pub async fn acquire(&mut self) {
        let mut waiting_logged = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.identity, lease = %self.name, "acquired the leader lease");
                    return;
                }
                Ok(false) if !waiting_logged => {
                    tracing::info!(lease = %self.name, "another replica leads; standing by");
                    waiting_logged = true;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot read or take the leader lease"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the lease until it cannot for [`RENEW_DEADLINE`]; returns then.
    pub async fn hold(&mut self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "the leader lease was taken by another replica");
                    return;
                }
                Err(error) => tracing::warn!(%error, "cannot renew the leader lease"),
            }
            if last_renewal.elapsed() >= RENEW_DEADLINE {
                tracing::error!(lease = %self.name, "could not renew the leader lease in time");
                return;
            }
        }
    }

    /// Gives the lease up so a standby takes over at its next retry instead of
    /// waiting for expiry.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released the leader lease"),
            Err(error) => {
                tracing::warn!(%error, "cannot release the leader lease; it expires by itself")
            }
        }
    }
}
