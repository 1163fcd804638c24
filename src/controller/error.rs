#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ConfigMap {namespace}/{name} exists and is not managed by interdict (it lacks the label {label}={value}), so the blocklist is not written there; delete or rename that ConfigMap, or run the operator with another --blocklist-name",
        label = super::MANAGED_BY_LABEL,
        value = super::MANAGED_BY
    )]
    BlocklistConflict { namespace: String, name: String },

    #[error(
        "the blocklist of namespace {namespace} does not fit: with {shards} shards (--max-shards) one would hold {bytes} bytes, over the {limit}-byte limit (--shard-max-bytes); nothing is written until --max-shards is raised (the published blocklist stays as it was)"
    )]
    BlocklistTooLarge {
        namespace: String,
        shards: u32,
        bytes: usize,
        limit: usize,
    },

    #[error("cannot write blocklist ConfigMap {namespace}/{name}: {source}")]
    WriteBlocklist {
        namespace: String,
        name: String,
        source: kube::Error,
    },

    #[error("cannot write status of {kind} {namespace}/{name}: {source}")]
    WriteStatus {
        kind: String,
        namespace: String,
        name: String,
        source: kube::Error,
    },

    #[error("cannot write the {reason} Event of {namespace}/{name}: {source}")]
    WriteEvent {
        reason: &'static str,
        namespace: String,
        name: String,
        source: kube::Error,
    },

    #[error("{} status write(s) failed; first: {}", .0.len(), .0[0])]
    Statuses(Vec<Error>),
}

impl Error {
    /// The machine reason of the Warning Event this error is reported with.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::BlocklistConflict { .. } => super::reasons::BLOCKLIST_CONFLICT,
            Error::BlocklistTooLarge { .. } => super::reasons::BLOCKLIST_TOO_LARGE,
            _ => super::reasons::RECONCILE_FAILED,
        }
    }

    /// Errors that keep a namespace's bans out of the blocklist until a person
    /// acts: the bans then say so in their Ready condition.
    pub fn blocks_publication(&self) -> bool {
        matches!(
            self,
            Error::BlocklistConflict { .. } | Error::BlocklistTooLarge { .. }
        )
    }

    /// The ConfigMap the error is about, when it names one.
    pub fn configmap(&self) -> Option<&str> {
        match self {
            Error::BlocklistConflict { name, .. } | Error::WriteBlocklist { name, .. } => {
                Some(name)
            }
            _ => None,
        }
    }
}
