//! `locus train --seeds 0,1,2 --out DIR`: the same run once per seed, each into its own
//! run directory DIR/seed-N (a whole `locus train --seed N --out DIR/seed-N`), then their
//! comparison ([`crate::compare`]) written into DIR and printed.

use std::collections::BTreeSet;

use anyhow::Context;

use crate::args::TrainArgs;
use crate::compare::Comparison;

/// Runs `locus train`: once, or once per seed of `--seeds`.
///
/// # Errors
/// What [`check`] refuses, and the first run that fails (its seed named).
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let Some(seeds) = &args.seeds else {
        return crate::train::run(args);
    };
    let out = check(args, seeds)?;
    let mut dirs = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let dir = out.join(format!("seed-{seed}"));
        let mut one = args.clone();
        one.seeds = None;
        one.seed = seed;
        one.out = Some(dir.clone());
        one.save_state = args
            .save_state
            .as_ref()
            .map(|s| s.join(format!("seed-{seed}")));
        if crate::scheduler::reports() && !args.quiet {
            eprintln!(
                "locus train: seed {seed} ({} of {}) into {}",
                i + 1,
                seeds.len(),
                dir.display()
            );
        }
        crate::train::run(&one).with_context(|| format!("--seeds: the run of seed {seed}"))?;
        dirs.push(dir);
    }
    // Under --scheduler mpi every rank trains; rank 0 reports.
    if !crate::scheduler::reports() {
        return Ok(());
    }
    let comparison = Comparison::read(&dirs)?;
    comparison.print_notes();
    comparison.write(out)?;
    if args.json {
        // stdout's last line stays one JSON object: the comparison's.
        eprint!("{}", comparison.text());
        println!("{}", serde_json::to_string(&comparison.json())?);
    } else {
        print!("{}", comparison.text());
    }
    Ok(())
}

/// Refuses what does not go with `--seeds` (clap refuses `--seed` beside it); returns
/// `--out`.
///
/// # Errors
/// No `--out`, a seed given twice, `--resume` and `--stop-after`.
fn check<'a>(args: &'a TrainArgs, seeds: &[u64]) -> anyhow::Result<&'a std::path::Path> {
    let mut seen = BTreeSet::new();
    if let Some(twice) = seeds.iter().find(|s| !seen.insert(**s)) {
        anyhow::bail!("--seeds gives seed {twice} twice; the same seed gives the same run");
    }
    if args.resume.is_some() {
        anyhow::bail!(
            "--resume goes on with one run from its checkpoint, and --seeds starts a run per \
             seed: resume each seed's run on its own (--resume STATE/seed-N --seed N --out \
             DIR/seed-N), then compare them with `locus compare DIR`"
        );
    }
    if args.stop_after.is_some() {
        anyhow::bail!(
            "--stop-after stops a run to go on with it by --resume, which --seeds does not \
             take: split the runs one seed at a time (--seed N --save-state STATE/seed-N)"
        );
    }
    args.out.as_deref().context(
        "--seeds writes each run into its own directory, DIR/seed-N, and their comparison \
         into DIR: give --out DIR",
    )
}
