#[derive(Debug, thiserror::Error)]
pub enum Error {
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
