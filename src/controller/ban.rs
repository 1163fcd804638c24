//! What the namespace pass needs from either ban kind.

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sources::{ScopedStores, Stores};
use crate::api::{Appeal, BanKind, BanStatus, Contact, FeatureBlock, Lift, UserBan};
use crate::core::compile::{CompileError, CompiledBan, compile_feature_block, compile_user_ban};

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
    fn compile(&self) -> Result<CompiledBan, CompileError>;
    fn ban_status(&self) -> Option<&BanStatus>;
    fn appeal(&self) -> Option<&Appeal>;
    fn lift(&self) -> Option<&Lift>;
    fn review_after(&self) -> Option<&str>;
    fn notify(&self) -> bool;
    /// Where to email the subject, in clear: the subject itself or the contact.
    fn email(&self) -> Option<&str>;
}

/// A subject written as its `sha256:` hash has no address to write to; the
/// contact's, if any, is used instead.
fn email<'a>(subject: Option<&'a String>, contact: Option<&'a Contact>) -> Option<&'a str> {
    subject
        .filter(|e| crate::core::email::parse_email_hash(e).is_none())
        .or(contact.and_then(|c| c.email.as_ref()))
        .map(|e| e.trim())
}

impl BanResource for UserBan {
    const KIND: BanKind = BanKind::UserBan;
    fn store(stores: &Stores) -> &ScopedStores<Self> {
        &stores.user_bans
    }
    fn compile(&self) -> Result<CompiledBan, CompileError> {
        compile_user_ban(self)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
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
    fn compile(&self) -> Result<CompiledBan, CompileError> {
        compile_feature_block(self)
    }
    fn ban_status(&self) -> Option<&BanStatus> {
        self.status.as_ref()
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
