//! The tables of `locus compare`: one row per run and one per group, as aligned text for
//! the terminal and as Markdown for compare.md.

use super::groups::{Group, Spread};
use super::runs::Run;

/// A table of text cells.
pub(crate) struct Table {
    header: Vec<&'static str>,
    /// Whether each column holds numbers (right-aligned in text).
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&'static str, bool)]) -> Table {
        Table {
            header: columns.iter().map(|c| c.0).collect(),
            numeric: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    /// The table as aligned columns, two spaces apart, numbers right-aligned.
    pub fn text(&self) -> String {
        let width = |c: usize| {
            self.rows
                .iter()
                .map(|r| r[c].chars().count())
                .chain([self.header[c].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.numeric)
                .map(|((cell, &w), &numeric)| {
                    let pad = " ".repeat(w - cell.chars().count());
                    if numeric {
                        format!("{pad}{cell}")
                    } else {
                        format!("{cell}{pad}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(self.header.clone());
        for row in &self.rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        out
    }

    /// The table in Markdown, numbers right-aligned.
    pub fn markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|");
        let mut out = format!("| {} |\n", self.header.join(" | "));
        let rule: Vec<&str> = self
            .numeric
            .iter()
            .map(|&n| if n { "---:" } else { "---" })
            .collect();
        out += &format!("|{}|\n", rule.join("|"));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }
}

/// `value` with `decimals` decimals, or "NaN" (for any value that is not finite).
fn number(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "NaN".to_string()
    }
}

/// "mean ± std", the mean alone for one run, or "NaN (k of n runs)".
fn spread(s: &Spread, decimals: usize, scale: f64) -> String {
    match (s.mean, s.std) {
        (Some(mean), Some(std)) => format!(
            "{} ± {}",
            number(mean * scale, decimals),
            number(std * scale, decimals)
        ),
        (Some(mean), None) => number(mean * scale, decimals),
        (None, _) => format!("NaN ({} of {} runs)", s.not_finite, s.n),
    }
}

const FIGURES: [(&str, bool); 4] = [
    ("test acc", true),
    ("test err %", true),
    ("train loss", true),
    ("samples/s", true),
];

/// One row per run, in the order of their groups.
pub(crate) fn runs_table(runs: &[Run], groups: &[Group]) -> Table {
    let probes = runs.iter().any(|r| !r.probes.is_empty());
    let mut columns = vec![
        ("group", true),
        ("run", false),
        ("algo", false),
        ("dataset", false),
        ("scheduler", false),
        ("epochs", true),
        ("seed", true),
    ];
    columns.extend(FIGURES);
    if probes {
        columns.push(("stage probe acc", false));
    }
    let mut table = Table::new(&columns);
    for group in groups {
        for &i in &group.members {
            let run = &runs[i];
            let mut row = vec![
                group.group.to_string(),
                run.dir.display().to_string(),
                run.algo.clone(),
                run.dataset.clone(),
                run.scheduler.clone().unwrap_or_else(|| "-".into()),
                run.epochs.to_string(),
                run.seed.to_string(),
                number(run.test_accuracy, 4),
                number(100.0 * run.test_error(), 2),
                number(run.train_loss, 4),
                number(run.samples_per_s, 0),
            ];
            if probes {
                let cells: Vec<String> = run
                    .probes
                    .iter()
                    .map(|(stage, p)| format!("{stage} {}", number(*p, 4)))
                    .collect();
                row.push(cells.join(", "));
            }
            table.rows.push(row);
        }
    }
    table
}

/// One row per group: the mean ± sample standard deviation of each figure over its runs.
pub(crate) fn groups_table(groups: &[Group]) -> Table {
    let probes = groups.iter().any(|g| !g.stages.is_empty());
    let mut columns = vec![
        ("group", true),
        ("algo", false),
        ("dataset", false),
        ("scheduler", false),
        ("epochs", true),
        ("n", true),
        ("seeds", false),
    ];
    columns.extend(FIGURES);
    if probes {
        columns.push(("stage probe acc", false));
    }
    let mut table = Table::new(&columns);
    for g in groups {
        let seeds: Vec<String> = g.seeds.iter().map(u64::to_string).collect();
        let mut row = vec![
            g.group.to_string(),
            g.algo.clone(),
            g.dataset.clone(),
            g.scheduler.clone().unwrap_or_else(|| "-".into()),
            g.epochs.to_string(),
            g.runs.len().to_string(),
            seeds.join(","),
            spread(&g.test_accuracy, 4, 1.0),
            spread(&g.test_error, 2, 100.0),
            spread(&g.train_loss, 4, 1.0),
            spread(&g.samples_per_s, 0, 1.0),
        ];
        if probes {
            let cells: Vec<String> = g
                .stages
                .iter()
                .map(|s| format!("{} {}", s.stage, spread(&s.probe_accuracy, 4, 1.0)))
                .collect();
            row.push(cells.join(", "));
        }
        table.rows.push(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_aligns_columns_and_markdown_escapes_bars() {
        let mut t = Table::new(&[("name", false), ("value", true)]);
        t.rows.push(vec!["a|b".into(), "1.5".into()]);
        t.rows.push(vec!["long name".into(), "10.25".into()]);
        assert_eq!(
            t.text(),
            "name       value\na|b          1.5\nlong name  10.25\n"
        );
        assert_eq!(
            t.markdown(),
            "| name | value |\n|---|---:|\n| a\\|b | 1.5 |\n| long name | 10.25 |\n"
        );
    }

    #[test]
    fn spreads_show_n_one_and_not_finite_runs_plainly() {
        assert_eq!(
            spread(&Spread::of(vec![0.5, 0.7]), 4, 1.0),
            "0.6000 ± 0.1414"
        );
        assert_eq!(spread(&Spread::of(vec![0.25]), 2, 100.0), "25.00");
        assert_eq!(
            spread(&Spread::of(vec![0.5, f64::NAN, 0.7]), 4, 1.0),
            "NaN (1 of 3 runs)"
        );
    }
}
