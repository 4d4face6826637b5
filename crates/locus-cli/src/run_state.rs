//! `--save-state`, `--save-every`, `--resume` and `--stop-after` for every driver that
//! trains through `locus_train::Trainer`: one checkpoint directory per run
//! (`locus_train::save_run_state`), the settings that must not change between the parts
//! of a run, and the flow after each epoch.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use locus_core::Float;
use locus_sched::{Scheduler, Stage};
use locus_train::{load_run_state, save_run_state, EpochDone, Flow, Manifest, Progress};
use serde_json::Value;

use crate::args::TrainArgs;

/// A run's checkpointing: what it resumed from and where it saves.
pub struct Checkpointing<'a> {
    args: &'a TrainArgs,
    /// The epochs of the whole run.
    epochs: u64,
    algorithm: String,
    settings: Value,
    /// Seconds of the whole run spent by earlier processes.
    wall_before: f64,
    /// The epochs done when this process started.
    resumed_at: u64,
    resumed_after: Vec<u64>,
    start: Instant,
}

/// The settings that must be the same in every part of a run: every option as
/// config.toml writes it (the flags by name, defaults included), which leaves out the
/// ones that say where this process reads and writes and when it stops; and `--json` and
/// `--quiet`, which only say how the run is printed.
pub fn settings_of(args: &TrainArgs) -> Value {
    let mut settings = serde_json::to_value(args).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut settings {
        map.remove("json");
        map.remove("quiet");
    }
    settings
}

/// Refuses a checkpoint that has done all `epochs` of its run, and says where the run
/// goes on from.
///
/// # Errors
/// The run has no epoch left.
pub fn announce_resume(dir: &Path, manifest: &Manifest, epochs: u64) -> anyhow::Result<()> {
    if manifest.epochs_done >= epochs {
        anyhow::bail!(
            "--resume {}: the run has done all {epochs} epochs already",
            dir.display()
        );
    }
    eprintln!(
        "locus train: resuming {} after epoch {} of {epochs}",
        dir.display(),
        manifest.epochs_done
    );
    Ok(())
}

/// Checks `--save-every` and `--stop-after`: each needs `--save-state`, and 0 is no
/// number of epochs.
///
/// # Errors
/// The flag and what is wrong with it.
pub fn check_flags(args: &TrainArgs) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--save-every", args.save_every),
        ("--stop-after", args.stop_after),
    ] {
        if value.is_some() && args.save_state.is_none() {
            anyhow::bail!("{flag} needs --save-state DIR, to go on from with --resume");
        }
        if value == Some(0) {
            anyhow::bail!("{flag} should be >= 1 epoch, but it is 0");
        }
    }
    Ok(())
}

impl<'a> Checkpointing<'a> {
    /// Checks the flags and, with `--resume`, loads the checkpoint into `stages` and
    /// `scheduler` (freshly built for a run of `epochs` epochs); returns the progress to
    /// resume from (nothing done without `--resume`).
    ///
    /// # Errors
    /// `--save-every` or `--stop-after` 0 or without `--save-state`; a checkpoint that
    /// cannot be read or does not belong to this run (named).
    pub fn start<F: Float, S: Scheduler<F> + ?Sized>(
        args: &'a TrainArgs,
        epochs: u64,
        stages: &mut [Stage<F>],
        scheduler: &mut S,
    ) -> anyhow::Result<(Self, Progress)> {
        check_flags(args)?;
        let settings = settings_of(args);
        let algorithm = args.algo.as_str();
        let mut me = Checkpointing {
            args,
            epochs,
            algorithm: algorithm.to_string(),
            settings,
            wall_before: 0.0,
            resumed_at: 0,
            resumed_after: Vec::new(),
            start: Instant::now(),
        };
        let Some(dir) = &args.resume else {
            return Ok((me, Progress::default()));
        };
        let manifest = load_run_state(dir, algorithm, &me.settings, stages, scheduler)
            .with_context(|| format!("--resume {}", dir.display()))?;
        announce_resume(dir, &manifest, epochs)?;
        me.wall_before = manifest.wall_s;
        me.resumed_at = manifest.epochs_done;
        me.resumed_after = manifest.resumed_after.clone();
        me.resumed_after.push(manifest.epochs_done);
        Ok((me, manifest.progress()))
    }

    /// Saves the run after an epoch when it is due (every `--save-every` epochs, the last
    /// epoch, and the epoch `--stop-after` stops at) and says whether to go on.
    ///
    /// # Errors
    /// A checkpoint that cannot be written, named, as the epoch's error.
    pub fn after_epoch<F: Float, S: Scheduler<F> + ?Sized>(
        &self,
        done: &EpochDone<'_, F, S>,
    ) -> locus_train::Result<Flow> {
        let stop = self
            .args
            .stop_after
            .is_some_and(|n| done.epoch - self.resumed_at >= n);
        let Some(dir) = &self.args.save_state else {
            return Ok(Flow::Continue);
        };
        let every = self.args.save_every.unwrap_or(1);
        // Under --scheduler mpi every rank holds the same stack: rank 0 writes it.
        let due = stop || done.epoch == done.epochs || done.epoch % every == 0;
        if due && done.scheduler.is_main_process() {
            self.save(dir, done)
                .map_err(|e| locus_train::Error::AfterEpoch {
                    epoch: done.epoch,
                    source: e.into(),
                })?;
        }
        Ok(if stop { Flow::Stop } else { Flow::Continue })
    }

    fn save<F: Float, S: Scheduler<F> + ?Sized>(
        &self,
        dir: &Path,
        done: &EpochDone<'_, F, S>,
    ) -> anyhow::Result<()> {
        let mut manifest = Manifest::new(
            &self.algorithm,
            self.settings.clone(),
            done.stages,
            done.progress,
            self.wall_s(),
        );
        manifest.resumed_after.clone_from(&self.resumed_after);
        save_run_state(dir, &manifest, done.stages, done.scheduler)
            .with_context(|| format!("--save-state {}", dir.display()))
    }

    /// Seconds of the whole run so far, earlier processes included.
    pub fn wall_s(&self) -> f64 {
        self.wall_before + self.start.elapsed().as_secs_f64()
    }

    /// The epochs after which this run was resumed (empty: one process), for results.json.
    pub fn resumed_after(&self) -> &[u64] {
        &self.resumed_after
    }

    /// After a run `on_epoch` stopped: says where its state is and how to go on.
    pub fn report_stop(&self, epochs_done: u64) {
        if let Some(dir) = &self.args.save_state {
            eprintln!(
                "locus train: stopped after epoch {epochs_done} of {}, the state saved in {}; \
                 go on with the same command and --resume {}",
                self.epochs,
                dir.display(),
                dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_but_the_process_ones_is_a_setting() {
        use clap::Parser;
        let cli = crate::args::Cli::parse_from([
            "locus",
            "train",
            "--lr",
            "0.2",
            "--out",
            "x",
            "--save-state",
            "s",
            "--save-every",
            "2",
            "--json",
            "--quiet",
        ]);
        let crate::args::Command::Train(args) = cli.command else {
            panic!("parsed as train");
        };
        let s = settings_of(&args);
        assert_eq!(s["lr"], 0.2);
        for key in [
            "out",
            "save-state",
            "save-every",
            "resume",
            "stop-after",
            "json",
            "quiet",
            "seeds",
        ] {
            assert!(s.get(key).is_none(), "{key} in {s}");
        }
        assert!(s.as_object().unwrap().len() > 60, "{s}");
    }
}
