//! `interdict audit` reports, as pure steps over plain rows:
//!
//! ```text
//! objects + Events (objects.rs), audit lines (lines.rs)
//!   → rows (record.rs) → join.rs → filter.rs → summary.rs → render/
//! ```
//!
//! Reading the cluster and the files is the CLI's (`src/cli/audit/`); every
//! step here is a function of data and is tested without either. The subject
//! report (`subject.rs`) answers a data-subject request from the same inputs.

pub mod filter;
pub mod held;
pub mod identifier;
pub mod join;
pub mod lines;
pub mod objects;
pub mod published;
pub mod record;
pub mod render;
pub mod subject;
pub mod summary;

pub use filter::{Filter, Window};
pub use identifier::Identifier;
pub use record::{Origin, Record, Source};
pub use summary::Summary;

/// Joins, filters and sums up `records`: the rows to print, in report
/// order, and their figures.
pub fn build(records: Vec<record::Record>, filter: &Filter) -> (Vec<Record>, Summary) {
    let rows = filter::apply(join::join(records), filter);
    let summary = summary::summarize(&rows, filter);
    (rows, summary)
}
