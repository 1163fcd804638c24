//! A one-line progress display for long writes (`import`): count, rate and
//! time left, redrawn at most ten times a second so that drawing never costs
//! the writes anything measurable, whatever the terminal.

use std::io::Write;
use std::time::{Duration, Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    total: usize,
    done: usize,
    shown: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// `shown` false keeps it silent (not a terminal, or `--progress never`).
    pub fn new(total: usize, shown: bool) -> Self {
        Progress {
            total,
            done: 0,
            shown,
            started: Instant::now(),
            drawn: None,
        }
    }

    pub fn one_done(&mut self) {
        self.done += 1;
        if !self.shown {
            return;
        }
        let now = Instant::now();
        if self.drawn.is_some_and(|at| now - at < REDRAW_EVERY) && self.done < self.total {
            return;
        }
        self.drawn = Some(now);
        let line = line(self.done, self.total, now - self.started);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    /// Ends the line, so what is printed next starts on its own.
    pub fn finish(&mut self) {
        if self.shown && self.drawn.is_some() {
            eprintln!();
        }
    }
}

/// `written 5120/10000 (51%, 1534/s, 3s left)`.
pub fn line(done: usize, total: usize, elapsed: Duration) -> String {
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let seconds = elapsed.as_secs_f64();
    if seconds < 0.001 || done == 0 {
        return format!("written {done}/{total} ({percent}%)");
    }
    let rate = done as f64 / seconds;
    let left = (total.saturating_sub(done)) as f64 / rate;
    format!(
        "written {done}/{total} ({percent}%, {rate:.0}/s, {:.0}s left)",
        left.ceil()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_count_rate_and_time_left() {
        assert_eq!(line(0, 10, Duration::ZERO), "written 0/10 (0%)");
        assert_eq!(
            line(500, 1000, Duration::from_secs(2)),
            "written 500/1000 (50%, 250/s, 2s left)"
        );
        assert_eq!(
            line(1000, 1000, Duration::from_secs(4)),
            "written 1000/1000 (100%, 250/s, 0s left)"
        );
        assert_eq!(line(0, 0, Duration::ZERO), "written 0/0 (100%)");
    }
}
