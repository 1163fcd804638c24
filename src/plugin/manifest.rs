//! A ban as the plugin writes it: from a checked request (flags or an import
//! row) to the UserBan or FeatureBlock manifest, with the checks the API
//! server would make done first, so one bad value is reported with its field
//! (and in an import, its line) before anything is sent.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use serde::Serialize;

use super::checks::{check_features, check_line, check_scopes, check_text, check_token};
use super::naming::{check_batch, check_name, generated_name};
use super::subject::SubjectRef;
use super::timing::Timing;
use crate::api::{
    Appeal, BanKind, BanMode, BanReason, FeatureBlock, FeatureBlockSpec, Scope, UserBan,
    UserBanSpec,
};

/// The label every object of one bulk import carries.
pub const BATCH_LABEL: &str = "interdict.dev/batch";

/// Everything a new ban needs, already parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct BanRequest {
    pub kind: BanKind,
    pub mode: BanMode,
    pub subject: SubjectRef,
    /// Confirms an IP range wider than the API server allows by default.
    pub acknowledge_wide_range: bool,
    pub timing: Timing,
    pub reason: String,
    pub notes: Option<String>,
    pub message: Option<String>,
    /// `Some` when the subject may appeal.
    pub appeal: Option<Appeal>,
    pub features: Vec<String>,
    pub scopes: Vec<Scope>,
    pub name: Option<String>,
    pub batch: Option<String>,
}

/// A field of a request that the API server would refuse, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The import column (and, prefixed with `--`, the flag) at fault.
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl BanRequest {
    /// A request for `kind` with nothing but its subject and reason set.
    pub fn new(kind: BanKind, subject: SubjectRef, reason: &str) -> Self {
        BanRequest {
            kind,
            mode: BanMode::Suspend,
            subject,
            acknowledge_wide_range: false,
            timing: Timing::default(),
            reason: reason.to_string(),
            notes: None,
            message: None,
            appeal: None,
            features: Vec::new(),
            scopes: Vec::new(),
            name: None,
            batch: None,
        }
    }

    /// The name given, else the one derived from the ban.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            generated_name(
                self.kind,
                &self.reason,
                &self.subject,
                &self.features,
                &self.scopes,
            )
        })
    }

    /// The API server's rules for these fields (the CRD's schema and CEL),
    /// checked here so nothing is sent that it would refuse.
    pub fn check(&self) -> Result<(), FieldError> {
        check_token(&self.reason).map_err(|e| field_error("reason", format!("reason code {e}")))?;
        if let Some(notes) = &self.notes {
            check_text(notes, 4096).map_err(|e| field_error("notes", e))?;
        }
        if let Some(message) = &self.message {
            check_line(message, 1024).map_err(|e| field_error("message", e))?;
        }
        if let Some(instructions) = self.appeal.as_ref().and_then(|a| a.instructions.as_ref()) {
            check_text(instructions, 2048).map_err(|e| field_error("appeal_instructions", e))?;
        }
        if self.subject.is_wide_range() && !self.acknowledge_wide_range {
            return Err(field_error(
                "ip",
                format!(
                    "{} is wider than /8 (IPv4) or /32 (IPv6) and covers a large part of the internet; confirm with --acknowledge-wide-range",
                    self.subject.value()
                ),
            ));
        }
        match self.kind {
            BanKind::UserBan => {
                if !self.features.is_empty() || !self.scopes.is_empty() {
                    return Err(field_error(
                        "features",
                        "features and scopes belong to a FeatureBlock, not a UserBan",
                    ));
                }
            }
            BanKind::FeatureBlock => {
                if self.mode != BanMode::Suspend {
                    return Err(field_error("mode", "a FeatureBlock has no mode"));
                }
                check_features(&self.features).map_err(|e| field_error("features", e))?;
                check_scopes(&self.scopes).map_err(|e| field_error("scopes", e))?;
            }
        }
        if let Some(name) = &self.name {
            check_name(name).map_err(|e| field_error("name", e))?;
        }
        if let Some(batch) = &self.batch {
            check_batch(batch).map_err(|e| field_error("batch", e))?;
        }
        Ok(())
    }

    /// The manifest, in `namespace` when given (a dry run may leave it out).
    pub fn manifest(&self, namespace: Option<&str>) -> Manifest {
        let labels = self
            .batch
            .as_ref()
            .map(|batch| BTreeMap::from([(BATCH_LABEL.to_string(), batch.clone())]));
        let metadata = ObjectMeta {
            name: Some(self.name()),
            namespace: namespace.map(str::to_string),
            labels,
            ..ObjectMeta::default()
        };
        let subject = self.subject.to_api(self.acknowledge_wide_range);
        let reason = BanReason {
            code: self.reason.clone(),
            notes: self.notes.clone(),
            reference: None,
        };
        let Timing {
            duration,
            expires_at,
            starts_at,
        } = self.timing.clone();
        match self.kind {
            BanKind::UserBan => {
                let mut ban = UserBan::new(
                    "",
                    UserBanSpec {
                        subject,
                        mode: self.mode,
                        duration,
                        expires_at,
                        starts_at,
                        reason,
                        message: self.message.clone(),
                        revoke_sessions: None,
                        notify: true,
                        review_after: None,
                        lift: None,
                        contact: None,
                        appeal: self.appeal.clone(),
                    },
                );
                ban.metadata = metadata;
                Manifest::UserBan(ban)
            }
            BanKind::FeatureBlock => {
                let mut block = FeatureBlock::new(
                    "",
                    FeatureBlockSpec {
                        subject,
                        features: self.features.clone(),
                        scopes: self.scopes.clone(),
                        duration,
                        expires_at,
                        starts_at,
                        reason,
                        message: self.message.clone(),
                        lift: None,
                        contact: None,
                        appeal: self.appeal.clone(),
                        notify: true,
                    },
                );
                block.metadata = metadata;
                Manifest::FeatureBlock(block)
            }
        }
    }
}

/// A UserBan or a FeatureBlock about to be written.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    UserBan(UserBan),
    FeatureBlock(FeatureBlock),
}

impl Manifest {
    pub fn name(&self) -> &str {
        let meta = match self {
            Manifest::UserBan(ban) => &ban.metadata,
            Manifest::FeatureBlock(block) => &block.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    pub fn kind(&self) -> BanKind {
        match self {
            Manifest::UserBan(_) => BanKind::UserBan,
            Manifest::FeatureBlock(_) => BanKind::FeatureBlock,
        }
    }

    /// `userban.interdict.dev/NAME`, as kubectl names what it created.
    pub fn reference(&self) -> String {
        format!("{}/{}", resource_name(self.kind()), self.name())
    }

    /// One YAML document (without a leading `---`).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("manifests serialise")
    }
}

/// `userban.interdict.dev`, the singular kubectl prints before a name.
pub fn resource_name(kind: BanKind) -> &'static str {
    match kind {
        BanKind::UserBan => "userban.interdict.dev",
        BanKind::FeatureBlock => "featureblock.interdict.dev",
    }
}

/// `kind=name`, as `--scope` and the `scopes` column take it.
pub fn parse_scope(text: &str) -> Result<Scope, String> {
    let scope = crate::core::Scope::parse_pair(text.trim())?;
    Ok(Scope {
        kind: scope.kind,
        name: scope.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::timing::parse_time;

    fn request() -> BanRequest {
        let mut request =
            BanRequest::new(BanKind::UserBan, SubjectRef::UserId("123".into()), "spam");
        request.timing.duration = Some("7d".into());
        request.message = Some("Suspended for spam.".into());
        request
    }

    #[test]
    fn a_ban_manifest_is_what_an_operator_would_write_by_hand() {
        let yaml = request().manifest(Some("apps")).to_yaml();
        let value: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "apiVersion": "interdict.dev/v1alpha1",
                "kind": "UserBan",
                "metadata": {"name": "spam-user-123", "namespace": "apps"},
                "spec": {
                    "subject": {"userId": "123"},
                    "mode": "Suspend",
                    "duration": "7d",
                    "reason": {"code": "spam"},
                    "message": "Suspended for spam.",
                    "notify": true,
                },
            }),
            "{yaml}"
        );
        let back: UserBan = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(
            serde_json::to_value(Manifest::UserBan(back)).unwrap(),
            serde_json::to_value(request().manifest(Some("apps"))).unwrap()
        );
    }

    #[test]
    fn a_block_carries_features_scopes_appeal_and_the_batch_label() {
        let mut block = request();
        block.kind = BanKind::FeatureBlock;
        block.features = vec!["mentorship-service".into()];
        block.scopes = vec![parse_scope("academy=downtown-miami").unwrap()];
        block.appeal = Some(Appeal {
            allowed: true,
            instructions: Some("Reply to the email.".into()),
        });
        block.timing = Timing {
            duration: None,
            expires_at: Some(parse_time("2027-01-01").unwrap()),
            starts_at: Some(parse_time("2026-12-01").unwrap()),
        };
        block.batch = Some("import-1".into());
        block.check().unwrap();
        let Manifest::FeatureBlock(fb) = block.manifest(None) else {
            panic!("a FeatureBlock")
        };
        assert_eq!(fb.spec.features, ["mentorship-service"]);
        assert_eq!(fb.spec.scopes[0].name, "downtown-miami");
        assert!(fb.spec.appeal.as_ref().unwrap().allowed);
        assert_eq!(
            fb.metadata.labels.unwrap()[BATCH_LABEL],
            "import-1".to_string()
        );
        assert!(fb.metadata.namespace.is_none());
        assert_eq!(
            fb.spec.expires_at.unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn what_the_api_server_would_refuse_is_refused_here_with_its_field() {
        type Change = Box<dyn Fn(&mut BanRequest)>;
        let cases: Vec<(&str, Change)> = vec![
            ("reason", Box::new(|r| r.reason = "Spam".into())),
            ("reason", Box::new(|r| r.reason = "".into())),
            (
                "message",
                Box::new(|r| r.message = Some("two\nlines".into())),
            ),
            ("message", Box::new(|r| r.message = Some("x".repeat(1025)))),
            ("notes", Box::new(|r| r.notes = Some("bell\u{7}".into()))),
            ("features", Box::new(|r| r.features = vec!["x".into()])),
            ("name", Box::new(|r| r.name = Some("Bad_Name".into()))),
            ("batch", Box::new(|r| r.batch = Some("a b".into()))),
            (
                "ip",
                Box::new(|r| r.subject = SubjectRef::Ip("0.0.0.0/0".into())),
            ),
            (
                "features",
                Box::new(|r| {
                    r.kind = BanKind::FeatureBlock;
                    r.features = vec![];
                }),
            ),
            (
                "features",
                Box::new(|r| {
                    r.kind = BanKind::FeatureBlock;
                    r.features = vec!["-x".into()];
                }),
            ),
            (
                "mode",
                Box::new(|r| {
                    r.kind = BanKind::FeatureBlock;
                    r.features = vec!["*".into()];
                    r.mode = BanMode::Silence;
                }),
            ),
            (
                "scopes",
                Box::new(|r| {
                    r.kind = BanKind::FeatureBlock;
                    r.features = vec!["*".into()];
                    r.scopes = vec![Scope {
                        kind: "Academy".into(),
                        name: "x".into(),
                    }];
                }),
            ),
        ];
        for (field, change) in cases {
            let mut r = request();
            change(&mut r);
            assert_eq!(r.check().map_err(|e| e.field), Err(field), "{r:?}");
        }
        assert!(request().check().is_ok());
        let mut notes = request();
        notes.notes = Some("line one\nline two\tand a tab".into());
        assert!(notes.check().is_ok());
        let mut wide = request();
        wide.subject = SubjectRef::Ip("0.0.0.0/0".into());
        wide.acknowledge_wide_range = true;
        assert!(wide.check().is_ok());
    }

    #[test]
    fn scopes_parse_as_kind_equals_name() {
        let scope = parse_scope("page=/posts/42").unwrap();
        assert_eq!(
            (scope.kind.as_str(), scope.name.as_str()),
            ("page", "/posts/42")
        );
        assert!(parse_scope("academy").is_err());
        assert!(parse_scope("=x").is_err());
    }
}
