//! The bias and variance of the critic-based mutual-information estimators with the
//! optimal critic, on correlated Gaussians of known mutual information: the set-up of
//! Poole et al. 2019, "On Variational Bounds of Mutual Information", §4 and Fig. 2, with
//! the critic fixed at its optimum so that what is measured is the estimator's own error,
//! not the critic's.

use locus_core::{Error, Result};
use locus_data::CorrelatedGaussians;
use locus_objectives::{dv_bound, info_nce, js_bound, nwj_bound, Critic, Positives};
use ndarray::Array2;

use super::GaussianLogRatioCritic;

/// A mutual-information estimator of the study, each read with its own optimal critic
/// (`f* = log p(y|x)/p(y)` from [`GaussianLogRatioCritic`], shifted where the bound needs
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Estimator {
    /// InfoNCE, `I_NCE = log n − L` with the diagonal as positives (Oord et al. 2018, eq.
    /// 4 and §2.3; Poole et al. 2019's `I_NCE`), with `f*`. At most `log n`.
    InfoNce,
    /// NWJ (Poole et al. 2019, eq. 10) with its optimal critic `1 + f*`: unbiased, with a
    /// variance that grows like `e^{2I}/n`.
    Nwj,
    /// Donsker–Varadhan (Belghazi et al. 2018, eq. 2; Poole et al. 2019, eq. 9) with `f*`
    /// (any constant shift gives the same value). Its `log` of a batch mean makes it
    /// biased upwards on finite batches (Jensen). MINE's moving average changes only its
    /// gradient, so with a fixed critic MINE's estimate is this one.
    Dv,
    /// The Jensen–Shannon critic's reading (Poole et al. 2019, §2.3; Hjelm et al. 2019,
    /// eq. 4): `I_NWJ(f + 1)` of the JS-optimal critic `f*`. With the optimal critic this
    /// is the same number as [`Estimator::Nwj`]; the two differ only in how a critic is
    /// trained.
    Js,
}

impl Estimator {
    /// Every estimator of the study, in table order.
    pub const ALL: [Estimator; 4] = [
        Estimator::InfoNce,
        Estimator::Nwj,
        Estimator::Dv,
        Estimator::Js,
    ];

    /// The name used in tables and figures.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::InfoNce => "InfoNCE",
            Estimator::Nwj => "NWJ",
            Estimator::Dv => "DV",
            Estimator::Js => "JS",
        }
    }

    /// This estimator's value on the score matrix `scores[i][j] = f*(x_i, y_j)` of one
    /// batch (row `i`'s positive on the diagonal).
    ///
    /// # Errors
    /// As [`info_nce`], [`nwj_bound`], [`dv_bound`] or [`js_bound`]: a non-square or
    /// non-finite matrix, or (NWJ, JS) an off-diagonal score too large to exponentiate.
    pub fn on_scores(self, scores: &Array2<f64>) -> Result<f64> {
        Ok(match self {
            Estimator::InfoNce => info_nce(scores.view(), Positives::Diagonal)?.bound,
            Estimator::Nwj => nwj_bound((scores + 1.0).view())?.bound,
            Estimator::Dv => dv_bound(scores.view())?.bound,
            Estimator::Js => js_bound(scores.view())?.bound,
        })
    }
}

/// What to sweep: correlated Gaussians of dimension `dim` at each true mutual
/// information, `batches` independent batches of each size.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// The dimension of `x` and `y`; `ρ = √(1 − e^{−2I/dim})` gives mutual information
    /// `I` exactly ([`CorrelatedGaussians::with_mutual_information`]).
    pub dim: usize,
    /// The true mutual informations, in nats.
    pub mutual_informations: Vec<f64>,
    /// The batch sizes `n` (pairs per batch; `n − 1` negatives per positive).
    pub batch_sizes: Vec<usize>,
    /// Independent batches per (mutual information, batch size).
    pub batches: usize,
    /// The seed every batch's seed derives from (see [`batch_seed`]).
    pub seed: u64,
}

impl Default for SweepConfig {
    /// Poole et al. 2019's set-up (20 dimensions, 2 to 10 nats; batch 64 there) with 0
    /// nats added and batches of 64, 128 and 256, 1000 batches each (NWJ's rare, large
    /// negative estimates need many draws to show).
    fn default() -> Self {
        SweepConfig {
            dim: 20,
            mutual_informations: vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0],
            batch_sizes: vec![64, 128, 256],
            batches: 1000,
            seed: 0,
        }
    }
}

impl SweepConfig {
    /// Checks the configuration before any work.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value: `dim = 0`, no or negative or
    /// non-finite mutual informations, no batch sizes or one below 2, fewer than 2
    /// batches, or more than 2^20 batches or pairs per batch (the seed layout's limit).
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::invalid("sweep dimension", "should be >= 1", 0));
        }
        if self.mutual_informations.is_empty() {
            return Err(Error::invalid(
                "sweep mutual informations",
                "should hold at least one value",
                "[]",
            ));
        }
        if let Some(&bad) = self
            .mutual_informations
            .iter()
            .find(|v| !(v.is_finite() && **v >= 0.0))
        {
            return Err(Error::invalid(
                "sweep mutual information",
                "should be finite and >= 0",
                bad,
            ));
        }
        if self.batch_sizes.is_empty() {
            return Err(Error::invalid(
                "sweep batch sizes",
                "should hold at least one value",
                "[]",
            ));
        }
        if let Some(&bad) = self
            .batch_sizes
            .iter()
            .find(|&&n| !(2..=SEED_FIELD).contains(&n))
        {
            return Err(Error::invalid(
                "sweep batch size",
                "should be in [2, 2^20]",
                bad,
            ));
        }
        if !(2..=SEED_FIELD).contains(&self.batches) {
            return Err(Error::invalid(
                "sweep batches",
                "should be in [2, 2^20] (a standard deviation needs two)",
                self.batches,
            ));
        }
        Ok(())
    }
}

/// Batch indices and batch sizes each take 20 bits of a batch's seed.
const SEED_FIELD: usize = 1 << 20;

/// The seed of batch `batch` of size `n` at the `mi_index`-th mutual information: the
/// fields packed into one key (`mi_index << 40 | n << 20 | batch`) and mixed with `seed`
/// by SplitMix64's finaliser, so every batch of a sweep has its own stream, the same for
/// every estimator (they are compared on the same draws), a cell's batches do not change
/// when other cells are added, and the batches of seed `s + 1` are not those of seed `s`
/// shifted by one.
pub fn batch_seed(seed: u64, mi_index: usize, n: usize, batch: usize) -> u64 {
    let key = ((mi_index as u64) << 40) | ((n as u64) << 20) | batch as u64;
    mix(mix(seed) ^ key)
}

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection of `u64` that spreads
/// nearby inputs far apart.
fn mix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One cell of the study: an estimator at one true mutual information and batch size,
/// summarised over the batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The estimator.
    pub estimator: Estimator,
    /// Pairs per batch.
    pub batch_size: usize,
    /// `log n`, InfoNCE's ceiling.
    pub log_n: f64,
    /// The true mutual information, in nats (as the data set computes it from `ρ`).
    pub true_mi: f64,
    /// The dimension of `x` and `y`.
    pub dim: usize,
    /// The per-coordinate correlation `ρ`.
    pub rho: f64,
    /// The number of batches summarised.
    pub batches: usize,
    /// The mean estimate over the batches.
    pub mean: f64,
    /// `mean − true_mi`.
    pub bias: f64,
    /// The standard deviation of one batch's estimate (with the `n − 1` divisor).
    pub std: f64,
    /// The standard error of the mean, `std / √batches`.
    pub std_error: f64,
    /// The median estimate.
    pub median: f64,
    /// The smallest estimate.
    pub min: f64,
    /// The largest estimate.
    pub max: f64,
}

impl Cell {
    fn summarise(
        estimator: Estimator,
        pairs: &CorrelatedGaussians,
        n: usize,
        mut values: Vec<f64>,
    ) -> Cell {
        let count = values.len() as f64;
        let mean = values.iter().sum::<f64>() / count;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
        values.sort_by(f64::total_cmp);
        let k = values.len();
        let median = if k % 2 == 1 {
            values[k / 2]
        } else {
            0.5 * (values[k / 2 - 1] + values[k / 2])
        };
        // `+ 0.0` turns the −0 of `−(dim/2)·ln 1` into 0.
        let true_mi = pairs.mutual_information() + 0.0;
        Cell {
            estimator,
            batch_size: n,
            log_n: (n as f64).ln(),
            true_mi,
            dim: pairs.dim(),
            rho: pairs.rho(),
            batches: k,
            mean,
            bias: mean - true_mi,
            std: var.sqrt(),
            std_error: (var / count).sqrt(),
            median,
            min: values[0],
            max: values[k - 1],
        }
    }
}

/// Runs the study: for every true mutual information and batch size of `config`, draws
/// `config.batches` batches of correlated Gaussians, scores each once with the optimal
/// critic [`GaussianLogRatioCritic`] and reads every [`Estimator`] off the same scores.
/// Returns one [`Cell`] per (mutual information, batch size, estimator), in that nesting
/// order.
///
/// # Errors
/// As [`SweepConfig::check`]; an estimator's error (with the cell it happened in) when a
/// score overflows its exponential.
///
/// # Example
/// ```
/// use locus_testing::estimators::{optimal_critic_sweep, Estimator, SweepConfig};
///
/// let config = SweepConfig {
///     dim: 4,
///     mutual_informations: vec![1.0],
///     batch_sizes: vec![32],
///     batches: 20,
///     seed: 0,
/// };
/// let cells = optimal_critic_sweep(&config)?;
/// let nce = cells.iter().find(|c| c.estimator == Estimator::InfoNce).unwrap();
/// assert!(nce.max <= nce.log_n);
/// # Ok::<(), locus_core::Error>(())
/// ```
pub fn optimal_critic_sweep(config: &SweepConfig) -> Result<Vec<Cell>> {
    config.check()?;
    let mut cells = Vec::new();
    for (mi_index, &nats) in config.mutual_informations.iter().enumerate() {
        let pairs = CorrelatedGaussians::with_mutual_information(config.dim, nats)
            .map_err(|e| Error::invalid("sweep mutual information", &e.to_string(), nats))?;
        let critic = GaussianLogRatioCritic::new(pairs.rho())?;
        for &n in &config.batch_sizes {
            let mut values = vec![Vec::with_capacity(config.batches); Estimator::ALL.len()];
            for batch in 0..config.batches {
                let (x, y) = pairs.sample(n, batch_seed(config.seed, mi_index, n, batch));
                let scores = critic.scores(x.view(), y.view())?;
                for (estimator, out) in Estimator::ALL.iter().zip(&mut values) {
                    let value = estimator.on_scores(&scores).map_err(|e| Error::NonFinite {
                        context: format!(
                            "{} at {nats} nats, batch size {n}, batch {batch}: {e}",
                            estimator.name()
                        ),
                    })?;
                    out.push(value);
                }
            }
            for (&estimator, v) in Estimator::ALL.iter().zip(values) {
                cells.push(Cell::summarise(estimator, &pairs, n, v));
            }
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configurations_are_refused_by_name() {
        let good = SweepConfig::default();
        good.check().unwrap();
        let cases = [
            (
                SweepConfig {
                    dim: 0,
                    ..good.clone()
                },
                "dimension",
            ),
            (
                SweepConfig {
                    mutual_informations: vec![1.0, -1.0],
                    ..good.clone()
                },
                "mutual information",
            ),
            (
                SweepConfig {
                    batch_sizes: vec![64, 1],
                    ..good.clone()
                },
                "batch size",
            ),
            (
                SweepConfig {
                    batches: 1,
                    ..good.clone()
                },
                "batches",
            ),
        ];
        for (config, name) in cases {
            let e = optimal_critic_sweep(&config).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn seeds_differ_between_cells_and_batches() {
        let a = batch_seed(0, 1, 64, 3);
        assert_ne!(a, batch_seed(0, 0, 64, 3));
        assert_ne!(a, batch_seed(0, 1, 128, 3));
        assert_ne!(a, batch_seed(0, 1, 64, 4));
        assert_ne!(a, batch_seed(1, 1, 64, 3));
        // Neighbouring seeds do not share batches shifted by one.
        assert_ne!(batch_seed(8, 0, 64, 0), batch_seed(7, 0, 64, 1));
    }

    #[test]
    fn summaries_are_the_sample_statistics() {
        let pairs = CorrelatedGaussians::with_mutual_information(2, 1.0).unwrap();
        let c = Cell::summarise(Estimator::Dv, &pairs, 8, vec![3.0, 1.0, 2.0, 6.0]);
        assert_eq!((c.mean, c.median, c.min, c.max), (3.0, 2.5, 1.0, 6.0));
        assert!((c.bias - 2.0).abs() < 1e-12);
        // Squared deviations 0, 4, 1, 9: variance 14/3.
        assert!((c.std - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((c.std_error - c.std / 2.0).abs() < 1e-12);
    }
}
