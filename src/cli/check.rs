use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use crate::core::Query;
use crate::core::Scope;

/// `interdict check`: the same question an application asks, answered from files.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("subject").required(true).multiple(true)
    .args(["user", "username", "email", "ip", "key"])))]
pub struct CheckArgs {
    /// Blocklist directory (a mounted ConfigMap, or files saved from one).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,

    /// The feature the subject wants to use.
    #[arg(long, value_name = "FEATURE")]
    pub feature: String,

    /// The subject's user id.
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,

    /// The subject's user name.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,

    /// The subject's email address, as typed (canonicalised and hashed before
    /// matching), or its `sha256:` hash.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,

    /// The client's IP address.
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,

    /// The subject's signing-key fingerprint.
    #[arg(long, value_name = "FINGERPRINT")]
    pub key: Option<String>,

    /// A context of the request, e.g. `academy=downtown-miami`; repeatable.
    #[arg(long = "scope", value_name = "KIND=NAME", value_parser = Scope::parse_pair)]
    pub scopes: Vec<Scope>,

    /// Decide as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,

    /// The operator's email key: `--email` also matches entries keyed with it.
    #[command(flatten)]
    pub email_key: super::EmailKeyArg,
}

impl CheckArgs {
    pub fn query(&self) -> Query {
        Query {
            user_id: self.user.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            ip: self.ip,
            key_fingerprint: self.key.clone(),
            feature: self.feature.clone(),
            scopes: self.scopes.clone(),
        }
    }
}
