//! What settling one ban costs the API server, write by write: the finalizer
//! (server-side apply of one list item), the status by server-side apply (as
//! the operator writes it) and by merge patch (the alternative), and one
//! Event. Each kind is written to every ban of a set, with the operator not
//! running, and measured in wall time and in kube-apiserver + etcd CPU.

use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use interdict::api::UserBan;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::bench::{Bench, Cells};
use crate::format::fmt_ms;
use crate::objects::{ban, create_all};

const MANAGER: &str = "interdict";

#[derive(Clone, Copy, Debug)]
pub enum Write {
    Finalizer,
    StatusApply,
    StatusMerge,
    Event,
}

impl Write {
    fn label(self) -> &'static str {
        match self {
            Write::Finalizer => "finalizer (server-side apply)",
            Write::StatusApply => "status (server-side apply)",
            Write::StatusMerge => "status (merge patch)",
            Write::Event => "Event (create)",
        }
    }
}

impl Bench {
    pub async fn phase_settling(&mut self) {
        let n = self.s.expiry.max(10);
        eprintln!("bench: == what settling a ban costs the API server ({n} bans per write kind)");
        let ns = self.namespace("settling").await;
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let names = |set: &'static str| (0..n).map(move |i| format!("{set}-{i:05}"));
        for set in ["apply", "merge"] {
            let objects = names(set).enumerate().map(|(i, name)| ban(&name, i));
            create_all(&bans, objects, n, self.s.concurrency, "settling bans").await;
        }
        let plan = [
            (Write::Finalizer, "apply"),
            (Write::StatusApply, "apply"),
            (Write::StatusMerge, "merge"),
            (Write::Event, "apply"),
        ];
        for (write, set) in plan {
            let before = self.control_plane_cpu();
            let started = Instant::now();
            let failures = self.write_all(&ns, write, names(set).collect()).await;
            let wall = started.elapsed();
            let cpu = self.control_plane_cpu() - before;
            let per_write_ms = 1e3 * cpu / n as f64;
            let rate = n as f64 / wall.as_secs_f64();
            self.raw(format!(
                "settling: {} x{n}: {:.1} s wall, {rate:.0}/s, kube-apiserver + etcd CPU {cpu:.2} s ({per_write_ms:.2} ms per write), {failures} failed",
                write.label(),
                wall.as_secs_f64(),
            ));
            self.row(
                &format!("API server cost per ban: {}", write.label()),
                &n.to_string(),
                Cells::new(format!("{} CPU, {rate:.0}/s", fmt_ms(per_write_ms))),
            );
        }
    }

    /// kube-apiserver + etcd CPU seconds so far.
    fn control_plane_cpu(&self) -> f64 {
        self.cluster_pids
            .iter()
            .filter_map(|(_, pid)| crate::metered::cpu_seconds(*pid))
            .sum()
    }

    pub async fn write_all(&self, ns: &str, write: Write, names: Vec<String>) -> usize {
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let results: Vec<Result<(), kube::Error>> = futures::stream::iter(names)
            .map(|name| {
                let (bans, events) = (bans.clone(), events.clone());
                async move { one(&bans, &events, write, &name, ns).await }
            })
            .buffer_unordered(self.s.concurrency)
            .collect()
            .await;
        if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
            eprintln!("bench: settling: {} failed: {error}", write.label());
        }
        results.iter().filter(|r| r.is_err()).count()
    }
}

async fn one(
    bans: &Api<UserBan>,
    events: &Api<Event>,
    write: Write,
    name: &str,
    namespace: &str,
) -> Result<(), kube::Error> {
    let apply = PatchParams::apply(MANAGER).force();
    match write {
        Write::Finalizer => {
            let patch = json!({
                "apiVersion": "interdict.dev/v1alpha1",
                "kind": "UserBan",
                "metadata": { "name": name, "finalizers": ["interdict.dev/record-deletion"] },
            });
            bans.patch(name, &apply, &Patch::Apply(&patch)).await?;
        }
        Write::StatusApply => {
            let patch = json!({
                "apiVersion": "interdict.dev/v1alpha1",
                "kind": "UserBan",
                "status": status(name),
            });
            bans.patch_status(name, &apply, &Patch::Apply(&patch))
                .await?;
        }
        Write::StatusMerge => {
            let patch = json!({ "status": status(name) });
            bans.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Write::Event => {
            let event: Event = serde_json::from_value(json!({
                "metadata": { "name": format!("{name}.applied") },
                "eventTime": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
                "reportingController": "interdict.dev/operator",
                "reportingInstance": "bench",
                "action": "Applied",
                "reason": "Applied",
                "note": "UserBan in force: userId user-1 suspended",
                "type": "Normal",
                "regarding": {
                    "apiVersion": "interdict.dev/v1alpha1",
                    "kind": "UserBan",
                    "name": name,
                    "namespace": namespace,
                },
            }))
            .expect("a valid Event");
            events.create(&PostParams::default(), &event).await?;
        }
    }
    Ok(())
}

/// A status as the operator writes it for a ban in force.
fn status(name: &str) -> Value {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "observedGeneration": 1,
        "phase": "Active",
        "effectiveFrom": now,
        "subject": format!("userId {name}"),
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Active",
            "message": "In force and published in the blocklist",
            "lastTransitionTime": now,
            "observedGeneration": 1,
        }],
    })
}
