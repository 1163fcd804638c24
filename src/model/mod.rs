//! The namespace model: what the operator knows of one namespace, kept up to
//! date change by change, so that a change costs work in proportion to itself
//! and not to the namespace.
//!
//! Pure: no client, no clock, no I/O. Watch events are folded in with
//! [`NamespaceModel::apply`] and time with [`NamespaceModel::advance`]; both
//! say what became dirty. The publisher renders only the dirty shards
//! ([`NamespaceModel::render_dirty`]); the status worker looks only at the
//! dirty bans.
//!
//! Per ban the model keeps a compact record (identity, resourceVersion,
//! generation, the compiled entry or its error, lift, exemption and review
//! facts, what it currently publishes), never the object itself. Per shard it
//! keeps the published items and a dirty flag; every time at which something
//! changes by itself (a start, an expiry, the end of a session-revocation
//! window, an exemption's end, a review date) is one entry of one ordered
//! timer set.
//!
//! Of the controller's per-process memo tables, the compiled-ban cache and
//! the published-shard fingerprints become fields of this model; own-write
//! echoes, settled bans, failure counts and the queue's maps stay where they
//! are until the controller is wired to the model.

mod namespace;
mod record;
mod shards;
mod timers;

pub use namespace::{Change, Dirty, NamespaceModel, RenderedShard, TooLarge};
pub use record::{BanFacts, BanKey, ExemptionFacts};
pub use timers::Wake;

#[cfg(test)]
mod tests;
