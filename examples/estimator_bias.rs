//! The bias and variance of InfoNCE, NWJ, DV and JS with the optimal critic on correlated
//! Gaussians of known mutual information (the set-up of Poole et al. 2019, Fig. 2), as
//! `locus_testing::estimators::optimal_critic_sweep` measures them: 20 dimensions, true
//! mutual information 0, 2, …, 10 nats, batches of 64, 128 and 256 pairs, 1000 seeded
//! batches per cell (`SweepConfig::default()`; `--batches` changes the count).
//!
//! Writes, into OUT_DIR (default `book/src/results/estimators`):
//! - `cells.jsonl` and `cells.csv`: one line per (estimator, batch size, true MI);
//! - `table.md`: mean, bias and standard deviation per cell, and NWJ's and DV's median and
//!   range;
//! - `estimates-n{64,128,256}.png`: the mean estimate against the truth, per batch size;
//! - `std.png`: the standard deviation of one batch's estimate, at each batch size.
//!
//! Run: `cargo run --release --example estimator_bias -- [OUT_DIR] [--batches N]`
//! (`reproduce/estimators.sh` runs it). With `--replot` it measures nothing and only draws
//! the charts again from OUT_DIR/cells.jsonl (`reproduce/replot.sh` does this).

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use locus::eval::plot::{LineChart, Rgb, Series, PALETTE};
use locus_testing::estimators::{optimal_critic_sweep, Cell, Estimator, SweepConfig};

/// The estimators drawn and tabulated: JS's reading of the optimal critic is NWJ's (the
/// table says by how much they differ), so it would hide under NWJ's line.
const SHOWN: [Estimator; 3] = [Estimator::InfoNce, Estimator::Nwj, Estimator::Dv];

fn main() -> Result<(), Box<dyn Error>> {
    let mut out = PathBuf::from("book/src/results/estimators");
    let mut config = SweepConfig::default();
    let mut args = std::env::args().skip(1);
    let mut replot = false;
    while let Some(arg) = args.next() {
        if arg == "--replot" {
            replot = true;
        } else if arg == "--batches" {
            let value = args.next().ok_or("--batches needs a number")?;
            config.batches = value
                .parse()
                .map_err(|e| format!("--batches {value}: {e}"))?;
        } else {
            out = PathBuf::from(arg);
        }
    }
    std::fs::create_dir_all(&out)?;
    if replot {
        let cells = read_jsonl(&out.join("cells.jsonl"))?;
        return draw(&out, &config, &cells);
    }

    let start = Instant::now();
    let cells = optimal_critic_sweep(&config)?;
    eprintln!(
        "{} cells, {} batches each, in {:.1} s",
        cells.len(),
        config.batches,
        start.elapsed().as_secs_f64()
    );

    std::fs::write(out.join("cells.jsonl"), jsonl(&cells))?;
    std::fs::write(out.join("cells.csv"), csv(&cells))?;
    std::fs::write(out.join("table.md"), table(&config, &cells))?;
    draw(&out, &config, &cells)?;
    print!("{}", table(&config, &cells));
    Ok(())
}

/// Writes the charts of `cells` into `out`.
fn draw(out: &Path, config: &SweepConfig, cells: &[Cell]) -> Result<(), Box<dyn Error>> {
    for &n in &config.batch_sizes {
        estimates_chart(cells, n).save(&out.join(format!("estimates-n{n}.png")), 800, 500)?;
    }
    std_chart(config, cells).save(&out.join("std.png"), 800, 500)?;
    Ok(())
}

/// The cells [`jsonl`] wrote to `path`.
fn read_jsonl(path: &Path) -> Result<Vec<Cell>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let estimators = [
        Estimator::InfoNce,
        Estimator::Nwj,
        Estimator::Dv,
        Estimator::Js,
    ];
    let mut cells = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let number = |key: &str| {
            v[key]
                .as_f64()
                .ok_or_else(|| format!("{}: no number {key} in {line}", path.display()))
        };
        let name = v["estimator"].as_str().unwrap_or_default();
        let estimator = (estimators.into_iter())
            .find(|e| e.name() == name)
            .ok_or_else(|| format!("{}: unknown estimator {name:?}", path.display()))?;
        cells.push(Cell {
            estimator,
            batch_size: number("batch_size")? as usize,
            log_n: number("log_n")?,
            true_mi: number("true_mi")?,
            dim: number("dim")? as usize,
            rho: number("rho")?,
            batches: number("batches")? as usize,
            mean: number("mean")?,
            bias: number("bias")?,
            std: number("std")?,
            std_error: number("std_error")?,
            median: number("median")?,
            min: number("min")?,
            max: number("max")?,
        });
    }
    Ok(cells)
}

fn jsonl(cells: &[Cell]) -> String {
    cells
        .iter()
        .map(|c| {
            serde_json::json!({
                "estimator": c.estimator.name(),
                "batch_size": c.batch_size,
                "log_n": c.log_n,
                "true_mi": c.true_mi,
                "dim": c.dim,
                "rho": c.rho,
                "batches": c.batches,
                "mean": c.mean,
                "bias": c.bias,
                "std": c.std,
                "std_error": c.std_error,
                "median": c.median,
                "min": c.min,
                "max": c.max,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

fn csv(cells: &[Cell]) -> String {
    let mut s = String::from(
        "estimator,batch_size,log_n,true_mi,dim,rho,batches,mean,bias,std,std_error,median,min,max\n",
    );
    for c in cells {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.estimator.name(),
            c.batch_size,
            c.log_n,
            c.true_mi,
            c.dim,
            c.rho,
            c.batches,
            c.mean,
            c.bias,
            c.std,
            c.std_error,
            c.median,
            c.min,
            c.max
        );
    }
    s
}

fn find(cells: &[Cell], estimator: Estimator, n: usize, mi: f64) -> &Cell {
    cells
        .iter()
        .find(|c| c.estimator == estimator && c.batch_size == n && (c.true_mi - mi).abs() < 1e-9)
        .expect("the sweep has every cell")
}

fn table(config: &SweepConfig, cells: &[Cell]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Optimal critic, {}-dimensional correlated Gaussians, {} batches per cell (seed {}). \
         Each entry: mean estimate / bias (mean − truth) / standard deviation of one \
         batch's estimate, in nats.\n",
        config.dim, config.batches, config.seed
    );
    for &n in &config.batch_sizes {
        let _ = writeln!(s, "Batch size n = {n} (log n = {:.2}):\n", (n as f64).ln());
        let _ = write!(s, "| true MI | ρ |");
        for e in SHOWN {
            let _ = write!(s, " {} |", e.name());
        }
        let _ = writeln!(s, "\n|---|---|{}", "---|".repeat(SHOWN.len()));
        for &mi in &config.mutual_informations {
            let rho = find(cells, SHOWN[0], n, mi).rho;
            let _ = write!(s, "| {mi} | {rho:.4} |");
            for e in SHOWN {
                let c = find(cells, e, n, mi);
                let _ = write!(
                    s,
                    " {} / {} / {} |",
                    two(c.mean, false),
                    two(c.bias, true),
                    two(c.std, false)
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "The spread of NWJ and DV in more detail: median / smallest / largest batch \
         estimate, in nats.\n"
    );
    let _ = write!(s, "| estimator | true MI |");
    for &n in &config.batch_sizes {
        let _ = write!(s, " n = {n} |");
    }
    let _ = writeln!(s, "\n|---|---|{}", "---|".repeat(config.batch_sizes.len()));
    for e in [Estimator::Nwj, Estimator::Dv] {
        for &mi in config.mutual_informations.iter().filter(|&&mi| mi > 0.0) {
            let _ = write!(s, "| {} | {mi} |", e.name());
            for &n in &config.batch_sizes {
                let c = find(cells, e, n, mi);
                let _ = write!(
                    s,
                    " {} / {} / {} |",
                    two(c.median, false),
                    two(c.min, false),
                    two(c.max, false)
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(s);
    let js_gap = cells
        .iter()
        .filter(|c| c.estimator == Estimator::Js)
        .map(|j| (j.mean - find(cells, Estimator::Nwj, j.batch_size, j.true_mi).mean).abs())
        .fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "JS (the NWJ bound of f + 1 at the JS-optimal critic f) differs from NWJ's mean by \
         at most {js_gap:.1e} nats in any cell."
    );
    s
}

/// Two decimals, a sign when `signed`, and no "−0.00" for a rounding error below 0.005.
fn two(v: f64, signed: bool) -> String {
    let v = if v.abs() < 0.005 { 0.0 } else { v };
    if signed {
        format!("{v:+.2}")
    } else {
        format!("{v:.2}")
    }
}

fn grey() -> Rgb {
    Rgb::new(90, 90, 90)
}

fn estimates_chart(cells: &[Cell], n: usize) -> LineChart {
    let mut chart = LineChart::new(format!(
        "Mean estimate with the optimal critic, batch size {n} (20-d Gaussians)"
    ))
    .x_label("true mutual information (nats)")
    .y_label("mean estimate (nats)");
    let mis: Vec<f64> = cells
        .iter()
        .filter(|c| c.estimator == Estimator::InfoNce && c.batch_size == n)
        .map(|c| c.true_mi)
        .collect();
    for (k, e) in SHOWN.into_iter().enumerate() {
        let points = mis
            .iter()
            .map(|&mi| (mi, find(cells, e, n, mi).mean))
            .collect();
        chart = chart.series(Series::new(e.name(), points).colour(PALETTE[k]));
    }
    let (lo, hi) = (mis[0], mis[mis.len() - 1]);
    chart
        .series(Series::new("true MI", vec![(lo, lo), (hi, hi)]).colour(grey()))
        .series(
            Series::new(
                format!("log n = {:.2}", (n as f64).ln()),
                vec![(lo, (n as f64).ln()), (hi, (n as f64).ln())],
            )
            .colour(Rgb::new(180, 180, 180)),
        )
}

fn std_chart(config: &SweepConfig, cells: &[Cell]) -> LineChart {
    let mut chart = LineChart::new(
        "Standard deviation of one batch's estimate (log10), optimal critic".to_string(),
    )
    .x_label("true mutual information (nats)")
    .y_label("log10 standard deviation (nats)");
    for (k, e) in SHOWN.into_iter().enumerate() {
        for &n in &config.batch_sizes {
            // At 0 nats every score is 0 and every estimate exact: no spread to draw.
            let points = config
                .mutual_informations
                .iter()
                .map(|&mi| find(cells, e, n, mi))
                .filter(|c| c.std > 0.0)
                .map(|c| (c.true_mi, c.std.log10()))
                .collect();
            chart = chart.series(
                Series::new(format!("{} n={n}", e.name()), points).colour(shade(PALETTE[k], n)),
            );
        }
    }
    chart
}

/// The estimator's colour, lighter for smaller batches.
fn shade(c: Rgb, n: usize) -> Rgb {
    let t = match n {
        0..=64 => 0.55,
        65..=128 => 0.3,
        _ => 0.0,
    };
    let mix = |v: u8| (v as f64 + (255.0 - v as f64) * t).round() as u8;
    Rgb::new(mix(c.r), mix(c.g), mix(c.b))
}
