//! What the bench creates (bans of a realistic mix, expiring bans, bare
//! ConfigMaps for the floors) and how: with retries, many requests in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

pub use crate::bans::{ban, expiring_ban};

const BLOCKLIST: &str = "interdict-blocklist";

pub fn is_blocklist(name: &str) -> bool {
    name == BLOCKLIST || name.starts_with("interdict-blocklist-")
}

pub fn config_map(name: &str, payload: usize) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("note".to_string(), "x".repeat(payload))])),
        ..ConfigMap::default()
    }
}

/// Key and value bytes of a ConfigMap's data, as the API server counts them
/// against its 1 MiB limit.
pub fn data_bytes(cm: &ConfigMap) -> usize {
    let text: usize = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    let binary: usize = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.0.len())
        .sum();
    text + binary
}

pub struct Created {
    pub elapsed: Duration,
    pub failed: usize,
    pub first_error: Option<String>,
}

impl Created {
    pub fn rate(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn create_one<K>(api: &Api<K>, object: &K) -> Result<(), String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for attempt in 0..6u32 {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return Ok(()),
            // An earlier attempt that timed out on our side did create it.
            Err(kube::Error::Api(status)) if status.code == 409 && attempt > 0 => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 429 || status.code >= 500 => {}
            Err(kube::Error::Api(status)) => return Err(format!("{status:?}")),
            Err(_) if attempt < 5 => {}
            Err(error) => return Err(error.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
    }
    Err("gave up after 6 attempts".into())
}

/// Creates every object with `concurrency` requests in flight; progress on stderr.
pub async fn create_all<K, I>(
    api: &Api<K>,
    objects: I,
    total: usize,
    concurrency: usize,
    what: &str,
) -> Created
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    I: Iterator<Item = K>,
{
    let start = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let done = done.clone();
        let what = what.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let n = done.load(Ordering::Relaxed);
                eprintln!(
                    "bench:   {what}: {n}/{total} created ({:.0}/s)",
                    n as f64 / start.elapsed().as_secs_f64()
                );
            }
        })
    };
    let errors: Vec<String> = futures::stream::iter(objects)
        .map(|object| {
            let api = api.clone();
            let done = done.clone();
            async move {
                let result = create_one(&api, &object).await;
                done.fetch_add(1, Ordering::Relaxed);
                result
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| futures::future::ready(r.err()))
        .collect()
        .await;
    ticker.abort();
    Created {
        elapsed: start.elapsed(),
        failed: errors.len(),
        first_error: errors.into_iter().next(),
    }
}
