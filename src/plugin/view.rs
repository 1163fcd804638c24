//! A stored UserBan or FeatureBlock seen through one type, so `who`, `lift`,
//! `undo` and `export` treat both kinds alike: who it is about, where it
//! stands, who created and lifted it.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use serde::Serialize;

use super::subject::SubjectRef;
use crate::actor::{CREATED_BY, LIFTED_BY};
use crate::api::{
    Appeal, BanKind, BanMode, BanReason, BanStatus, FeatureBlock, Lift, Phase, Scope, Subject,
    UserBan,
};

/// Serialises as the object itself (`-o json`/`yaml` print what the API server holds).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum AnyBan {
    User(UserBan),
    Feature(FeatureBlock),
}

/// The spec fields both kinds share, borrowed.
pub struct Common<'a> {
    pub subject: &'a Subject,
    pub duration: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub reason: &'a BanReason,
    pub message: Option<&'a str>,
    pub lift: Option<&'a Lift>,
    pub appeal: Option<&'a Appeal>,
}

impl AnyBan {
    pub fn kind(&self) -> BanKind {
        match self {
            AnyBan::User(_) => BanKind::UserBan,
            AnyBan::Feature(_) => BanKind::FeatureBlock,
        }
    }

    pub fn meta(&self) -> &kube::api::ObjectMeta {
        match self {
            AnyBan::User(b) => &b.metadata,
            AnyBan::Feature(b) => &b.metadata,
        }
    }

    pub fn name(&self) -> String {
        match self {
            AnyBan::User(b) => b.name_any(),
            AnyBan::Feature(b) => b.name_any(),
        }
    }

    pub fn namespace(&self) -> String {
        self.meta().namespace.clone().unwrap_or_default()
    }

    pub fn common(&self) -> Common<'_> {
        match self {
            AnyBan::User(b) => Common {
                subject: &b.spec.subject,
                duration: b.spec.duration.as_deref(),
                expires_at: b.spec.expires_at,
                starts_at: b.spec.starts_at,
                reason: &b.spec.reason,
                message: b.spec.message.as_deref(),
                lift: b.spec.lift.as_ref(),
                appeal: b.spec.appeal.as_ref(),
            },
            AnyBan::Feature(b) => Common {
                subject: &b.spec.subject,
                duration: b.spec.duration.as_deref(),
                expires_at: b.spec.expires_at,
                starts_at: b.spec.starts_at,
                reason: &b.spec.reason,
                message: b.spec.message.as_deref(),
                lift: b.spec.lift.as_ref(),
                appeal: b.spec.appeal.as_ref(),
            },
        }
    }

    pub fn status(&self) -> Option<&BanStatus> {
        match self {
            AnyBan::User(b) => b.status.as_ref(),
            AnyBan::Feature(b) => b.status.as_ref(),
        }
    }

    pub fn mode(&self) -> Option<BanMode> {
        match self {
            AnyBan::User(b) => Some(b.spec.mode),
            AnyBan::Feature(_) => None,
        }
    }

    pub fn features(&self) -> &[String] {
        match self {
            AnyBan::User(_) => &[],
            AnyBan::Feature(b) => &b.spec.features,
        }
    }

    pub fn scopes(&self) -> &[Scope] {
        match self {
            AnyBan::User(_) => &[],
            AnyBan::Feature(b) => &b.spec.scopes,
        }
    }

    pub fn phase(&self) -> Option<Phase> {
        self.status()?.phase
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        let time = self.meta().creation_timestamp.as_ref()?;
        DateTime::from_timestamp(time.0.as_second(), 0)
    }

    /// Whether lifting it would change anything: not lifted or asked to be
    /// already, and not over.
    pub fn is_liftable(&self) -> bool {
        self.common().lift.is_none()
            && !matches!(self.phase(), Some(Phase::Expired | Phase::Lifted))
    }

    /// Who created it, as the API server authenticated them (annotation or status).
    pub fn created_by(&self) -> Option<String> {
        annotation(self.meta(), CREATED_BY)
            .or_else(|| self.status().and_then(|s| s.created_by.clone()))
    }

    /// Who lifted it: the authenticated user when known, else what lifted it
    /// (`BanAppeal/<name>`) or the name typed into `spec.lift.by`.
    pub fn lifted_by(&self) -> Option<String> {
        annotation(self.meta(), LIFTED_BY)
            .or_else(|| self.status().and_then(|s| s.lifted_by_user.clone()))
            .or_else(|| self.status().and_then(|s| s.lifted_by.clone()))
            .or_else(|| self.common().lift.and_then(|l| l.by.clone()))
    }

    /// `userId:123`, emails always hashed.
    pub fn subject_display(&self) -> String {
        SubjectRef::from_api(self.common().subject).map_or_else(|| "-".to_string(), |s| s.display())
    }

    /// What it takes away: the mode of a UserBan, the features of a block
    /// (with their scopes).
    pub fn what(&self) -> String {
        match self {
            AnyBan::User(b) => format!("{:?}", b.spec.mode),
            AnyBan::Feature(b) => {
                let mut what = b.spec.features.join(",");
                if !b.spec.scopes.is_empty() {
                    let scopes: Vec<String> = b
                        .spec
                        .scopes
                        .iter()
                        .map(|s| format!("{}={}", s.kind, s.name))
                        .collect();
                    what.push_str(&format!(" in {}", scopes.join(",")));
                }
                what
            }
        }
    }

    /// The start and end the operator computed, else what the spec says.
    pub fn window(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let status = self.status();
        let common = self.common();
        let from = status
            .and_then(|s| s.effective_from)
            .or(common.starts_at)
            .or_else(|| self.created());
        let until = status.and_then(|s| s.expires_at).or(common.expires_at);
        (from, until)
    }
}

fn annotation(meta: &kube::api::ObjectMeta, key: &str) -> Option<String> {
    crate::actor::actor(meta.annotations.as_ref(), key)
}

/// One line of `who`: what a moderator asks about a subject's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub namespace: String,
    pub kind: BanKind,
    pub name: String,
    pub subject: String,
    /// The mode of a UserBan, the features (and scopes) of a FeatureBlock.
    pub what: String,
    pub phase: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
    pub created_by: Option<String>,
    pub lifted_by: Option<String>,
    /// `-` (no appeal allowed), `allowed` (none filed) or the latest appeal's phase.
    pub appeal: String,
    pub created: Option<DateTime<Utc>>,
    /// Whether lifting it would change anything (the console offers a lift
    /// only then); not part of `-o json`, whose fields are documented.
    #[serde(skip)]
    pub liftable: bool,
}

impl HistoryRow {
    pub fn of(ban: &AnyBan, appeal: String) -> Self {
        let (from, until) = ban.window();
        HistoryRow {
            namespace: ban.namespace(),
            kind: ban.kind(),
            name: ban.name(),
            subject: ban.subject_display(),
            what: ban.what(),
            phase: ban.phase().map(|p| p.as_str().to_string()),
            from,
            until,
            reason: ban.common().reason.code.clone(),
            created_by: ban.created_by(),
            lifted_by: ban.lifted_by(),
            appeal,
            created: ban.created(),
            liftable: ban.is_liftable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(yaml: &str) -> AnyBan {
        AnyBan::User(serde_yaml::from_str::<UserBan>(yaml).unwrap())
    }

    const BASE: &str = "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata:\n  name: b\n  namespace: apps\n  creationTimestamp: '2026-11-21T10:00:00Z'\n";

    #[test]
    fn actors_come_from_annotations_then_status_then_spec() {
        let annotated = ban(&format!(
            "{BASE}  annotations:\n    interdict.dev/created-by: ann\n    interdict.dev/lifted-by: bob\nspec:\n  subject: {{userId: '1'}}\n  reason: {{code: spam}}\n  lift: {{reason: oops, by: typed}}\nstatus:\n  createdBy: other\n  phase: Lifted\n"
        ));
        assert_eq!(annotated.created_by().as_deref(), Some("ann"));
        assert_eq!(annotated.lifted_by().as_deref(), Some("bob"));
        assert!(!annotated.is_liftable());
        let by_status = ban(&format!(
            "{BASE}spec:\n  subject: {{userId: '1'}}\n  reason: {{code: spam}}\nstatus:\n  createdBy: carol\n  liftedBy: BanAppeal/a1\n  phase: Lifted\n"
        ));
        assert_eq!(by_status.created_by().as_deref(), Some("carol"));
        assert_eq!(by_status.lifted_by().as_deref(), Some("BanAppeal/a1"));
        let typed = ban(&format!(
            "{BASE}spec:\n  subject: {{userId: '1'}}\n  reason: {{code: spam}}\n  lift: {{reason: oops, by: dave}}\n"
        ));
        assert_eq!(typed.lifted_by().as_deref(), Some("dave"));
    }

    #[test]
    fn active_and_new_bans_are_liftable_ended_ones_are_not() {
        let spec = "spec:\n  subject: {userId: '1'}\n  reason: {code: spam}\n";
        assert!(ban(&format!("{BASE}{spec}")).is_liftable());
        for phase in ["Active", "Scheduled", "Exempted"] {
            assert!(ban(&format!("{BASE}{spec}status: {{phase: {phase}}}\n")).is_liftable());
        }
        for phase in ["Expired", "Lifted"] {
            assert!(!ban(&format!("{BASE}{spec}status: {{phase: {phase}}}\n")).is_liftable());
        }
    }

    #[test]
    fn a_history_row_shows_the_window_and_hides_clear_emails() {
        let row = HistoryRow::of(
            &ban(&format!(
                "{BASE}spec:\n  subject: {{email: Eve@Example.org}}\n  duration: 7d\n  reason: {{code: spam}}\n  mode: Silence\nstatus:\n  phase: Active\n  effectiveFrom: '2026-11-21T10:00:00Z'\n  expiresAt: '2026-11-28T10:00:00Z'\n"
            )),
            "allowed".into(),
        );
        assert_eq!(row.what, "Silence");
        assert_eq!(
            row.subject,
            format!(
                "email:{}",
                crate::core::email::hash_email("eve@example.org")
            )
        );
        assert_eq!(row.until.unwrap().to_rfc3339(), "2026-11-28T10:00:00+00:00");
        assert_eq!(row.phase.as_deref(), Some("Active"));
    }

    #[test]
    fn a_block_says_what_it_takes_away_and_where() {
        let block: FeatureBlock = serde_yaml::from_str(
            "apiVersion: interdict.dev/v1alpha1\nkind: FeatureBlock\nmetadata: {name: f}\nspec:\n  subject: {userId: '1'}\n  reason: {code: abuse}\n  features: [comments, uploads]\n  scopes: [{kind: page, name: /p/1}]\n",
        )
        .unwrap();
        assert_eq!(
            AnyBan::Feature(block).what(),
            "comments,uploads in page=/p/1"
        );
    }
}
