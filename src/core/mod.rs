//! The pure core: turning bans into blocklist entries, rendering and parsing the
//! blocklist document, and answering decisions. No I/O and no clock: time is a
//! parameter, so the operator, `interdict check` and readers share one logic.

#[cfg(feature = "operator")]
pub mod compile;
pub mod decision;
pub mod document;
pub mod duration;
pub mod email;
pub mod entry;
pub mod index;
pub mod ip;
pub mod schedule;
pub mod shard;
pub mod text;

#[cfg(test)]
mod properties;

pub use decision::{Decision, Notice, NoticePhase, Query, decide, decide_contents, decide_keyed};
pub use document::{BlocklistDocument, Contents, FORMAT_V1};
pub use email::EmailKey;
pub use entry::{Entry, EntryKind, Exemption, Mode, Revocation, Scope, SubjectKey};
pub use index::Index;
