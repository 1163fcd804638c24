//! Import: `kubectl interdict import` of a CSV file into a namespace whose
//! operator is running, from the process start to every row in the blocklist,
//! beside the same number of UserBans created where no operator watches (the
//! bans-alone floor, same concurrency, same run, measured first while nothing
//! else runs). The import draws its
//! progress line the whole time (`--progress always`), so the figure includes
//! whatever the display costs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interdict::api::UserBan;
use kube::Api;

use crate::bench::{Bench, Cells};
use crate::format::{fmt_s, size_label, verdict};
use crate::objects::{ban, create_all};
use crate::observer::Observer;

impl Bench {
    pub async fn phase_import(&mut self) {
        let n = self.s.medium;
        let conc = self.s.concurrency;
        let label = size_label(n);
        eprintln!("bench: == import: a {n}-row CSV through kubectl interdict, concurrency {conc}");
        let ns = self.namespace("import").await;
        let floor_ns = self.namespace("import-floor").await;
        // The floor first, while nothing else runs: afterwards the operator
        // would still be writing the import's statuses and slow it down.
        let floor_bans: Api<UserBan> = Api::namespaced(self.client.clone(), &floor_ns);
        let objects = (0..n).map(|i| ban(&format!("floor-{i:06}"), i));
        let floor = create_all(&floor_bans, objects, n, conc, "import floor bans").await;
        self.raw(format!(
            "import floor (bans, no operator watching): {n} UserBans in {} ({:.0}/s), {} failed",
            fmt_s(floor.elapsed),
            floor.rate(n),
            floor.failed
        ));
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "import");
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("import: the operator did not become ready".into());
            return;
        }
        op.settle(Duration::from_secs(30)).await;

        let file = self.logs.join("import.csv");
        let mut csv = String::from("user,reason,duration,message\n");
        for i in 0..n {
            csv.push_str(&format!(
                "import-{i},spam,30d,Your account is suspended for spamming.\n"
            ));
        }
        std::fs::write(&file, csv).unwrap();
        let progress_log = self.logs.join("import.progress");
        obs.set_target(n);
        let t0 = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_kubectl-interdict"))
            .arg("--kubeconfig")
            .arg(&self.cluster.kubeconfig)
            .args(["import", "-n", &ns, "--progress", "always"])
            .args(["--concurrency", &conc.to_string()])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&progress_log).unwrap()))
            .status()
            .expect("run kubectl-interdict");
        let written = t0.elapsed();
        let redraws = std::fs::read_to_string(&progress_log)
            .map(|text| text.matches('\r').count())
            .unwrap_or(0);
        self.raw(format!(
            "import: {n} rows written in {} ({:.0}/s), exit {status}, {redraws} progress redraws",
            fmt_s(written),
            n as f64 / written.as_secs_f64()
        ));
        if !status.success() {
            self.note(format!(
                "import: kubectl interdict import exited {status} (see {})",
                progress_log.display()
            ));
        }
        let timeout = self
            .left()
            .saturating_sub(Duration::from_secs(60))
            .min(Duration::from_secs(600).max(written * 10));
        let all_in = match self.wait_published(&obs, &op, n, timeout).await {
            Ok(at) => Some(at.saturating_duration_since(t0)),
            Err(why) => {
                self.note(format!(
                    "import: not every row reached the blocklist: {why}"
                ));
                None
            }
        };
        let floor_text = format!("UserBans alone {}", fmt_s(floor.elapsed));
        let cells = match all_in {
            Some(all) => {
                let ratio = all.as_secs_f64() / floor.elapsed.as_secs_f64();
                self.raw(format!(
                    "import: all {n} rows published {} after the import started",
                    fmt_s(all)
                ));
                Cells::new(format!("{} (written in {})", fmt_s(all), fmt_s(written)))
                    .floor(floor_text, format!("{ratio:.2}×"))
                    .target("≤ 1.5× floor", verdict(ratio <= 1.5))
            }
            None => Cells::new("not reached (see notes)".into())
                .floor(floor_text, String::new())
                .target("≤ 1.5× floor", "FAIL".into()),
        };
        self.row("import: every row published", &label, cells);
        self.record_operator(&op, "the import phase").await;
        let (took, graceful) = op.stop(Duration::from_secs(30));
        if !graceful {
            self.note(format!(
                "import: the operator did not stop within {} of SIGTERM; killed",
                fmt_s(took)
            ));
        }
    }
}
