//! What can go wrong, and the exit code a script sees for it: 2 when the
//! command line or an input file is wrong (nothing was written), 1 when the
//! API server or the machine failed, 0 otherwise. One place maps errors to
//! codes so every verb keeps the promise the docs make.

use std::process::ExitCode;

/// Usage errors exit with this code, as clap's own do.
pub const EXIT_USAGE: u8 = 2;
/// API and runtime failures exit with this code.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The command line or an input file is wrong; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The API server refused or failed a request.
    #[error("{}", describe_kube(.0))]
    Kube(#[from] kube::Error),
    /// Anything else that stopped the verb (a file that cannot be read, a
    /// blocklist that cannot be loaded, nothing to act on).
    #[error("{0}")]
    Failed(String),
}

impl PluginError {
    pub fn usage(message: impl Into<String>) -> Self {
        PluginError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::Failed(message.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            PluginError::Usage(_) => EXIT_USAGE,
            PluginError::Kube(_) | PluginError::Failed(_) => EXIT_FAILURE,
        })
    }

    /// The API server's status code, when it answered with one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            PluginError::Kube(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }
}

/// `Error from server (Forbidden): ...`, as kubectl prints it, so a refusal by
/// RBAC or an admission policy reads the same as with kubectl.
fn describe_kube(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                status.code.to_string()
            } else {
                status.reason.clone()
            };
            format!("Error from server ({reason}): {}", status.message)
        }
        other => format!("cannot reach the API server: {other}"),
    }
}

pub type Result<T, E = PluginError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str, message: &str) -> PluginError {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": code, "reason": reason, "message": message,
        }))
        .unwrap();
        PluginError::Kube(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn server_errors_read_as_kubectl_prints_them() {
        let error = api_error(403, "Forbidden", "userbans is forbidden");
        assert_eq!(
            error.to_string(),
            "Error from server (Forbidden): userbans is forbidden"
        );
        assert_eq!(error.status_code(), Some(403));
    }

    #[test]
    fn usage_is_two_and_everything_else_one() {
        assert_eq!(
            PluginError::usage("x").exit_code(),
            ExitCode::from(EXIT_USAGE)
        );
        assert_eq!(
            PluginError::failed("x").exit_code(),
            ExitCode::from(EXIT_FAILURE)
        );
        assert_eq!(
            api_error(500, "", "boom").exit_code(),
            ExitCode::from(EXIT_FAILURE)
        );
        assert_eq!(
            api_error(500, "", "boom").to_string(),
            "Error from server (500): boom"
        );
    }
}
