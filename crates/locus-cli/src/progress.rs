//! Progress on stderr: on a terminal, an indicatif bar per epoch with the samples done, the
//! rate in samples per second, the time left in the epoch and the running mean of its
//! training loss, cleared when the epoch ends (each driver then prints the epoch's line);
//! nothing when stderr is not a terminal, or with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressDrawTarget, ProgressState, ProgressStyle};
use locus_sched::{EpochEnd, Observer, StepInfo};

use crate::args::TrainArgs;

/// How often the bar's message (the running loss) is rewritten; indicatif redraws at most
/// 20 times a second anyway.
const MESSAGE_EVERY: Duration = Duration::from_millis(100);

/// Draws a bar per epoch on stderr when stderr is a terminal and `--quiet` is not given.
pub struct ProgressBar {
    /// Makes each epoch's draw target; `None` when nothing is drawn.
    target: Option<Box<dyn Fn() -> ProgressDrawTarget>>,
    epochs: u64,
    batch_size: usize,
    /// Training samples per epoch.
    samples: usize,
    /// The bar of the epoch under way, with its epoch number (from 0).
    current: Option<(u64, indicatif::ProgressBar)>,
    loss_sum: f64,
    losses: usize,
    last_message: Option<Instant>,
}

impl ProgressBar {
    /// A bar for a run of `epochs` epochs over `samples` training samples in batches of
    /// `--batch-size`; drawn only on a terminal and without `--quiet`.
    pub fn new(args: &TrainArgs, epochs: u64, samples: usize) -> Self {
        let drawn = !args.quiet && std::io::stderr().is_terminal();
        let target: Option<Box<dyn Fn() -> ProgressDrawTarget>> = if drawn {
            Some(Box::new(ProgressDrawTarget::stderr))
        } else {
            None
        };
        ProgressBar::with_target(target, epochs, args.batch_size, samples)
    }

    fn with_target(
        target: Option<Box<dyn Fn() -> ProgressDrawTarget>>,
        epochs: u64,
        batch_size: usize,
        samples: usize,
    ) -> Self {
        ProgressBar {
            target,
            epochs,
            batch_size,
            samples,
            current: None,
            loss_sum: 0.0,
            losses: 0,
            last_message: None,
        }
    }

    /// The samples of an epoch of `batches` batches: the training set, unless the
    /// batches do not cover it exactly once (then every batch counts as full).
    fn epoch_samples(&self, batches: usize) -> u64 {
        let full = (batches * self.batch_size) as u64;
        let covers = batches == self.samples.div_ceil(self.batch_size.max(1));
        if covers {
            self.samples as u64
        } else {
            full
        }
    }

    /// The bar of `info`'s epoch, started on its first step.
    fn bar_for(&mut self, info: &StepInfo) -> Option<&indicatif::ProgressBar> {
        let make = self.target.as_ref()?;
        if self.current.as_ref().is_none_or(|(e, _)| *e != info.epoch) {
            if let Some((_, old)) = self.current.take() {
                old.finish_and_clear();
            }
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(self.epoch_samples(info.batches)),
                make(),
            )
            .with_style(style())
            .with_prefix(format!("epoch {}/{}", info.epoch + 1, self.epochs));
            self.current = Some((info.epoch, bar));
            (self.loss_sum, self.losses, self.last_message) = (0.0, 0, None);
        }
        self.current.as_ref().map(|(_, bar)| bar)
    }

    /// Clears the bar of the epoch under way, if any.
    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

/// `epoch 3/10 [#########>-----------] 1280/4000 samples  8123 samples/s  ETA 0s  loss 1.2345`
fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} samples  {rate}  ETA {eta}  {msg}",
    )
    .expect("the template is valid")
    .with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} samples/s", state.per_sec());
        },
    )
    .progress_chars("#>-")
}

impl Observer for ProgressBar {
    fn on_step(&mut self, info: &StepInfo) {
        if self.target.is_none() {
            return;
        }
        let done = info.batch + 1 >= info.batches;
        let (batch_size, loss) = (self.batch_size, info.loss);
        let Some(bar) = self.bar_for(info).cloned() else {
            return;
        };
        let position = ((info.batch + 1) * batch_size) as u64;
        bar.set_position(position.min(bar.length().unwrap_or(position)));
        self.loss_sum += loss;
        self.losses += 1;
        if done
            || self
                .last_message
                .is_none_or(|t| t.elapsed() >= MESSAGE_EVERY)
        {
            bar.set_message(format!("loss {:.4}", self.loss_sum / self.losses as f64));
            self.last_message = Some(Instant::now());
        }
        if done {
            self.finish();
        }
    }

    fn on_epoch_end(&mut self, _info: &EpochEnd<'_>) {
        self.finish();
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps every line written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.0.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn step(epoch: u64, batch: usize, batches: usize, loss: f64) -> StepInfo {
        StepInfo {
            epoch,
            batch,
            batches,
            loss,
        }
    }

    #[test]
    fn a_bar_per_epoch_counts_samples_and_the_running_loss() {
        let screen = Screen::default();
        let term = screen.clone();
        let target = move || ProgressDrawTarget::term_like(Box::new(term.clone()));
        // 25 samples in batches of 10: 3 batches, the last of 5.
        let mut progress = ProgressBar::with_target(Some(Box::new(target)), 2, 10, 25);
        progress.on_step(&step(0, 0, 3, 1.0));
        let (_, bar) = progress.current.clone().unwrap();
        assert_eq!((bar.position(), bar.length()), (10, Some(25)));
        assert_eq!(bar.prefix(), "epoch 1/2");
        assert_eq!(bar.message(), "loss 1.0000");
        let drawn = screen.0.lock().unwrap().join("\n");
        for part in [
            "epoch 1/2 [",
            "10/25 samples",
            " samples/s",
            "ETA ",
            "loss 1.0000",
        ] {
            assert!(drawn.contains(part), "{part:?} not in {drawn:?}");
        }
        progress.on_step(&step(0, 1, 3, 2.0));
        assert_eq!(bar.position(), 20);
        progress.on_step(&step(0, 2, 3, 3.0));
        assert_eq!(bar.position(), 25, "the last batch is partial");
        assert_eq!(bar.message(), "loss 2.0000", "the epoch's running mean");
        assert!(bar.is_finished() && progress.current.is_none());
        progress.on_step(&step(1, 0, 3, 5.0));
        let (epoch, bar) = progress.current.clone().unwrap();
        assert_eq!((epoch, bar.prefix()), (1, "epoch 2/2".to_string()));
        assert_eq!(
            bar.message(),
            "loss 5.0000",
            "the mean starts again each epoch"
        );
    }

    #[test]
    fn nothing_is_drawn_without_a_target() {
        let mut progress = ProgressBar::with_target(None, 2, 10, 25);
        progress.on_step(&step(0, 0, 3, 1.0));
        assert!(progress.current.is_none());
        let args = crate::run_file::testing::train_args(&["--quiet".to_string()]);
        assert!(ProgressBar::new(&args, 2, 25).target.is_none());
    }

    #[test]
    fn batches_that_do_not_cover_the_set_once_count_as_full() {
        let progress = ProgressBar::with_target(None, 1, 10, 25);
        assert_eq!(progress.epoch_samples(3), 25);
        assert_eq!(progress.epoch_samples(2), 20);
    }
}
