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
//! Per ban the model keeps a compact record (identity, generation, the
//! compiled entry or its error, lift, exemption and review facts, what it
//! currently publishes), never the object itself. Not its resourceVersion:
//! the watch delivers a ban's events in order, and nothing the model
//! decides depends on the version. Per shard it
//! keeps the published items and a dirty flag; every time at which something
//! changes by itself (a start, an expiry, the end of a session-revocation
//! window, an exemption's end, a review date) is one entry of one ordered
//! timer set.
//!
//! Memory is the constraint at 100k bans (`cargo bench --bench memory`
//! counts it per ban): each fact is held once. The uid is kept as 16 bytes
//! of its digest, records are a set found by the key inside them (no copied
//! key), a shard files an entry under the entry's own id, an entry is
//! shared by the ban's record and its shard, a rare lift is boxed, the
//! timers are one ordered set (a target is disarmed by the timeline of the
//! facts it was armed from), and there is no index of bans by subject: an
//! exemption's change, which is rare, looks at every record instead.
//!
//! Of the controller's per-process memo tables, the compiled-ban cache and
//! the shards' dirty flags are fields of this model for every namespace the
//! controller passes over incrementally; the compiled-ban cache remains as a
//! table only for the whole-namespace pass that global bans still take
//! (`controller/compiled.rs`). Four stay on purpose, being about this
//! process's I/O rather than the namespace: the echoes of its own writes (a
//! watch event it caused must not start a pass), what each blocklist
//! ConfigMap holds by resourceVersion (`controller/publish.rs`: the watch
//! sees their metadata only, and a shard is read back only when someone
//! else may have changed it), the bans whose status it last wrote and found
//! settled (the status worker skips them with one lookup), and the failure
//! counts behind each namespace's back-off. The queue keeps one entry per
//! namespace.

mod bans;
mod namespace;
mod record;
mod shards;
mod timers;

pub use namespace::{Change, Dirty, NamespaceModel, RenderedShard, TooLarge};
pub use record::{BanFacts, BanKey, EchoFacts, ExemptionFacts, Uid};
pub use timers::Wake;

#[cfg(test)]
mod tests;
