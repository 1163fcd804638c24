use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Who a ban applies to. Exactly one identifier is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.userId) ? 1 : 0) + (has(self.username) ? 1 : 0) + (has(self.email) ? 1 : 0) + (has(self.ip) ? 1 : 0) + (has(self.keyFingerprint) ? 1 : 0) == 1"
).message("subject must set exactly one of userId, username, email, ip, keyFingerprint"))]
pub struct Subject {
    /// The application's stable user identifier (e.g. a database id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub user_id: Option<String>,

    /// A public user name or handle, matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub username: Option<String>,

    /// An email address. Canonicalised (trimmed, lower-cased, `+tag` dropped) and
    /// published in blocklists only as `sha256:<hex>` of the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^\\\\s*[^@\\\\s]+@[^@\\\\s]+\\\\s*$')")
        .message("email must look like name@domain"))]
    pub email: Option<String>,

    /// An IPv4 or IPv6 address, or a CIDR range such as `203.0.113.0/24` or `2001:db8::/32`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isIP(self) || isCIDR(self)")
        .message("ip must be an IPv4/IPv6 address or CIDR, like 203.0.113.7 or 10.0.0.0/8"))]
    pub ip: Option<String>,

    /// A signing-key fingerprint identifying a pseudonymous author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub key_fingerprint: Option<String>,
}
