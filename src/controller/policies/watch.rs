//! The BanPolicy watch: one reflector per watched scope, like the bans'.

use futures::{Future, StreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::api::BanPolicy;

/// One store per watched scope (`None`: every namespace).
pub type PolicyStores = Vec<(Option<String>, Store<BanPolicy>)>;

pub fn watch_policies(
    client: &Client,
    namespaces: &[String],
) -> (PolicyStores, impl Future<Output = ()> + Send + use<>) {
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    };
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    for scope in scopes {
        let api = match &scope {
            Some(ns) => Api::<BanPolicy>::namespaced(client.clone(), ns),
            None => Api::<BanPolicy>::all(client.clone()),
        };
        let (reader, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|p: &mut BanPolicy| p.metadata.managed_fields = None),
        )
        .filter_map(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, "BanPolicy watch failed; retrying with backoff");
            }
            None::<()>
        })
        .boxed();
        streams.push(stream);
        stores.push((scope, reader));
    }
    let driving = async move {
        let mut all = futures::stream::select_all(streams);
        while all.next().await.is_some() {}
    };
    (stores, driving)
}
