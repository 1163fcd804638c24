use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{BanAppeal, BanExemption, BanPolicy, FeatureBlock, UserBan};

/// Every CRD the operator serves, ordered like the files in `crds/` (by name).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        BanAppeal::crd(),
        BanExemption::crd(),
        BanPolicy::crd(),
        FeatureBlock::crd(),
        UserBan::crd(),
    ]
}

/// The CRDs and the admission policies that complete them, as one
/// multi-document YAML stream, exactly as checked into `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    let mut push = |yaml: String| {
        out.push_str("---\n");
        out.push_str(&yaml);
    };
    for crd in crds() {
        push(serde_yaml::to_string(&crd)?);
    }
    let (policies, bindings) = super::admission::policies();
    for policy in policies {
        push(serde_yaml::to_string(&policy)?);
    }
    for binding in bindings {
        push(serde_yaml::to_string(&binding)?);
    }
    Ok(out)
}
