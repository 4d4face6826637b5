//! The `locus` command as a library, so that a crate with a learning rule of its own can
//! run it through the whole command — training under every scheduler, the report, plots,
//! `locus list` — by registering it: [`main_with`] (or [`run_with`] for given arguments)
//! with an [`Algorithm`] whose hidden stages learn from the crate's objective
//! ([`HiddenSignal::Custom`]). The `locus` binary is `main_with(Vec::new())`.
mod algo;
mod args;
mod compare;
mod config_toml;
mod contrastive;
mod contrastive_args;
mod contrastive_model;
mod data;
mod data_files;
mod forward_forward;
mod greedy;
mod greedy_args;
mod list;
mod memory;
mod plot;
mod plot_points;
mod presets;
mod progress;
mod redraw;
mod run_file;
mod run_state;
mod scheduler;
mod seeds;
mod sequence;
mod train;

pub use algo::{Algorithm, HiddenSignal, ObjectiveFactory, ObjectiveSettings, StageSlot};
pub use contrastive_model::Family as ContrastiveFamily;

/// Runs the `locus` command on `args` (the program name first, as in `std::env::args`)
/// with the built-in algorithms and `extra`.
///
/// # Errors
/// An algorithm in `extra` whose name is taken or empty, arguments clap refuses (the
/// error carries clap's message and exit code), a `--config` file that cannot be read or
/// holds a key, type or value `locus train` refuses, and whatever the command fails with.
pub fn run_with(
    args: impl IntoIterator<Item = String>,
    extra: Vec<Algorithm>,
) -> anyhow::Result<()> {
    algo::install(extra)?;
    let cli = run_file::parse(args.into_iter().map(Into::into).collect())?;
    match cli.command {
        args::Command::Train(a) => seeds::run(&a),
        args::Command::List(a) => list::run(&a),
        args::Command::Plot(a) => plot::run(&a),
        args::Command::PlotPoints(a) => plot_points::run(&a),
        args::Command::Redraw(a) => redraw::run(&a),
        args::Command::Compare(a) => compare::run(&a),
        args::Command::Data(a) => data_files::run(&a),
    }
}

/// Runs the `locus` command on the process's arguments with the built-in algorithms and
/// `extra`, and exits: 0 on success, clap's code for help, version and argument errors,
/// 1 (with the error on stderr) otherwise.
pub fn main_with(extra: Vec<Algorithm>) {
    if let Err(e) = run_with(std::env::args(), extra) {
        if let Some(clap_error) = e.downcast_ref::<clap::Error>() {
            clap_error.exit();
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
