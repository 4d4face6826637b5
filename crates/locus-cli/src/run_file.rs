//! Runs described by files: `locus train --config FILE.toml` reads a run's flags from a
//! TOML file.
//!
//! clap's `train` command is the one list of flags: a key is a flag's long name, its TOML
//! type follows the flag's value parser, and the file becomes `--flag=value` tokens that
//! clap parses before the command line's, so every check of a flag applies to the file.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::presets::Preset;

/// Parses the command line (the program name first); for `locus train --config FILE`, the
/// file's flags first, a flag also given on the command line taking the command line's
/// value only (a list is replaced, not extended).
///
/// # Errors
/// What clap refuses (as a `clap::Error`, for its message and exit code); a file that
/// cannot be read or is not TOML; an unknown key, one given twice (`batch-size` and
/// `batch_size`), `config`, and a value of the wrong type or one its flag refuses, each
/// named with the file.
pub(crate) fn parse(args: Vec<OsString>) -> anyhow::Result<Cli> {
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(&args)?;
    let Some(("train", train_matches)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let file = train_matches.get_one::<PathBuf>("config").cloned();
    let preset = train_matches.get_one::<Preset>("preset").copied();
    if file.is_none() && preset.is_none() {
        return Ok(Cli::from_arg_matches(&matches)?);
    }
    let train = command
        .find_subcommand("train")
        .context("the locus command has no train subcommand")?;
    // A flag on the command line replaces the files' value of it and of the flags it
    // cannot be given with (`--seeds` a file's `seed`).
    let on_command_line =
        |id: &str| train_matches.value_source(id) == Some(ValueSource::CommandLine);
    let given =
        |id: &str| on_command_line(id) || rivals(train, id).into_iter().any(on_command_line);
    // The command line wins over the file, and both over the preset.
    let (file_tokens, file_sets) = match &file {
        Some(file) => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the run file --config {name}"))?;
            text_tokens(&name, &text, train, &given)?
        }
        None => (Vec::new(), Vec::new()),
    };
    let preset_tokens = match preset {
        Some(preset) => {
            // The algorithm the run trains: the command line's, else the file's.
            let from_file = file_tokens.iter().find_map(|t| {
                t.to_str()
                    .and_then(|t| t.strip_prefix("--algo="))
                    .map(String::from)
            });
            let algo = match (given("algo"), from_file) {
                (false, Some(algo)) => algo,
                _ => train_matches
                    .get_one::<String>("algo")
                    .cloned()
                    .unwrap_or_default(),
            };
            let name = format!("--preset {}", preset.name());
            let set_before = |id: &str| {
                given(id)
                    || file_sets
                        .iter()
                        .any(|s| s == id || rivals(train, s).contains(&id))
            };
            text_tokens(&name, &preset.run_file(&algo), train, &set_before)?.0
        }
        None => Vec::new(),
    };
    // The files' flags go right after the subcommand, before the command line's own.
    let at = 1
        + args
            .iter()
            .skip(1)
            .position(|a| a == "train")
            .context("--config is read by locus train only")?
        + 1;
    let merged: Vec<OsString> = (args[..at].iter().cloned())
        .chain(preset_tokens)
        .chain(file_tokens)
        .chain(args[at..].iter().cloned())
        .collect();
    let matches = command.try_get_matches_from_mut(merged)?;
    Ok(Cli::from_arg_matches(&matches)?)
}

/// The `--flag=value` tokens of the keys of the run file `text` (named `name` in errors)
/// that `set_before` (by argument id: the command line, or a file read after this one)
/// does not set, and the ids of every flag the file sets; every key is checked by `train`
/// on its own, so that an error names its key.
fn text_tokens(
    name: &str,
    text: &str,
    train: &Command,
    set_before: &dyn Fn(&str) -> bool,
) -> anyhow::Result<(Vec<OsString>, Vec<String>)> {
    let table: toml::Table = text.parse().map_err(|e| anyhow!("{name}: {e}"))?;
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut tokens = Vec::new();
    for (key, value) in &table {
        let Some(arg) = find_flag(train, key) else {
            anyhow::bail!("{name}: unknown key '{key}'{}", suggestion(train, key));
        };
        let long = arg.get_long().unwrap_or_default();
        if long == "config" {
            anyhow::bail!(
                "{name}: key '{key}': a run file cannot name another run file; give --config \
                 on the command line"
            );
        }
        if let Some(other) = seen.insert(arg.get_id().as_str(), key) {
            anyhow::bail!("{name}: keys '{other}' and '{key}' both set --{long}: keep one");
        }
        let flag = flag_tokens(arg, value).map_err(|e| anyhow!("{name}: key '{key}': {e}"))?;
        let alone = std::iter::once(OsString::from("train")).chain(flag.iter().cloned());
        if let Err(e) = train.clone().try_get_matches_from(alone) {
            anyhow::bail!("{name}: key '{key}': {}", clap_message(&e));
        }
        // Checked all the same, so that whether a file is valid does not depend on the
        // command line beside it.
        if !set_before(arg.get_id().as_str()) {
            tokens.extend(flag);
        }
    }
    for (id, key) in &seen {
        if let Some(other) = rivals(train, id).into_iter().find_map(|r| seen.get(r)) {
            anyhow::bail!(
                "{name}: keys '{key}' and '{other}' cannot both be set (--{} cannot be used \
                 with --{}): keep one",
                find_flag(train, key).and_then(Arg::get_long).unwrap_or(key),
                find_flag(train, other)
                    .and_then(Arg::get_long)
                    .unwrap_or(other),
            );
        }
    }
    let ids = seen.into_keys().map(String::from).collect();
    Ok((tokens, ids))
}

/// The ids of the flags of `train` that cannot be given with the flag `id` (clap's
/// `conflicts_with`, declared on either side).
fn rivals<'a>(train: &'a Command, id: &str) -> Vec<&'a str> {
    let conflicts = |arg: &Arg| -> Vec<&str> {
        train
            .get_arg_conflicts_with(arg)
            .into_iter()
            .map(|a| a.get_id().as_str())
            .collect()
    };
    let mut out = Vec::new();
    for arg in train.get_arguments() {
        if arg.get_id() == id {
            out.extend(conflicts(arg));
        } else if conflicts(arg).contains(&id) {
            out.push(arg.get_id().as_str());
        }
    }
    out
}

/// The flags of `train` a run file may set (all but help and version).
pub(crate) fn flags(train: &Command) -> impl Iterator<Item = &Arg> {
    train.get_arguments().filter(|a| {
        a.get_long().is_some()
            && !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
    })
}

/// The flag a key names: its long name, or the same with underscores for dashes.
fn find_flag<'a>(train: &'a Command, key: &str) -> Option<&'a Arg> {
    let long = key.replace('_', "-");
    flags(train).find(|a| a.get_long() == Some(long.as_str()))
}

/// " (did you mean 'epochs'?)" for a key a typo away from a flag, else "".
fn suggestion(train: &Command, key: &str) -> String {
    let key = key.replace('_', "-");
    flags(train)
        .filter_map(Arg::get_long)
        .map(|long| (edit_distance(&key, long), long))
        .min()
        .filter(|&(distance, _)| distance <= 1 + key.chars().count() / 4)
        .map_or_else(String::new, |(_, long)| {
            format!(" (did you mean '{long}'?)")
        })
}

/// Levenshtein distance: insertions, deletions and substitutions of characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// clap's message without its "error: " and its closing hint to try --help.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let text = text.split("\n\nFor more information").next().unwrap_or("");
    text.trim().trim_start_matches("error: ").to_string()
}

/// What TOML value a flag takes, from how clap parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A flag without a value (`--layer-norm`): `true` gives it, `false` leaves it out.
    Switch,
    /// A flag with an explicit true or false (`--batch-norm=false`).
    Bool,
    Integer,
    /// A number; an integer is taken as one too (`lr = 1`).
    Float,
    /// Names, paths and everything else clap parses from text.
    Text,
}

impl Kind {
    pub(crate) fn of(arg: &Arg) -> Kind {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            return Kind::Switch;
        }
        let parsed = arg.get_value_parser().type_id();
        let is = |types: &[TypeId]| types.iter().any(|&t| parsed == t);
        if is(&[TypeId::of::<bool>()]) {
            Kind::Bool
        } else if is(&[
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
        ]) {
            Kind::Integer
        } else if is(&[TypeId::of::<f32>(), TypeId::of::<f64>()]) {
            Kind::Float
        } else {
            Kind::Text
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Switch | Kind::Bool => "true or false",
            Kind::Integer => "an integer",
            Kind::Float => "a number",
            Kind::Text => "a string",
        }
    }

    /// `value` as the text clap parses, if it is of this kind.
    fn text(self, value: &toml::Value) -> Result<String, String> {
        use toml::Value;
        match (self, value) {
            (Kind::Bool, Value::Boolean(b)) => Ok(b.to_string()),
            (Kind::Integer | Kind::Float, Value::Integer(i)) => Ok(i.to_string()),
            // TOML's integers are 64-bit signed; a larger one (a seed) comes as a string.
            (Kind::Integer, Value::String(s)) if is_large_integer(s) => Ok(s.clone()),
            // Display writes the shortest text that parses back to the same f64.
            (Kind::Float, Value::Float(x)) => Ok(x.to_string()),
            (Kind::Text, Value::String(s)) => Ok(s.clone()),
            _ => Err(format!(
                "expected {}, found {} {value}",
                self.expected(),
                value.type_str()
            )),
        }
    }
}

/// Whether `text` is an integer beyond TOML's, which are 64-bit signed.
fn is_large_integer(text: &str) -> bool {
    text.parse::<u64>().is_ok_and(|n| i64::try_from(n).is_err())
}

/// Whether a flag takes several values: comma-separated, or given again for each.
pub(crate) fn takes_list(arg: &Arg) -> bool {
    arg.get_value_delimiter().is_some() || matches!(arg.get_action(), ArgAction::Append)
}

/// The tokens that give `arg` the key's `value`, or what is wrong with the value's type.
fn flag_tokens(arg: &Arg, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let long = arg.get_long().unwrap_or_default();
    let kind = Kind::of(arg);
    if kind == Kind::Switch {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![format!("--{long}").into()]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            other => Err(format!(
                "expected true or false (--{long} is a switch), found {} {other}",
                other.type_str()
            )),
        };
    }
    let items = match value {
        toml::Value::Array(items) if takes_list(arg) => items
            .iter()
            .enumerate()
            .map(|(i, item)| kind.text(item).map_err(|e| format!("item {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?,
        toml::Value::Array(_) => {
            return Err(format!(
                "expected {}, found an array (--{long} takes one value)",
                kind.expected()
            ))
        }
        scalar => vec![kind.text(scalar)?],
    };
    if items.is_empty() {
        return Err("an empty list: leave the key out for the flag's default".to_string());
    }
    Ok(match arg.get_value_delimiter() {
        Some(delimiter) => vec![format!("--{long}={}", items.join(&delimiter.to_string())).into()],
        None => items
            .iter()
            .map(|item| format!("--{long}={item}").into())
            .collect(),
    })
}

/// What the tests of run files and of config.toml share.
#[cfg(test)]
pub(crate) mod testing {
    use std::ffi::OsString;
    use std::path::PathBuf;

    use clap::{Command, CommandFactory};

    use crate::args::{Cli, TrainArgs};

    /// The `train` subcommand as the binary parses it.
    pub(crate) fn train_command() -> Command {
        let command = Cli::command();
        command.find_subcommand("train").unwrap().clone()
    }

    /// `locus train` with `tokens`, through [`super::parse`] as the binary reads it.
    pub(crate) fn train_args(tokens: &[String]) -> TrainArgs {
        let argv = ["locus", "train"].map(String::from).into_iter();
        let argv = argv.chain(tokens.iter().cloned()).map(OsString::from);
        match super::parse(argv.collect()).unwrap().command {
            crate::args::Command::Train(args) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// `line` split at spaces, as a shell would split a line without quotes.
    pub(crate) fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    /// A file of this test process holding `text`, removed when dropped.
    pub(crate) struct TempFile(PathBuf);

    impl TempFile {
        pub(crate) fn new(name: &str, text: &str) -> Self {
            let pid = std::process::id();
            let path = std::env::temp_dir().join(format!("locus-run-file-{pid}-{name}.toml"));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }

        pub(crate) fn config(&self) -> Vec<String> {
            vec!["--config".to_string(), self.0.display().to_string()]
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{train_args, train_command, words, TempFile};
    use super::*;

    #[test]
    fn keys_become_flags_and_the_command_line_replaces_them() {
        let file = TempFile::new(
            "keys",
            "hidden = [4, 5]\nepochs = 7\nlr = 1\nlayer_norm = true\nprobe-init = false\n\
             batch-norm = false\nstage-time = [1, 0.5]\n",
        );
        let args = train_args(&file.config());
        assert_eq!(args.hidden, Some(vec![4, 5]));
        assert_eq!((args.epochs, args.lr), (7, Some(1.0)));
        assert!(args.layer_norm && !args.contrastive.probe_init);
        assert_eq!(args.batch_norm, Some(false));
        assert_eq!(args.schedule.stage_time, Some(vec![1.0, 0.5]));
        let mut line = file.config();
        line.extend(words("--hidden 6 --epochs 2 --stage-time 3"));
        let args = train_args(&line);
        assert_eq!(
            args.hidden,
            Some(vec![6]),
            "a list is replaced, not extended"
        );
        assert_eq!(args.epochs, 2);
        assert_eq!(args.schedule.stage_time, Some(vec![3.0]));
        assert_eq!(args.lr, Some(1.0));
    }

    #[test]
    fn an_integer_beyond_toml_integers_is_read_from_a_string() {
        let file = TempFile::new("large-seed", "seed = \"18446744073709551615\"\n");
        assert_eq!(train_args(&file.config()).seed, u64::MAX);
        let file = TempFile::new("small-seed", "seed = \"3\"\n");
        let mut line = vec![OsString::from("locus"), OsString::from("train")];
        line.extend(file.config().into_iter().map(OsString::from));
        let e = parse(line).unwrap_err().to_string();
        assert!(
            e.contains("key 'seed': expected an integer, found string"),
            "{e}"
        );
    }

    #[test]
    fn seeds_on_the_command_line_replace_a_files_seed_and_a_file_sets_one_of_them() {
        let file = TempFile::new("seed", "seed = 7\nepochs = 2\n");
        let mut line = file.config();
        line.extend(words("--seeds 0,1"));
        let args = train_args(&line);
        assert_eq!((args.seeds, args.seed), (Some(vec![0, 1]), 0));
        let file = TempFile::new("seeds", "seeds = [3, 4]\n");
        assert_eq!(train_args(&file.config()).seeds, Some(vec![3, 4]));
        let mut line = file.config();
        line.extend(words("--seed 9"));
        let args = train_args(&line);
        assert_eq!((args.seeds, args.seed), (None, 9));
        let file = TempFile::new("both", "seed = 1\nseeds = [3, 4]\n");
        let mut argv = vec![OsString::from("locus"), OsString::from("train")];
        argv.extend(file.config().into_iter().map(OsString::from));
        let e = parse(argv).unwrap_err().to_string();
        assert!(
            e.contains("keys 'seed' and 'seeds' cannot both be set")
                && e.contains("locus-run-file-"),
            "{e}"
        );
    }

    #[test]
    fn a_key_a_typo_away_is_suggested() {
        let train = train_command();
        assert_eq!(suggestion(&train, "epoks"), " (did you mean 'epochs'?)");
        assert_eq!(
            suggestion(&train, "batch_sise"),
            " (did you mean 'batch-size'?)"
        );
        assert_eq!(suggestion(&train, "colour"), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}

/// The run-file reader against arbitrary text and damaged valid files: every input gives
/// flags or an error naming the file, never a panic.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::testing::train_command;
    use super::*;

    /// Reads `text` as a run file; an error must name the file.
    fn judge(text: &str, case: &str) {
        let name = format!("fuzz-{case}.toml");
        if let Err(e) = text_tokens(&name, text, &train_command(), &|_| false) {
            let message = format!("{e:#}");
            assert!(message.contains(&name), "{message}");
        }
    }

    /// A valid run file: the config.toml of a default run.
    fn valid() -> String {
        let args = super::testing::train_args(&[]);
        crate::config_toml::render(&args).unwrap()
    }

    const KEYS: &[&str] = &[
        "algo",
        "epochs",
        "hidden",
        "lr",
        "batch-norm",
        "seed",
        "layer-norm",
        "dataset",
        "batch_size",
        "config",
        "epoks",
        "scheduler",
        "prediction-skip",
        "ff-threshold",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            Just("true".to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
            "[a-z0-9,]{0,12}".prop_map(|s| format!("\"{s}\"")),
            prop::collection::vec(any::<i32>(), 0..4).prop_map(|v| format!("{v:?}")),
            Just("{ a = 1 }".to_string()),
            Just("1979-05-27T07:32:00Z".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_is_refused_cleanly(text in "\\PC{0,200}") {
            judge(&text, "arbitrary");
        }

        #[test]
        fn random_keys_and_values_are_read_or_named(
            pairs in prop::collection::vec((prop::sample::select(KEYS), value()), 0..6),
        ) {
            let text: String = pairs.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            judge(&text, "pairs");
        }

        #[test]
        fn damaged_valid_files_are_read_or_named(
            cut in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            junk in "\\PC{0,8}",
        ) {
            let good = valid();
            let chars: Vec<char> = good.chars().collect();
            let truncated: String = chars[..cut.index(chars.len() + 1)].iter().collect();
            judge(&truncated, "truncated");
            let i = at.index(chars.len());
            let spliced: String = chars[..i].iter().collect::<String>() + &junk
                + &chars[i..].iter().collect::<String>();
            judge(&spliced, "spliced");
        }
    }
}
