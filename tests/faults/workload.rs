//! A seeded, reproducible workload: the same seed gives the same operations,
//! faults and pauses, so a violation is reported with what replays it.

/// SplitMix64: tiny, good enough for choosing operations, and identical on
/// every machine (no dependency whose algorithm could change).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How long a created ban lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    Permanent,
    /// In force now, for this many seconds.
    For(u64),
    /// Starts in `.0` seconds, lasts `.1`.
    Later(u64, u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create {
        ns: usize,
        name: String,
        user: u64,
        timing: Timing,
        appealable: bool,
    },
    Lift {
        ns: usize,
        name: String,
    },
    Delete {
        ns: usize,
        name: String,
    },
    Appeal {
        ns: usize,
        ban: String,
    },
    Approve {
        ns: usize,
        appeal: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL the lease holder, start it again a moment later.
    KillLeader,
    /// Stop kube-apiserver and start it again.
    RestartApiServer,
    /// SIGSTOP etcd for a few seconds, then SIGCONT.
    PauseEtcd,
    /// Stop etcd and start it again with its data.
    RestartEtcd,
    /// The proxy between the replicas and the API server delays every chunk.
    SlowNetwork,
    /// The proxy passes nothing for a few seconds (packets dropped).
    PartitionNetwork,
    /// The proxy resets every open connection.
    ResetConnections,
    /// The webhook receiver and the SMTP server are stopped for a few seconds.
    ReceiverDown,
    /// The webhook receiver answers 503, the SMTP server 451, for a few seconds.
    ReceiverFailing,
    /// Both answer after 1.5 s for a few seconds.
    ReceiverSlow,
    /// The audit files' disk is full for a few seconds.
    AuditDiskFull,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::KillLeader,
        Fault::RestartApiServer,
        Fault::PauseEtcd,
        Fault::RestartEtcd,
        Fault::SlowNetwork,
        Fault::PartitionNetwork,
        Fault::ResetConnections,
        Fault::ReceiverDown,
        Fault::ReceiverFailing,
        Fault::ReceiverSlow,
        Fault::AuditDiskFull,
    ];

    /// The faults of the notification receivers.
    pub const RECEIVERS: [Fault; 3] = [
        Fault::ReceiverDown,
        Fault::ReceiverFailing,
        Fault::ReceiverSlow,
    ];
}

/// One step: an operation, maybe a fault after it, and a pause.
pub struct Step {
    pub op: Op,
    pub fault: Option<Fault>,
    pub pause_ms: u64,
}

/// The longest a timed ban lasts from its creation: after this, nothing
/// changes by time alone and the expected state is fixed.
pub const LONGEST_SECONDS: u64 = 16;

/// `steps` steps over `namespaces` namespaces, faults drawn from `faults`
/// with `fault_percent` chance after each operation.
pub fn plan(
    seed: u64,
    steps: usize,
    namespaces: usize,
    faults: &[Fault],
    fault_percent: u64,
) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    // Live bans and pending appeals, to pick targets that exist.
    let mut bans: Vec<(usize, String, bool)> = Vec::new();
    let mut appeals: Vec<(usize, String)> = Vec::new();
    let mut plan = Vec::with_capacity(steps);
    for i in 0..steps {
        let roll = rng.below(100);
        let op = if bans.is_empty() || roll < 50 {
            let ns = rng.below(namespaces as u64) as usize;
            let timing = match rng.below(10) {
                0..=3 => Timing::Permanent,
                4..=7 => Timing::For(2 + rng.below(10)),
                _ => Timing::Later(2 + rng.below(5), 2 + rng.below(7)),
            };
            let name = format!("b{i:03}");
            let appealable = rng.chance(30);
            bans.push((ns, name.clone(), appealable));
            Op::Create {
                ns,
                name,
                user: rng.below(20),
                timing,
                appealable,
            }
        } else if roll < 65 {
            let (ns, name, _) = bans[rng.below(bans.len() as u64) as usize].clone();
            Op::Lift { ns, name }
        } else if roll < 78 {
            let at = rng.below(bans.len() as u64) as usize;
            let (ns, name, _) = bans.remove(at);
            Op::Delete { ns, name }
        } else if roll < 90 || appeals.is_empty() {
            match bans.iter().find(|(_, _, appealable)| *appealable).cloned() {
                Some((ns, ban, _)) => {
                    let appeal = format!("{ban}-a{i:03}");
                    appeals.push((ns, appeal.clone()));
                    Op::Appeal { ns, ban }
                }
                None => {
                    let (ns, name, _) = bans[rng.below(bans.len() as u64) as usize].clone();
                    Op::Lift { ns, name }
                }
            }
        } else {
            let (ns, appeal) = appeals.remove(rng.below(appeals.len() as u64) as usize);
            Op::Approve { ns, appeal }
        };
        let fault = (!faults.is_empty() && rng.chance(fault_percent))
            .then(|| faults[rng.below(faults.len() as u64) as usize]);
        plan.push(Step {
            op,
            fault,
            pause_ms: 50 + rng.below(400),
        });
    }
    plan
}

/// The name an appeal of `ban` filed at step `i` gets (as `plan` names them).
pub fn appeal_name(op_index: usize, ban: &str) -> String {
    format!("{ban}-a{op_index:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(7, 40, 2, &[Fault::KillLeader], 20);
        let b = plan(7, 40, 2, &[Fault::KillLeader], 20);
        assert_eq!(
            a.iter()
                .map(|s| (&s.op, s.fault, s.pause_ms))
                .collect::<Vec<_>>(),
            b.iter()
                .map(|s| (&s.op, s.fault, s.pause_ms))
                .collect::<Vec<_>>()
        );
    }
}
