//! Automatic bans as pure logic: a BanPolicy compiled to numbers
//! ([`compiled`]), offenses as applications report them ([`offense`]), each
//! subject's counting window ([`window`]), the escalation ladder ([`ladder`])
//! and the circuit breaker ([`breaker`]). No client and no clock: times are
//! parameters. The operator's intake and policy engine feed them.

pub mod breaker;
pub mod compiled;
pub mod ladder;
pub mod offense;
pub mod window;

pub use breaker::{Admission, Breaker};
pub use compiled::{CompiledPolicy, PolicyError, compile};
pub use ladder::{Ladder, PastBan, Rung, next_rung};
pub use offense::{Offense, ReportError, ReportedSubject, parse_batch};
pub use window::Windows;
