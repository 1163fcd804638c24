#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ConfigMap {namespace}/{name} exists and is not managed by interdict (it lacks the label {label}={value}), so the blocklist is not written there; delete or rename that ConfigMap, or run the operator with another --blocklist-name",
        label = super::MANAGED_BY_LABEL,
        value = super::MANAGED_BY
    )]
    BlocklistConflict { namespace: String, name: String },

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

    #[error("{} status write(s) failed; first: {}", .0.len(), .0[0])]
    Statuses(Vec<Error>),
}

impl Error {
    /// The machine reason of the Warning Event this error is reported with.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::BlocklistConflict { .. } => super::reasons::BLOCKLIST_CONFLICT,
            _ => super::reasons::RECONCILE_FAILED,
        }
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
