//! Kubernetes Events, written directly (`events.k8s.io/v1`, one object per
//! transition). The operator records each transition once, so it needs none of
//! the client-side aggregation a general recorder does, and none of its cache:
//! that cache is scanned on every publish, which at 100k bans makes recording
//! quadratic.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub struct EventSink {
    client: Client,
    instance: String,
}

impl EventSink {
    pub fn new(client: Client, instance: String) -> Self {
        EventSink { client, instance }
    }

    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        note: &str,
        transition: Option<&str>,
    ) -> Result<(), kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let prefix = regarding.name.clone().unwrap_or_else(|| "interdict".into());
        // kubectl's convention `<object>.<unique hex>`; generateName would need
        // a name ending in an alphanumeric, which `<object>.` does not.
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A transition's Event is named after its id, so creating it again
        // (after a crash, or by a racing pass) finds it there and adds nothing.
        let suffix = match transition {
            Some(id) => id.to_string(),
            None => format!("{unique:x}{sequence:x}"),
        };
        let name = format!("{}.{suffix}", &prefix[..prefix.len().min(200)]);
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            reporting_controller: Some("interdict.dev/operator".into()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(reason.into()),
            reason: Some(reason.into()),
            note: Some(note.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            regarding: Some(regarding.clone()),
            ..Event::default()
        };
        match Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 && transition.is_some() => Ok(()),
            Err(error) => Err(error),
        }
    }
}
