//! The `locus` command-line tool.

mod algo;
mod args;
mod data;
mod plot;
mod progress;
mod sequence;
mod train;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Train(a) => train::run(&a),
        args::Command::Plot(a) => plot::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
