//! `locus list`: every algorithm `--algo` takes, from the one registry
//! ([`crate::algo::registry`]): its family, what it does, the paper it follows, the
//! schedulers it may run under and the optimizer it trains with when none is given.

use clap::Args;

use crate::algo::registry;

/// Flags of `locus list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a Markdown table (the one in the README) instead of aligned columns.
    #[arg(long)]
    pub markdown: bool,
}

/// The table's rows: name, family, summary, paper, schedulers, default optimizer.
fn rows() -> Vec<[String; 6]> {
    registry()
        .iter()
        .map(|a| {
            [
                a.name.to_string(),
                a.hidden.family().to_string(),
                a.summary.to_string(),
                a.paper.to_string(),
                a.schedulers().join(", "),
                a.optimizer_defaults().describe(),
            ]
        })
        .collect()
}

const HEADER: [&str; 6] = [
    "algorithm",
    "family",
    "what it does",
    "paper",
    "schedulers",
    "default optimizer",
];

/// The algorithms as a Markdown table, one row each.
pub fn markdown() -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for [name, family, summary, paper, schedulers, optimizer] in rows() {
        out += &format!(
            "| `{name}` | {family} | {summary} | {paper} | {schedulers} | {optimizer} |\n"
        );
    }
    out
}

/// Runs `locus list`.
pub fn run(args: &ListArgs) -> anyhow::Result<()> {
    if args.markdown {
        print!("{}", markdown());
        return Ok(());
    }
    let rows = rows();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([HEADER[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..HEADER.len()).map(width).collect();
    let line = |cells: [&str; 6]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(HEADER);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The README's algorithm table is this registry's, word for word.
    #[test]
    fn the_readme_table_is_the_registry() {
        let readme = include_str!("../../../README.md");
        let table = super::markdown();
        assert!(
            readme.contains(&table),
            "README.md's algorithm table differs from `locus list --markdown`; paste this:\n{table}"
        );
    }
}
