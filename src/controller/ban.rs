//! What the namespace pass needs from either ban kind.

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sources::{ScopedStores, Stores};
use crate::api::{Appeal, BanKind, BanStatus, Contact, FeatureBlock, Lift, Subject, UserBan};
use crate::core::EmailKey;
use crate::core::compile::{CompileError, CompiledBan, compile_feature_block, compile_user_ban};
use crate::core::email::parse_email_hash;

pub trait BanResource:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    const KIND: BanKind;
    fn store(stores: &Stores) -> &ScopedStores<Self>;
    /// The published entry; an email subject keyed with `key` when the
    /// operator has one (`--email-hash-key-file`).
    fn compile(&self, key: Option<&EmailKey>) -> Result<CompiledBan, CompileError>;
    fn ban_status(&self) -> Option<&BanStatus>;
    fn subject(&self) -> &Subject;
    fn appeal(&self) -> Option<&Appeal>;
    fn lift(&self) -> Option<&Lift>;
    fn review_after(&self) -> Option<&str>;
    fn notify(&self) -> bool;
    /// Where to email the subject, in clear: the subject itself or the contact.
    fn email(&self) -> Option<&str>;
}

/// A subject written as its `sha256:` hash has no address to write to: the
/// contact's, if any, is used instead.
fn email<'a>(subject: Option<&'a String>, contact: Option<&'a Contact>) -> Option<&'a str> {
    subject
        .filter(|e| parse_email_hash(e).is_none())
        .or(contact.and_then(|c| c.email.as_ref()))
        .map(|e| e.trim())
}

impl BanResource for UserBan {
    const KIND: BanKind = BanKind::UserBan;
    fn store(stores: &Stores) -> &ScopedStores<Self> {
        &stores.user_bans
    }
    fn compile(&self, key: Option<&EmailKey>) -> Result<CompiledBan, CompileError> {
        compile_user_ban(self, key)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
    }
    fn subject(&self) -> &Subject {
        &self.spec.subject
    }
    fn appeal(&self) -> Option<&Appeal> {
        self.spec.appeal.as_ref()
    }
    fn lift(&self) -> Option<&Lift> {
        self.spec.lift.as_ref()
    }
    fn review_after(&self) -> Option<&str> {
        self.spec.review_after.as_deref()
    }
    fn notify(&self) -> bool {
        self.spec.notify
    }
    fn email(&self) -> Option<&str> {
        email(self.spec.subject.email.as_ref(), self.spec.contact.as_ref())
    }
}

impl BanResource for FeatureBlock {
    const KIND: BanKind = BanKind::FeatureBlock;
    fn store(stores: &Stores) -> &ScopedStores<Self> {
        &stores.feature_blocks
    }
    fn compile(&self, key: Option<&EmailKey>) -> Result<CompiledBan, CompileError> {
        compile_feature_block(self, key)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
    }
    fn subject(&self) -> &Subject {
        &self.spec.subject
    }
    fn appeal(&self) -> Option<&Appeal> {
        self.spec.appeal.as_ref()
    }
    fn lift(&self) -> Option<&Lift> {
        self.spec.lift.as_ref()
    }
    fn review_after(&self) -> Option<&str> {
        None
    }
    fn notify(&self) -> bool {
        self.spec.notify
    }
    fn email(&self) -> Option<&str> {
        email(self.spec.subject.email.as_ref(), self.spec.contact.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_subject_is_mailed_at_its_contact_only() {
        let hash = crate::core::email::hash_email("eve@example.org");
        let contact = Contact {
            email: Some("desk@example.org".into()),
        };
        let typed = " Eve@Example.org ".to_string();
        assert_eq!(email(Some(&typed), Some(&contact)), Some("Eve@Example.org"));
        assert_eq!(email(Some(&hash), Some(&contact)), Some("desk@example.org"));
        assert_eq!(email(Some(&hash), None), None, "a hash is no address");
    }
}
