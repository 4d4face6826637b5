//! `DIR/config.toml`, which every `locus train --out DIR` writes: every flag with the value
//! the run used, so that `locus train --config DIR/config.toml` ([`crate::run_file`]) runs
//! it again.
//!
//! The file is [`TrainArgs`] serialized, its fields in kebab-case as clap spells the flags
//! and enums by the names clap gives them, so a flag added to `TrainArgs` is written
//! without more code; a test checks that the keys are exactly the flags of `locus train`
//! but [`LEFT_OUT`].

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use serde::Serializer;

use crate::args::TrainArgs;

/// The flags config.toml leaves out: they say where and how the process runs, not what it
/// trains. A rerun that kept them would write over the first run's results (`--out`),
/// over or from its saved training state (`--save-state`, `--save-every`, `--resume`) or
/// stop where it stopped (`--stop-after`); and a run file cannot name another one
/// (`--config`) or a preset (`--preset`, whose settings the file holds already). Each run
/// of `--seeds` writes its own config.toml with its `seed`, which reruns that run alone.
pub(crate) const LEFT_OUT: [&str; 8] = [
    "out",
    "config",
    "preset",
    "save-state",
    "save-every",
    "resume",
    "stop-after",
    "seeds",
];

/// The run's config.toml: every flag of `args` but [`LEFT_OUT`] with its value, defaults
/// included, so the file reruns the run even if a default changes; an option left unset
/// (which stands for a default that depends on other flags) is left out.
///
/// # Errors
/// A value TOML cannot hold: a path that is not UTF-8, an integer above 2^63 − 1 in a
/// flag that is not a seed.
pub(crate) fn render(args: &TrainArgs) -> anyhow::Result<String> {
    let flags = toml::to_string(args).context("config.toml cannot hold the run's flags")?;
    // toml writes integers beyond 64-bit signed, which no TOML reader takes: a flag that
    // can hold one needs `large_integer`, and one without it fails here, not on rerun.
    if let Err(e) = flags.parse::<toml::Table>() {
        anyhow::bail!("config.toml would not read back: {e}");
    }
    let left_out: Vec<String> = LEFT_OUT.iter().map(|f| format!("--{f}")).collect();
    Ok(format!(
        "# The flags of one `locus train` run (locus {}), defaults included.\n\
         # `locus train --config <this file> --out DIR` runs it again; flags given beside\n\
         # --config override these. Left out, as they say where and how the process ran\n\
         # rather than what it trained: {}.\n\n{flags}",
        env!("CARGO_PKG_VERSION"),
        left_out.join(", ")
    ))
}

/// Writes [`render`] of `args` into `dir/config.toml`.
///
/// # Errors
/// As [`render`], and a directory or file that cannot be written.
pub(crate) fn write(args: &TrainArgs, dir: &Path) -> anyhow::Result<()> {
    let text = render(args)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("config.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Serializes a `ValueEnum` as the name its flag takes (`#[serde(serialize_with)]`).
pub(crate) fn value_name<T: ValueEnum, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value.to_possible_value() {
        Some(v) => serializer.serialize_str(v.get_name()),
        None => Err(serde::ser::Error::custom("a value the flag does not take")),
    }
}

/// Serializes a `u64` above TOML's integers (64-bit signed), as a 64-bit seed may be, as a
/// string of its digits, which a run file may hold in place of the integer.
pub(crate) fn large_integer<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    match i64::try_from(*value) {
        Ok(small) => serializer.serialize_i64(small),
        Err(_) => serializer.serialize_str(&value.to_string()),
    }
}

/// [`value_name`] of an optional `ValueEnum`; `None` is left out.
pub(crate) fn optional_value_name<T: ValueEnum, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value_name(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Arg;

    use super::*;
    use crate::run_file::testing::{train_args, train_command, words, TempFile};
    use crate::run_file::{flags, takes_list, Kind};
    use crate::train::{check_dni_options, with_algorithm_defaults};

    /// `args` written as config.toml and read back as a run file.
    fn reread(args: &TrainArgs, name: &str) -> TrainArgs {
        let file = TempFile::new(name, &render(args).unwrap());
        train_args(&file.config())
    }

    /// A command line giving every flag of `locus train` but --config a value clap takes
    /// (a switch on, an option a value, a list two values).
    fn every_flag() -> Vec<String> {
        // --seeds conflicts with --seed, and config.toml leaves it out.
        flags(&train_command())
            .filter(|arg| !matches!(arg.get_long(), Some("config" | "seeds")))
            .map(|arg| {
                let long = arg.get_long().unwrap();
                let value = match Kind::of(arg) {
                    Kind::Switch => return format!("--{long}"),
                    Kind::Bool => "true".to_string(),
                    Kind::Integer => "3".to_string(),
                    Kind::Float => "0.25".to_string(),
                    Kind::Text => {
                        match (arg.get_possible_values().last(), arg.get_default_values()) {
                            (Some(last), _) => last.get_name().to_string(),
                            (None, [default, ..]) => default.to_string_lossy().into_owned(),
                            (None, []) => "some/dir".to_string(),
                        }
                    }
                };
                let value = if takes_list(arg) {
                    format!("{value},{value}")
                } else {
                    value
                };
                format!("--{long}={value}")
            })
            .collect()
    }

    #[test]
    fn config_toml_has_every_flag_but_the_left_out() {
        let written: toml::Table = render(&train_args(&every_flag())).unwrap().parse().unwrap();
        let keys: BTreeSet<&str> = written.keys().map(String::as_str).collect();
        let train = train_command();
        let all: BTreeSet<&str> = flags(&train).filter_map(Arg::get_long).collect();
        let left_out = BTreeSet::from(LEFT_OUT);
        assert!(left_out.is_subset(&all), "{left_out:?} are not all flags");
        let expected: BTreeSet<&str> = all.difference(&left_out).copied().collect();
        assert_eq!(
            keys.symmetric_difference(&expected).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "config.toml's keys and the flags of locus train differ"
        );
    }

    #[test]
    fn config_toml_reads_back_as_the_same_flags() {
        let args = train_args(&every_flag());
        let back = reread(&args, "every-flag");
        assert_eq!(render(&back).unwrap(), render(&args).unwrap());
    }

    /// What each algorithm resolves (`with_algorithm_defaults`) is written out, and read
    /// back it is accepted and resolves to the same run.
    #[test]
    fn every_algorithm_reruns_from_its_config_toml() {
        let mut lines: Vec<String> = crate::algo::registry()
            .iter()
            .map(|a| format!("--algo {}", a.name))
            .collect();
        lines.extend(
            [
                "--algo dni --scheduler pipelined",
                "--algo dni --scheduler forward-unlocked",
                "--algo cdni --model lenet --dataset mnist",
                "--algo dgl --layer-norm --scheduler greedy",
                "--algo hsic --format-epochs 2 --hidden 20,10",
                "--algo gim --probe-pool grid3 --enc-widths 8,8",
                "--algo dni --model lstm --dataset copy",
                "--algo bp --scheduler simulated --stage-time 1,0.5 --link-delay 0.25",
            ]
            .map(String::from),
        );
        for (i, line) in lines.iter().enumerate() {
            let resolved = with_algorithm_defaults(&train_args(&words(line)));
            let back = reread(&resolved, &format!("algo-{i}"));
            check_dni_options(&back).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(
                render(&with_algorithm_defaults(&back)).unwrap(),
                render(&resolved).unwrap(),
                "{line}"
            );
        }
    }

    #[test]
    fn a_seed_beyond_toml_integers_is_written_as_a_string() {
        let args = train_args(&words("--seed 18446744073709551615 --data-seed 7"));
        let text = render(&args).unwrap();
        assert!(
            text.contains("\nseed = \"18446744073709551615\"\n"),
            "{text}"
        );
        assert!(text.contains("\ndata-seed = 7\n"), "{text}");
        assert_eq!(reread(&args, "large-seed").seed, u64::MAX);
    }
}
