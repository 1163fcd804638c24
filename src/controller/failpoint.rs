//! Failpoints for fault-injection tests, chosen with `INTERDICT_FAILPOINT=<point>`.
//! A crash point kills the process (SIGKILL, as `kill -9` would) the first
//! time it is reached, between two writes a crash could separate. A broken
//! behaviour ([`broken`]) makes the operator deliberately wrong, so the fault
//! suite can show its checker notices; it exists in debug builds only (what
//! the tests run), and release builds compile it out. Unset, a point costs
//! one comparison with a cached value.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// After a transition's audit line, before its Event.
pub const AFTER_AUDIT: &str = "after-audit";
/// After a ban's records (audit line and Event), before its status write.
pub const AFTER_RECORD: &str = "after-record";
/// After a ban's status write, before its notifications are delivered.
pub const AFTER_STATUS: &str = "after-status";
/// After a deletion's records, before the finalizer is removed.
pub const BEFORE_FINALIZER_REMOVAL: &str = "before-finalizer-removal";

/// Broken behaviour: no Event is written for any transition.
pub const SKIP_EVENTS: &str = "skip-events";

fn armed() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            std::env::var("INTERDICT_FAILPOINT")
                .ok()
                .filter(|p| !p.is_empty())
        })
        .as_deref()
}

pub fn reached(point: &str) {
    static FIRED: AtomicBool = AtomicBool::new(false);
    if armed() == Some(point) && !FIRED.swap(true, Ordering::SeqCst) {
        tracing::error!(point, "failpoint reached: killing the process");
        // SAFETY: kill(2) with our own pid and a valid signal number.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Is the deliberately broken behaviour `point` switched on? Never in a
/// release build.
pub fn broken(point: &str) -> bool {
    cfg!(debug_assertions) && armed() == Some(point)
}
