//! Progress on stderr: a bar on a terminal, nothing per batch otherwise.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use locus_sched::{Observer, StepInfo};

/// Draws a one-line progress bar on stderr when stderr is a terminal.
pub struct ProgressBar {
    enabled: bool,
    epochs: u64,
    last_draw: Option<Instant>,
}

impl ProgressBar {
    pub fn new(epochs: u64) -> Self {
        ProgressBar {
            enabled: std::io::stderr().is_terminal(),
            epochs,
            last_draw: None,
        }
    }

    /// Clears stderr's current line when stderr is a terminal (where a bar may be drawn),
    /// for callers that cannot reach the bar itself.
    pub fn clear_line() {
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Observer for ProgressBar {
    fn on_step(&mut self, info: &StepInfo) {
        if !self.enabled {
            return;
        }
        let done = info.batch + 1 == info.batches;
        if let Some(t) = self.last_draw {
            if !done && t.elapsed().as_millis() < 100 {
                return;
            }
        }
        self.last_draw = Some(Instant::now());
        const WIDTH: usize = 30;
        let filled = WIDTH * (info.batch + 1) / info.batches.max(1);
        eprint!(
            "\repoch {}/{} [{}{}] {}/{} loss {:.4}",
            info.epoch + 1,
            self.epochs,
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            info.batch + 1,
            info.batches,
            info.loss
        );
        let _ = std::io::stderr().flush();
    }
}
