//! The closed-form ridge regression behind [`Decoder::Ridge`](crate::Decoder::Ridge).

use locus_core::{matmul, Error, Float, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};

/// Sufficient statistics of a ridge regression from codes `h` (`[n, width]`) to targets
/// `x` (`[n, features]`) with an unpenalised intercept, accumulated batch by batch in
/// `f64`: `Σ h̃ᵀh̃` and `Σ h̃ᵀx` with `h̃ = [h, 1]`.
#[derive(Debug, Clone)]
pub(crate) struct RidgeStats {
    gram: Array2<f64>,
    cross: Array2<f64>,
    samples: usize,
    batches: usize,
}

impl RidgeStats {
    pub(crate) fn new(width: usize, features: usize) -> Self {
        RidgeStats {
            gram: Array2::zeros((width + 1, width + 1)),
            cross: Array2::zeros((width + 1, features)),
            samples: 0,
            batches: 0,
        }
    }

    /// `(width, features)` these statistics are for.
    pub(crate) fn dims(&self) -> (usize, usize) {
        (self.gram.nrows() - 1, self.cross.ncols())
    }

    /// Batches added since the statistics were made.
    pub(crate) fn batches(&self) -> usize {
        self.batches
    }

    /// Adds a batch; `h` and `x` must have the widths of [`RidgeStats::dims`] and the same
    /// number of rows (the caller checks).
    pub(crate) fn add<F: Float>(&mut self, h: ArrayView2<'_, F>, x: ArrayView2<'_, F>) {
        let mut augmented = Array2::<f64>::ones((h.nrows(), h.ncols() + 1));
        augmented
            .slice_axis_mut(Axis(1), Slice::from(..h.ncols()))
            .assign(&h.mapv(F::as_f64));
        let x = x.mapv(F::as_f64);
        self.gram += &matmul(&augmented.t(), &augmented.view());
        self.cross += &matmul(&augmented.t(), &x.view());
        self.samples += h.nrows();
        self.batches += 1;
    }

    /// The decoder `(V, c)` (`[width, features]`, `[features]`) minimising
    /// `(1/n) Σ ½‖x − hV − c‖² + (λ/2)‖V‖²` over the samples added, by a Cholesky
    /// factorisation of the normal equations `(H̃ᵀH̃/n + λ·diag(1, …, 1, 0)) [V; c] = H̃ᵀX/n`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when nothing was added or the system is not positive
    /// definite (which λ > 0 rules out for finite codes).
    pub(crate) fn solve<F: Float>(&self, lambda: f64) -> Result<(Array2<F>, Array1<F>)> {
        if self.samples == 0 {
            return Err(Error::invalid(
                "ridge decoder statistics",
                "need at least one batch before a solve",
                0,
            ));
        }
        let n = self.samples as f64;
        let w = self.gram.nrows() - 1;
        let mut a = self.gram.mapv(|v| v / n);
        for i in 0..w {
            a[[i, i]] += lambda;
        }
        let mut rhs = self.cross.mapv(|v| v / n);
        cholesky_in_place(&mut a)?;
        solve_cholesky(&a, &mut rhs);
        let weight = rhs.slice_axis(Axis(0), Slice::from(..w)).mapv(F::cast);
        let bias = rhs.row(w).mapv(F::cast);
        Ok((weight, bias))
    }

    /// The statistics as counters, exactly: the bits of every entry of the Gram and
    /// cross-product matrices (row-major), then the sample and batch counts.
    pub(crate) fn to_counters(&self) -> Vec<u64> {
        let mut c: Vec<u64> = self
            .gram
            .iter()
            .chain(self.cross.iter())
            .map(|v| v.to_bits())
            .collect();
        c.push(self.samples as u64);
        c.push(self.batches as u64);
        c
    }

    /// Statistics for `width` and `features` from [`RidgeStats::to_counters`]; `None`
    /// when there are not as many counters as those widths need or a value is not finite.
    pub(crate) fn from_counters(width: usize, features: usize, c: &[u64]) -> Option<Self> {
        let mut stats = RidgeStats::new(width, features);
        let (g, x) = (stats.gram.len(), stats.cross.len());
        if c.len() != g + x + 2 {
            return None;
        }
        for (v, bits) in stats.gram.iter_mut().chain(stats.cross.iter_mut()).zip(c) {
            *v = f64::from_bits(*bits);
            if !v.is_finite() {
                return None;
            }
        }
        stats.samples = usize::try_from(c[g + x]).ok()?;
        stats.batches = usize::try_from(c[g + x + 1]).ok()?;
        Some(stats)
    }
}

/// Overwrites the lower triangle of the symmetric positive definite `a` with its
/// Cholesky factor `L` (`a = L Lᵀ`); the upper triangle is left as it was.
fn cholesky_in_place(a: &mut Array2<f64>) -> Result<()> {
    let n = a.nrows();
    let data = a.as_slice_mut().expect("built in standard layout");
    for j in 0..n {
        let row_j = j * n;
        let d = data[row_j + j] - data[row_j..row_j + j].iter().map(|v| v * v).sum::<f64>();
        if !(d > 0.0 && d.is_finite()) {
            return Err(Error::invalid(
                "ridge decoder normal equations",
                "should be positive definite (are the codes finite and λ > 0?)",
                format!("pivot {d} at row {j}"),
            ));
        }
        let d = d.sqrt();
        data[row_j + j] = d;
        // Rows below j: L[i][j] = (a[i][j] − Σ_k L[i][k] L[j][k]) / L[j][j].
        for i in j + 1..n {
            let row_i = i * n;
            let s: f64 = data[row_i..row_i + j]
                .iter()
                .zip(&data[row_j..row_j + j])
                .map(|(a, b)| a * b)
                .sum();
            data[row_i + j] = (data[row_i + j] - s) / d;
        }
    }
    Ok(())
}

/// Solves `L Lᵀ X = B` in place of `b`, `L` the lower triangle of `l`.
fn solve_cholesky(l: &Array2<f64>, b: &mut Array2<f64>) {
    let n = l.nrows();
    let cols = b.ncols();
    let x = b.as_slice_mut().expect("built in standard layout");
    // Forward: L Y = B.
    for i in 0..n {
        let (above, rest) = x.split_at_mut(i * cols);
        let row = &mut rest[..cols];
        for k in 0..i {
            let lik = l[[i, k]];
            if lik != 0.0 {
                for (r, y) in row.iter_mut().zip(&above[k * cols..(k + 1) * cols]) {
                    *r -= lik * y;
                }
            }
        }
        let d = l[[i, i]];
        row.iter_mut().for_each(|r| *r /= d);
    }
    // Backward: Lᵀ X = Y.
    for i in (0..n).rev() {
        let (head, below) = x.split_at_mut((i + 1) * cols);
        let row = &mut head[i * cols..];
        for k in i + 1..n {
            let lki = l[[k, i]];
            if lki != 0.0 {
                let other = &below[(k - i - 1) * cols..(k - i) * cols];
                for (r, y) in row.iter_mut().zip(other) {
                    *r -= lki * y;
                }
            }
        }
        let d = l[[i, i]];
        row.iter_mut().for_each(|r| *r /= d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn recovers_an_exact_affine_map_with_a_tiny_penalty() {
        // x = h V + c exactly; the ridge solution with λ → 0 is V, c.
        let h = arr2(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 3.0]]);
        let v = arr2(&[[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]]);
        let c = ndarray::arr1(&[0.1, 0.2, -0.3]);
        let x = h.dot(&v) + &c;
        let mut stats = RidgeStats::new(2, 3);
        stats.add(
            h.slice_axis(Axis(0), Slice::from(..2)),
            x.slice_axis(Axis(0), Slice::from(..2)),
        );
        stats.add(
            h.slice_axis(Axis(0), Slice::from(2..)),
            x.slice_axis(Axis(0), Slice::from(2..)),
        );
        assert_eq!(stats.batches(), 2);
        let (vh, ch) = stats.solve::<f64>(1e-12).unwrap();
        assert!(vh.iter().zip(&v).all(|(a, b)| (a - b).abs() < 1e-8), "{vh}");
        assert!(ch.iter().zip(&c).all(|(a, b)| (a - b).abs() < 1e-8), "{ch}");
    }

    #[test]
    fn matches_the_normal_equations_with_a_penalty() {
        // One feature, one code, no intercept effect: V = Σhx / (Σh² + nλ) when h, x have
        // mean 0.
        let h = arr2(&[[1.0], [-1.0], [2.0], [-2.0]]);
        let x = arr2(&[[2.0], [-2.0], [3.0], [-3.0]]);
        let mut stats = RidgeStats::new(1, 1);
        stats.add(h.view(), x.view());
        let (v, c) = stats.solve::<f64>(0.5).unwrap();
        let expected = (2.0 + 2.0 + 6.0 + 6.0) / 4.0 / ((1.0 + 1.0 + 4.0 + 4.0) / 4.0 + 0.5);
        assert!((v[[0, 0]] - expected).abs() < 1e-12, "{v}");
        assert!(c[0].abs() < 1e-12);
    }

    #[test]
    fn an_empty_window_or_a_singular_system_is_an_error() {
        let stats = RidgeStats::new(2, 1);
        assert!(stats.solve::<f64>(1.0).is_err());
        let mut stats = RidgeStats::new(2, 1);
        let h = arr2(&[[1.0, 1.0], [1.0, 1.0]]);
        stats.add(h.view(), arr2(&[[1.0], [2.0]]).view());
        let e = stats.solve::<f64>(0.0).unwrap_err();
        assert!(e.to_string().contains("positive definite"), "{e}");
    }
}
