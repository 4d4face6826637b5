//! Pooling representations that have positions (time steps, patch-grid cells) into one
//! feature vector per sample, before a linear probe.

use locus_core::{Error, Float, Result, Tensor};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// How the features `[n, channels, positions…]` of a stage become the `[n, d]` vectors a
/// [`LinearProbe`](crate::LinearProbe) reads.
///
/// Greedy InfoMax and CPC average a module's output over all positions before the
/// linear classifier (Löwe et al. 2019, §4; Oord et al. 2018, §3.2): [`Mean`]. On small
/// inputs where *where* a feature is matters (the strokes of a 28×28 digit), [`Grid`]
/// averages over a coarse grid of cells instead, keeping a little of the layout.
///
/// [`Mean`]: FeaturePooling::Mean
/// [`Grid`]: FeaturePooling::Grid
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FeaturePooling {
    /// Every value, flattened: `d = channels · positions`.
    #[default]
    Flatten,
    /// The mean over all positions of each channel: `d = channels`.
    Mean,
    /// Adaptive average pooling to `cells` cells along every position axis (as PyTorch's
    /// `AdaptiveAvgPool1d/2d`: cell `i` of an axis of length `L` averages positions
    /// `⌊iL/cells⌋..⌈(i+1)L/cells⌉`): `d = channels · cells^(axes)`.
    Grid(usize),
}

impl FeaturePooling {
    /// A short name for reports: `flatten`, `mean`, `grid2`, …
    pub fn short_name(&self) -> String {
        match self {
            FeaturePooling::Flatten => "flatten".into(),
            FeaturePooling::Mean => "mean".into(),
            FeaturePooling::Grid(c) => format!("grid{c}"),
        }
    }

    /// Pools `features`, `[n, channels, positions…]`, into `[n, d]`. Two-dimensional
    /// features `[n, d]` have no positions and are returned as they are.
    ///
    /// # Errors
    /// [`Error::Shape`] for features of rank below 2, an empty axis, or more than two
    /// position axes with [`FeaturePooling::Grid`]; [`Error::InvalidParameter`] for a grid
    /// of 0 cells or more cells than positions along an axis.
    ///
    /// # Example
    /// ```
    /// use locus_core::Tensor;
    /// use locus_eval::FeaturePooling;
    ///
    /// let grid = Tensor::<f32>::from_shape_fn(vec![2, 3, 6, 6], |i| i[3] as f32);
    /// assert_eq!(FeaturePooling::Mean.pool(&grid).unwrap().shape(), [2, 3]);
    /// let coarse = FeaturePooling::Grid(2).pool(&grid).unwrap();
    /// assert_eq!(coarse.shape(), [2, 12]);
    /// // Columns 0..3 average to 1, columns 3..6 to 4.
    /// assert_eq!(coarse[[0, 0]], 1.0);
    /// assert_eq!(coarse[[0, 1]], 4.0);
    /// ```
    pub fn pool<F: Float>(&self, features: &Tensor<F>) -> Result<Tensor<F>> {
        let shape = features.shape();
        if shape.len() < 2 || shape.contains(&0) {
            return Err(Error::shape(
                "features to pool",
                "[n, channels, positions…] with no empty axis",
                shape,
            ));
        }
        let (n, channels) = (shape[0], shape[1]);
        let positions: usize = shape[2..].iter().product();
        let planes = features
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, channels, positions))
            .map_err(|_| Error::shape("features to pool", "a contiguous tensor", shape))?;
        match *self {
            FeaturePooling::Flatten => Ok(planes
                .into_shape_with_order(vec![n, channels * positions])
                .expect("the same number of values")),
            FeaturePooling::Mean => Ok(planes
                .mean_axis(Axis(2))
                .expect("positions >= 1")
                .into_dyn()),
            FeaturePooling::Grid(cells) => {
                let axes = &shape[2..];
                if axes.len() > 2 {
                    return Err(Error::shape(
                        "features to pool on a grid",
                        "[n, channels, length] or [n, channels, rows, columns]",
                        shape,
                    ));
                }
                let smallest = axes.iter().copied().min().unwrap_or(1);
                if cells == 0 || cells > smallest {
                    return Err(Error::invalid(
                        "pooling grid cells",
                        &format!("should be in 1..={smallest} for positions {axes:?}"),
                        cells,
                    ));
                }
                let (rows, cols) = match *axes {
                    [] => (1, 1),
                    [l] => (1, l),
                    [h, w] => (h, w),
                    _ => unreachable!("checked above"),
                };
                let row_cells = if axes.len() == 2 { cells } else { 1 };
                let bins = |len: usize, count: usize, i: usize| {
                    (i * len / count, ((i + 1) * len).div_ceil(count))
                };
                let mut out = Array2::zeros((n, channels * row_cells * cells));
                for s in 0..n {
                    for c in 0..channels {
                        let plane = planes.index_axis(Axis(0), s);
                        let values = plane.index_axis(Axis(0), c);
                        for ri in 0..row_cells {
                            let (r0, r1) = bins(rows, row_cells, ri);
                            for ci in 0..cells {
                                let (c0, c1) = bins(cols, cells, ci);
                                let mut sum = F::zero();
                                for r in r0..r1 {
                                    for q in c0..c1 {
                                        sum += values[r * cols + q];
                                    }
                                }
                                let count = F::cast(((r1 - r0) * (c1 - c0)) as f64);
                                out[[s, (c * row_cells + ri) * cells + ci]] = sum / count;
                            }
                        }
                    }
                }
                Ok(out.into_dyn())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pooling_keeps_the_sample_axis_and_averages_what_it_should() {
        let seq =
            Tensor::<f64>::from_shape_fn(vec![2, 3, 5], |i| (i[0] * 100 + i[1] * 10 + i[2]) as f64);
        let flat = FeaturePooling::Flatten.pool(&seq).unwrap();
        assert_eq!(flat.shape(), [2, 15]);
        assert_eq!(flat[[1, 7]], 112.0);
        let mean = FeaturePooling::Mean.pool(&seq).unwrap();
        assert_eq!(mean[[1, 2]], 122.0);
        // 5 steps in 2 cells: 0..3 and 2..5 overlap at step 2, as in PyTorch.
        let grid = FeaturePooling::Grid(2).pool(&seq).unwrap();
        assert_eq!(grid.shape(), [2, 6]);
        assert_eq!(grid[[0, 0]], 1.0);
        assert_eq!(grid[[0, 1]], 3.0);
        assert_eq!(FeaturePooling::Grid(5).pool(&seq).unwrap(), flat);
        let plain = Tensor::<f64>::ones(vec![4, 7]);
        for p in [
            FeaturePooling::Flatten,
            FeaturePooling::Mean,
            FeaturePooling::Grid(1),
        ] {
            assert_eq!(p.pool(&plain).unwrap().shape(), [4, 7]);
        }
    }

    #[test]
    fn bad_features_and_grids_are_refused() {
        let grid = Tensor::<f32>::zeros(vec![2, 3, 4, 4]);
        assert!(FeaturePooling::Grid(0).pool(&grid).is_err());
        let e = FeaturePooling::Grid(5).pool(&grid).unwrap_err();
        assert!(e.to_string().contains("grid cells"), "{e}");
        assert!(FeaturePooling::Grid(2)
            .pool(&Tensor::<f32>::zeros(vec![2, 3, 4, 4, 4]))
            .is_err());
        assert!(FeaturePooling::Mean
            .pool(&Tensor::<f32>::zeros(vec![5]))
            .is_err());
        assert!(FeaturePooling::Mean
            .pool(&Tensor::<f32>::zeros(vec![5, 0, 2]))
            .is_err());
        assert_eq!(FeaturePooling::Grid(3).short_name(), "grid3");
    }
}
