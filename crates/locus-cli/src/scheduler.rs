//! `--scheduler` and its options: which scheduler runs the stages, and its bounds,
//! simulated delays and greedy budget.

use clap::{Args, ValueEnum};
use locus_sched::{
    AsyncConfig, ForwardUnlocked, GreedyLayerWise, InputModel, Lockstep, LrSchedule, Pipelined,
    Scheduler, Simulated, SimulatedConfig, Stage, StageBudget, StageTime, SyntheticInputConfig,
};
use serde::Serialize;
use serde_json::json;

use crate::args::TrainArgs;

/// The schedulers `--scheduler` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerKind {
    /// One thread; every stage on every batch, top-down; deterministic.
    Lockstep,
    /// One thread per stage, bounded channels: stages work on different batches at once.
    Pipelined,
    /// The pipelined protocol on a virtual clock with set stage times and delays;
    /// reproducible bit for bit.
    Simulated,
    /// Lockstep, but every stage above the first runs on a synthetic input predicted
    /// from the data (forward unlocking); with dni/cdni the stages are fully decoupled.
    ForwardUnlocked,
    /// One stage learns per epoch, bottom first, from its own objective, on the frozen
    /// stages below it (greedy layer-wise); each stage's turn is --stage-epochs.
    Greedy,
    /// The pipelined protocol over MPI processes: run under `mpirun -n R`, R at most the
    /// number of stages, each rank running a contiguous block of them (the lower ranks
    /// one more when they do not divide evenly); evaluation and results on rank 0. Needs
    /// locus built with the cargo feature `mpi`.
    Mpi,
}

impl SchedulerKind {
    /// The value `--scheduler` takes for it.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }
}

#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SchedulerArgs {
    /// How the stages are run.
    #[arg(long, value_enum, default_value_t = SchedulerKind::Lockstep)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub scheduler: SchedulerKind,
    /// pipelined, simulated, mpi: batches that may wait between two stages [default: 2].
    #[arg(long)]
    pub capacity: Option<usize>,
    /// pipelined, simulated, mpi: batches a stage may hold while it waits for their signal
    /// (1 reproduces lockstep) [default: the number of stages].
    #[arg(long)]
    pub in_flight: Option<usize>,
    /// pipelined, simulated, mpi: replay buffers of N batches above every stage whose stages
    /// below learn locally (asynchronous DGL).
    #[arg(long, value_name = "N")]
    pub replay_buffer: Option<usize>,
    /// simulated: forward time of each stage, comma-separated, or one value for all (an
    /// update takes twice as long) [default: 1].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub stage_time: Option<Vec<f64>>,
    /// simulated: time a message takes between neighbouring stages [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub link_delay: Option<f64>,
    /// simulated: time the global error takes from the top stage to any stage [default:
    /// the link delay].
    #[arg(long, allow_negative_numbers = true)]
    pub broadcast_delay: Option<f64>,
    /// simulated: bytes a stage's link carries per time unit of --stage-time; each stage
    /// then sends its messages one after another, each taking its size in the mpi wire
    /// format over the bandwidth before the delay [default: unlimited].
    #[arg(long, value_name = "BYTES_PER_UNIT")]
    pub link_bandwidth: Option<f64>,
    /// forward-unlocked: hidden width of the synthetic input models (an MLP with one
    /// ReLU layer) [default: a linear model].
    #[arg(long, value_name = "WIDTH")]
    pub input_hidden: Option<usize>,
}

impl SchedulerArgs {
    /// Checks that every option given applies to the chosen scheduler.
    fn check_applicable(&self) -> anyhow::Result<()> {
        let asynchronous = [
            ("--capacity", self.capacity.is_some()),
            ("--in-flight", self.in_flight.is_some()),
            ("--replay-buffer", self.replay_buffer.is_some()),
        ];
        let simulated = [
            ("--stage-time", self.stage_time.is_some()),
            ("--link-delay", self.link_delay.is_some()),
            ("--broadcast-delay", self.broadcast_delay.is_some()),
            ("--link-bandwidth", self.link_bandwidth.is_some()),
        ];
        let name = self.scheduler.name();
        let refuse = |options: &[(&str, bool)], applies: &str| match options
            .iter()
            .find(|(_, given)| *given)
        {
            Some((flag, _)) => Err(anyhow::anyhow!(
                "{flag} applies to {applies}, not to --scheduler {name}"
            )),
            None => Ok(()),
        };
        for (flag, value, unit) in [
            ("--capacity", self.capacity, "batch"),
            ("--in-flight", self.in_flight, "batch"),
            ("--replay-buffer", self.replay_buffer, "batch"),
            ("--input-hidden", self.input_hidden, "unit"),
        ] {
            if value == Some(0) {
                anyhow::bail!("{flag} should be >= 1 {unit}, but it is 0");
            }
        }
        let mut times: Vec<(&str, f64)> = (self.stage_time.iter().flatten())
            .map(|&t| ("--stage-time", t))
            .collect();
        times.extend(self.link_delay.map(|d| ("--link-delay", d)));
        times.extend(self.broadcast_delay.map(|d| ("--broadcast-delay", d)));
        for (flag, value) in times {
            if !(value.is_finite() && value >= 0.0) {
                anyhow::bail!("{flag} should be finite and >= 0, but it is {value}");
            }
        }
        if let Some(b) = self.link_bandwidth.filter(|b| !(b.is_finite() && *b > 0.0)) {
            anyhow::bail!(
                "--link-bandwidth should be finite and > 0 (bytes per time unit), but it is {b}"
            );
        }
        // Which options each scheduler takes; a new scheduler needs no arm here.
        let takes_flow = matches!(
            self.scheduler,
            SchedulerKind::Pipelined | SchedulerKind::Simulated | SchedulerKind::Mpi
        );
        let takes_delays = self.scheduler == SchedulerKind::Simulated;
        if !takes_flow {
            refuse(&asynchronous, "--scheduler pipelined, simulated or mpi")?;
        }
        if !takes_delays {
            refuse(&simulated, "--scheduler simulated")?;
        }
        if self.scheduler != SchedulerKind::ForwardUnlocked {
            refuse(
                &[("--input-hidden", self.input_hidden.is_some())],
                "--scheduler forward-unlocked",
            )?;
        }
        Ok(())
    }

    /// Refuses every scheduler but lockstep, for an algorithm that trains its stages
    /// `how` (named in the error).
    ///
    /// # Errors
    /// When `--scheduler` is not lockstep.
    pub fn require_lockstep(&self, algo: &str, how: &str) -> anyhow::Result<()> {
        if self.scheduler != SchedulerKind::Lockstep {
            anyhow::bail!(
                "--algo {algo} trains {how}; --scheduler {} is not supported",
                self.scheduler.name()
            );
        }
        Ok(())
    }

    /// Checks the options that depend on the number of stages.
    ///
    /// # Errors
    /// `--stage-time` with several values but not one per stage.
    pub(crate) fn check_stage_times(&self, stages: usize) -> anyhow::Result<()> {
        if let Some(times) = &self.stage_time {
            if times.len() != 1 && times.len() != stages {
                anyhow::bail!(
                    "--stage-time has {} values for {stages} stages; give one per stage, or \
                     one for all",
                    times.len()
                );
            }
        }
        Ok(())
    }

    fn flow(&self, seed: u64) -> AsyncConfig {
        let mut flow = AsyncConfig::default();
        if let Some(c) = self.capacity {
            flow.capacity = c;
        }
        flow.in_flight = self.in_flight;
        if let Some(batches) = self.replay_buffer {
            flow = flow.with_replay(batches, seed);
        }
        flow
    }

    /// The pipelined scheduler the options describe.
    ///
    /// # Errors
    /// An option that does not apply to it, or an invalid value (named).
    pub(crate) fn pipelined(&self, seed: u64) -> anyhow::Result<Pipelined> {
        self.check_applicable()?;
        Ok(Pipelined::new(self.flow(seed))?)
    }

    /// The simulated scheduler the options describe.
    ///
    /// # Errors
    /// An option that does not apply to it, or an invalid value (named).
    pub(crate) fn simulated(&self, seed: u64) -> anyhow::Result<Simulated> {
        self.check_applicable()?;
        let link_delay = self.link_delay.unwrap_or(0.0);
        let mut config = SimulatedConfig::default()
            .with_flow(self.flow(seed))
            .with_link_delay(link_delay)
            .with_broadcast_delay(self.broadcast_delay.unwrap_or(link_delay))
            .with_stage_times(
                self.stage_time
                    .as_deref()
                    .unwrap_or(&[1.0])
                    .iter()
                    .map(|&t| StageTime::dense(t))
                    .collect(),
            );
        if let Some(bandwidth) = self.link_bandwidth {
            config = config.with_link_bandwidth(bandwidth);
        }
        Ok(Simulated::new(config)?)
    }

    /// The scheduler, checked, and its settings for the run's `config`; `budget` is the
    /// greedy scheduler's.
    ///
    /// # Errors
    /// An option given to a scheduler it does not apply to, or an invalid value (named).
    fn build(
        &self,
        seed: u64,
        budget: StageBudget,
    ) -> anyhow::Result<(Box<dyn Scheduler<f32>>, serde_json::Value)> {
        self.check_applicable()?;
        Ok(match self.scheduler {
            SchedulerKind::Lockstep => (Box::new(Lockstep), json!(null)),
            SchedulerKind::Pipelined => {
                let pipelined = self.pipelined(seed)?;
                let settings = json!(pipelined.config());
                (Box::new(pipelined), settings)
            }
            SchedulerKind::Simulated => {
                let simulated = self.simulated(seed)?;
                let settings = json!(simulated.config());
                (Box::new(simulated), settings)
            }
            SchedulerKind::ForwardUnlocked => {
                let model = self
                    .input_hidden
                    .map_or(InputModel::Linear, |hidden| InputModel::Mlp { hidden });
                let config = SyntheticInputConfig::new(seed).with_model(model);
                let settings = json!({ "synthetic_inputs": config });
                (Box::new(ForwardUnlocked::<f32>::new(config)?), settings)
            }
            SchedulerKind::Greedy => {
                if budget == StageBudget::Each(0) {
                    anyhow::bail!(
                        "--stage-epochs should be >= 1 under --scheduler greedy (every stage \
                         learns in its turn), but it is 0"
                    );
                }
                let greedy = GreedyLayerWise::new(budget)?;
                let settings = json!(greedy);
                (Box::new(greedy), settings)
            }
            SchedulerKind::Mpi => mpi_scheduler(self.flow(seed))?,
        })
    }
}

/// This process's MPI rank under `--scheduler mpi` (0 otherwise): only rank 0 prints
/// the run's summary and writes its files.
static MPI_RANK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether this process reports the run: always, but for the ranks above 0 of an MPI run.
pub(crate) fn reports() -> bool {
    MPI_RANK.load(std::sync::atomic::Ordering::Relaxed) == 0
}

/// Whether this process is a rank of an MPI run (its `mpi` scheduler is made).
static MPI_RUN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is a rank of an MPI run, once its scheduler is made.
pub(crate) fn is_mpi_run() -> bool {
    MPI_RUN.load(std::sync::atomic::Ordering::Relaxed)
}

/// In an MPI run, rank 0's `bytes` on every rank ([`locus_sched::Mpi::share_from_rank0`];
/// every rank must call it at the same point); elsewhere `bytes` itself.
pub(crate) fn share_from_rank0(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    #[cfg(feature = "mpi")]
    if is_mpi_run() {
        return Ok(locus_sched::Mpi::share_from_rank0(bytes)?);
    }
    Ok(bytes)
}

/// The `mpi` scheduler as a trainer that runs its own epochs takes it (Forward-Forward):
/// `locus_sched::Mpi` with the cargo feature `mpi`; without it, a type with no value, as
/// [`mpi`] then only says how to get the feature.
#[cfg(feature = "mpi")]
pub(crate) type MpiScheduler = locus_sched::Mpi;
/// The `mpi` scheduler as a trainer that runs its own epochs takes it (Forward-Forward):
/// `locus_sched::Mpi` with the cargo feature `mpi`; without it, a type with no value, as
/// [`mpi`] then only says how to get the feature.
#[cfg(not(feature = "mpi"))]
pub(crate) type MpiScheduler = std::convert::Infallible;

/// The `mpi` scheduler the options describe (initialising MPI; one per process), and
/// its settings for results.json: the bounds, the number of ranks and each rank's host.
/// Collective: every rank makes it at the same point.
#[cfg(feature = "mpi")]
pub(crate) fn mpi(args: &TrainArgs) -> anyhow::Result<(MpiScheduler, serde_json::Value)> {
    make_mpi(args.schedule.flow(args.seed))
}

/// Without the cargo feature `mpi`: the error that says how to get it.
#[cfg(not(feature = "mpi"))]
pub(crate) fn mpi(args: &TrainArgs) -> anyhow::Result<(MpiScheduler, serde_json::Value)> {
    mpi_scheduler(args.schedule.flow(args.seed)).map(|_| unreachable!("it always fails"))
}

#[cfg(feature = "mpi")]
fn make_mpi(flow: AsyncConfig) -> anyhow::Result<(locus_sched::Mpi, serde_json::Value)> {
    let mpi = locus_sched::Mpi::new(flow)?;
    MPI_RANK.store(mpi.rank(), std::sync::atomic::Ordering::Relaxed);
    MPI_RUN.store(true, std::sync::atomic::Ordering::Relaxed);
    let settings = json!({
        "flow": mpi.config(),
        "ranks": mpi.ranks(),
        "hosts": mpi.hosts(),
    });
    Ok((mpi, settings))
}

/// The `mpi` scheduler, and its settings for results.json ([`mpi`]).
#[cfg(feature = "mpi")]
fn mpi_scheduler(
    flow: AsyncConfig,
) -> anyhow::Result<(Box<dyn Scheduler<f32>>, serde_json::Value)> {
    let (mpi, settings) = make_mpi(flow)?;
    Ok((Box::new(mpi), settings))
}

/// Records in an MPI run's `scheduler_config` which stages each rank ran
/// (`stages_of_rank`, [`locus_sched::stage_placement`]); other runs are left as they are.
pub(crate) fn record_placement(run: &mut locus_eval::RunReport) {
    let stages = run.stages.len();
    let Some(settings) = run
        .config
        .get_mut("scheduler_config")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let Some(ranks) = settings.get("ranks").and_then(serde_json::Value::as_u64) else {
        return;
    };
    if let Ok(placement) = locus_sched::stage_placement(stages, ranks as usize) {
        let blocks: Vec<Vec<usize>> = placement.into_iter().map(Iterator::collect).collect();
        settings.insert("stages_of_rank".into(), json!(blocks));
    }
}

/// Without the cargo feature `mpi`: the error that says how to get it.
#[cfg(not(feature = "mpi"))]
fn mpi_scheduler(
    _flow: AsyncConfig,
) -> anyhow::Result<(Box<dyn Scheduler<f32>>, serde_json::Value)> {
    anyhow::bail!(
        "--scheduler mpi needs locus built with the cargo feature `mpi` (cargo build \
         --release -p locus-cli --features mpi, with Debian's libopenmpi-dev, openmpi-bin \
         and libclang-dev installed), then run under mpirun -n <ranks> (at most one per stage)"
    )
}

/// The budget of `--scheduler greedy`: `--stage-epochs` for each stage below the top, the
/// top taking the rest of the run; by default `--epochs` split evenly over the stages (the
/// top also takes the remainder).
pub(crate) fn budget(args: &TrainArgs) -> StageBudget {
    args.greedy
        .stage_epochs
        .map_or(StageBudget::Split(args.epochs), StageBudget::Each)
}

/// The scheduler `--scheduler` names, checked, and its settings for the run's `config`.
///
/// # Errors
/// An option given to a scheduler it does not apply to, or an invalid value (named).
pub fn build(args: &TrainArgs) -> anyhow::Result<(Box<dyn Scheduler<f32>>, serde_json::Value)> {
    args.schedule.build(args.seed, budget(args))
}

/// Checks what depends on the stages: `--stage-time` has one value per stage; under
/// `--scheduler greedy`, every stage learns from its own objective (no message from
/// above, no global error) and the budget leaves every stage at least one epoch.
///
/// # Errors
/// Naming the flag, or the stage and objective, and why.
pub fn check_stages(args: &TrainArgs, stages: &[Stage<f32>]) -> anyhow::Result<()> {
    args.schedule.check_stage_times(stages.len())?;
    if args.schedule.scheduler != SchedulerKind::Greedy {
        return Ok(());
    }
    GreedyLayerWise::check_stack(stages).map_err(|e| {
        anyhow::anyhow!(
            "--algo {} cannot run under --scheduler greedy: {e}",
            args.algo
        )
    })?;
    greedy_turns(args, stages.len()).map(|_| ())
}

/// Each stage's epochs under `--scheduler greedy`, bottom first.
fn greedy_turns(args: &TrainArgs, stages: usize) -> anyhow::Result<Vec<u64>> {
    budget(args)
        .epochs_per_stage(stages, args.epochs)
        .map_err(|_| match args.greedy.stage_epochs {
            Some(each) => anyhow::anyhow!(
                "--stage-epochs {each} gives the {} stage(s) below the top {below} epoch(s) in \
                 all, so --epochs {} leaves the top stage none; give --epochs more than {below} \
                 or a smaller --stage-epochs",
                stages - 1,
                args.epochs,
                below = each * (stages as u64 - 1),
            ),
            None => anyhow::anyhow!(
                "--epochs {} split over {stages} stages leaves some stage no epoch under \
                 --scheduler greedy; give --epochs >= {stages}",
                args.epochs
            ),
        })
}

/// The learning rate of `epoch`: `schedule` over the run from `base`, or under
/// `--scheduler greedy` over the turn of the stage that learns in it, so that each stage
/// anneals over its own epochs as a stage trained alone would.
///
/// # Errors
/// As [`check_stages`] for the greedy budget.
pub fn learning_rate(
    args: &TrainArgs,
    schedule: LrSchedule,
    base: f64,
    stages: usize,
    epoch: u64,
) -> anyhow::Result<f64> {
    if args.schedule.scheduler != SchedulerKind::Greedy {
        return Ok(schedule.rate(base, epoch, args.epochs));
    }
    greedy_turns(args, stages)?; // the budget's error in the flags' words
    let (within, turn) = budget(args).turn_position(stages, args.epochs, epoch)?;
    Ok(schedule.rate(base, within, turn))
}
