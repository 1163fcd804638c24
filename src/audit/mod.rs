//! The audit trail as data: the record each transition becomes, the hash chain
//! that makes a file of records tamper-evident (`chain`, and `verify` over
//! many files: both pure), and the rotating, chained file the operator
//! appends to (`file`). The sink that decides what to record lives with the
//! controller; `interdict audit verify` lives with the CLI. `report` turns
//! the trail and the objects into the rows and figures of `interdict audit`.

pub mod chain;
pub mod file;
mod record;
pub mod report;
pub mod verify;

pub use file::{AuditFile, Rotation};
pub use record::{AUDIT_FORMAT, AuditRecord};
