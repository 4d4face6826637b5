//! The `locus` command-line tool.

mod algo;
mod args;
mod contrastive;
mod contrastive_args;
mod contrastive_model;
mod data;
mod forward_forward;
mod greedy;
mod greedy_args;
mod list;
mod memory;
mod plot;
mod plot_points;
mod progress;
mod saved_run;
mod scheduler;
mod sequence;
mod train;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Train(a) => train::run(&a),
        args::Command::List(a) => list::run(&a),
        args::Command::Plot(a) => plot::run(&a),
        args::Command::PlotPoints(a) => plot_points::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
