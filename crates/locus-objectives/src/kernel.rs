//! Kernels on a batch of rows, and the exact gradient of a loss of a kernel matrix with
//! respect to the rows: the similarity matrices HSIC compares.

use locus_core::{as_matrix, matmul, Error, Float, Result, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// A kernel `k(x, y)` on feature vectors, evaluated on every pair of rows of a `[b, d]`
/// batch by [`kernel_matrix`]. Its matrix has `b²` entries (`8·b²` bytes in `f64`: 8 MB
/// for `b = 1024`), whatever `d`.
///
/// Ma et al. 2020 ("The HSIC Bottleneck", AAAI) use the Gaussian kernel, written
/// `exp(−‖x − y‖² / 2σ²)` in the paper. Their code (`kernelmat` in
/// `hsicbt/math/hsic.py` of choasma/HSIC-bottleneck) divides by `2σ²·d` instead, `d` the
/// width of the rows: their `σ_ref` is [`Kernel::Gaussian`] with `sigma = σ_ref·√d`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// `k(x, y) = exp(−‖x − y‖² / (2σ²))`, the Gaussian (RBF) kernel with bandwidth `σ`
    /// (Gretton et al. 2005; Ma et al. 2020). `σ` must be finite and > 0.
    Gaussian {
        /// The bandwidth `σ`.
        sigma: f64,
    },
    /// The Gaussian kernel with `σ` the median heuristic of each batch: the median of
    /// the nonzero Euclidean distances `‖x_i − x_j‖` over the pairs `i < j` (off the
    /// diagonal, each pair once; the mean of the two middle ones for an even count). A
    /// batch whose rows all coincide has a matrix of ones for every `σ`; `σ = 1` is used.
    ///
    /// `σ` is treated as a constant in the gradient: [`kernel_grad`] is the exact
    /// gradient of the Gaussian kernel at this batch's `σ` (see [`Kernel::resolve`]), not
    /// of the median itself. The reference code's heuristic (`sigma_estimation`) differs:
    /// it takes the median of the *squared* distances, zeros included, falls back to their
    /// mean when that median is 0, and floors it at 0.01.
    GaussianMedian,
    /// `k(x, y) = x·y`, the linear kernel. With it, biased HSIC is the squared Frobenius
    /// norm of the cross-covariance of `x` and `y` (Gretton et al. 2005).
    Linear,
    /// `k(x, y) = 1 / √(‖x − y‖² + c²)`, the inverse multiquadric kernel (characteristic,
    /// with heavier tails than the Gaussian). `c` must be finite and > 0.
    InverseMultiquadric {
        /// The constant `c`.
        c: f64,
    },
}

impl Kernel {
    /// Checks the kernel's parameter.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the value when `σ` or `c` is not finite and > 0.
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, "should be finite and > 0", v))
            }
        };
        match *self {
            Kernel::Gaussian { sigma } => check("Gaussian kernel bandwidth σ", sigma),
            Kernel::InverseMultiquadric { c } => check("inverse multiquadric kernel c", c),
            Kernel::GaussianMedian | Kernel::Linear => Ok(()),
        }
    }

    /// The kernel with its bandwidth fixed for the batch `x` (`[b, d]`):
    /// [`Kernel::GaussianMedian`] becomes [`Kernel::Gaussian`] with the batch's median
    /// `σ`; every other kernel is returned as it is (after [`Kernel::validate`]).
    ///
    /// # Errors
    /// As [`kernel_matrix`].
    pub fn resolve<F: Float>(&self, x: &Tensor<F>) -> Result<Kernel> {
        let rows = batch_rows(x, "kernel input")?;
        self.resolve_rows(&rows)
    }

    pub(crate) fn resolve_rows(&self, x: &Array2<f64>) -> Result<Kernel> {
        self.validate()?;
        Ok(match *self {
            Kernel::GaussianMedian => Kernel::Gaussian {
                sigma: median_distance(x).unwrap_or(1.0),
            },
            other => other,
        })
    }
}

/// The median of the nonzero distances `‖x_i − x_j‖`, `i < j`, or `None` without any.
fn median_distance(x: &Array2<f64>) -> Option<f64> {
    let b = x.nrows();
    let mut d: Vec<f64> = (0..b)
        .flat_map(|i| (i + 1..b).map(move |j| (i, j)))
        .map(|(i, j)| squared_distance(x, i, j).sqrt())
        .filter(|&v| v > 0.0)
        .collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    let m = d.len() / 2;
    Some(if d.len() % 2 == 1 {
        d[m]
    } else {
        0.5 * (d[m - 1] + d[m])
    })
}

fn squared_distance(x: &Array2<f64>, i: usize, j: usize) -> f64 {
    x.row(i)
        .iter()
        .zip(x.row(j))
        .map(|(a, b)| (a - b) * (a - b))
        .sum()
}

/// Checks `x` is a finite `[b >= 1, d]` batch and copies it to `f64`.
pub(crate) fn batch_rows<F: Float>(x: &Tensor<F>, context: &str) -> Result<Array2<f64>> {
    let view = as_matrix(x, None, context)?;
    if view.nrows() == 0 {
        return Err(Error::shape(context, "[b >= 1, d]", x.shape()));
    }
    if let Some(((i, j), v)) = view.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            context: format!("{context} at row {i}, column {j} ({v})"),
        });
    }
    Ok(view.mapv(|v| v.as_f64()))
}

/// The kernel matrix of the rows of `x`; `kernel` must be resolved (not the median).
pub(crate) fn matrix_of(kernel: Kernel, x: &Array2<f64>) -> Array2<f64> {
    if kernel == Kernel::Linear {
        let mut k = matmul(&x.view(), &x.t());
        // Mirrored so that the matrix is symmetric bit for bit, whatever order the kernel
        // summed the two halves in.
        for i in 0..k.nrows() {
            for j in 0..i {
                k[[i, j]] = k[[j, i]];
            }
        }
        return k;
    }
    let b = x.nrows();
    let mut k = Array2::zeros((b, b));
    for i in 0..b {
        for j in i..b {
            let d2 = squared_distance(x, i, j);
            let v = match kernel {
                Kernel::Gaussian { sigma } => (-d2 / (2.0 * sigma * sigma)).exp(),
                Kernel::InverseMultiquadric { c } => 1.0 / (d2 + c * c).sqrt(),
                Kernel::GaussianMedian | Kernel::Linear => unreachable!("resolved above"),
            };
            k[[i, j]] = v;
            k[[j, i]] = v;
        }
    }
    k
}

/// `∂L/∂x` from `∂L/∂K` for a resolved kernel, `k` its matrix of `x`.
pub(crate) fn grad_of(
    kernel: Kernel,
    x: &Array2<f64>,
    k: &Array2<f64>,
    grad_k: &Array2<f64>,
) -> Array2<f64> {
    // Every K_ij depends on x_i and x_j, so what reaches them is S = G + Gᵀ.
    let s = grad_k + &grad_k.t();
    // A distance kernel K_ij = φ(D_ij), D_ij = ‖x_i − x_j‖², gives
    // ∂L/∂x_i = Σ_j W_ij (x_i − x_j) with W_ij = 2 S_ij φ'(D_ij).
    let w = match kernel {
        Kernel::Linear => return matmul(&s.view(), &x.view()),
        // φ' = −φ / 2σ².
        Kernel::Gaussian { sigma } => -(&s * k) / (sigma * sigma),
        // φ = (D + c²)^(−1/2), φ' = −φ³ / 2.
        Kernel::InverseMultiquadric { .. } => -(&s * &k.mapv(|v| v * v * v)),
        Kernel::GaussianMedian => unreachable!("resolved by the caller"),
    };
    let row_sums = w.sum_axis(Axis(1)).insert_axis(Axis(1));
    x * &row_sums - matmul(&w.view(), &x.view())
}

/// The `[b, b]` kernel matrix `K_ij = k(x_i, x_j)` of the rows of `x` (`[b, d]`),
/// computed in `f64` and symmetric exactly. It holds `b²` entries.
///
/// # Errors
/// [`Error::Shape`] when `x` is not a `[b >= 1, d]` matrix; [`Error::NonFinite`] naming
/// the first NaN or infinite entry; [`Error::InvalidParameter`] for a bad `σ` or `c`.
///
/// # Example
/// ```
/// use locus_objectives::{kernel_matrix, Kernel};
/// use ndarray::array;
///
/// let x = array![[0.0, 0.0], [3.0, 4.0]].into_dyn();
/// let k = kernel_matrix(&x, Kernel::InverseMultiquadric { c: 1.0 }).unwrap();
/// assert_eq!(k[[0, 0]], 1.0);
/// assert!((k[[0, 1]] - 1.0 / 26f64.sqrt()).abs() < 1e-15);
/// ```
pub fn kernel_matrix<F: Float>(x: &Tensor<F>, kernel: Kernel) -> Result<Array2<F>> {
    let rows = batch_rows(x, "kernel input")?;
    let kernel = kernel.resolve_rows(&rows)?;
    Ok(matrix_of(kernel, &rows).mapv(F::cast))
}

/// Given the kernel matrix `k = kernel_matrix(x, kernel)` and `∂L/∂K` (`[b, b]`, each
/// entry `K_ij` taken as its own variable, so `grad_k` need not be symmetric), the exact
/// `∂L/∂x` (`[b, d]`) by the chain rule through every `K_ij`. For
/// [`Kernel::GaussianMedian`], `σ` is the batch's median held constant.
///
/// Memory: two more `[b, b]` matrices besides `k` and `grad_k`.
///
/// # Errors
/// As [`kernel_matrix`], and [`Error::Shape`] when `k` or `grad_k` is not `[b, b]`, or
/// [`Error::NonFinite`] when either holds a NaN or infinity.
pub fn kernel_grad<F: Float>(
    x: &Tensor<F>,
    kernel: Kernel,
    k: ArrayView2<'_, F>,
    grad_k: ArrayView2<'_, F>,
) -> Result<Tensor<F>> {
    let rows = batch_rows(x, "kernel input")?;
    let kernel = kernel.resolve_rows(&rows)?;
    let b = rows.nrows();
    let mut square = Vec::with_capacity(2);
    for (name, m) in [
        ("kernel matrix", k.view()),
        ("kernel matrix gradient", grad_k.view()),
    ] {
        if m.dim() != (b, b) {
            return Err(Error::shape(name, format!("[{b}, {b}]"), m.shape()));
        }
        if !m.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite {
                context: name.to_string(),
            });
        }
        square.push(m.mapv(|v| v.as_f64()));
    }
    Ok(grad_of(kernel, &rows, &square[0], &square[1])
        .mapv(F::cast)
        .into_dyn())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matrices_follow_their_formulas() {
        let x = array![[0.0, 1.0], [2.0, 1.0], [0.0, -1.0]].into_dyn();
        let g = kernel_matrix(&x, Kernel::Gaussian { sigma: 2.0 }).unwrap();
        // ‖x_0 − x_1‖² = 4, ‖x_1 − x_2‖² = 8: exp(−4/8), exp(−8/8).
        assert!((g[[0, 1]] - (-0.5f64).exp()).abs() < 1e-15);
        assert!((g[[2, 1]] - (-1f64).exp()).abs() < 1e-15);
        assert_eq!(g.diag().to_vec(), vec![1.0; 3]);
        let l = kernel_matrix(&x, Kernel::Linear).unwrap();
        assert_eq!(
            l,
            array![[1.0, 1.0, -1.0], [1.0, 5.0, -1.0], [-1.0, -1.0, 1.0]]
        );
        let m = kernel_matrix(&x, Kernel::InverseMultiquadric { c: 2.0 }).unwrap();
        assert!((m[[1, 2]] - 1.0 / 12f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn the_median_heuristic_skips_zero_distances() {
        // Distances 3 (three times) and 0 (between the equal rows, three times): the
        // median of {3, 3, 3} is 3, that of {0, 0, 0, 3, 3, 3} would be 1.5, and that of
        // the squared distances 9.
        let x = array![[0.0], [3.0], [3.0], [3.0]].into_dyn();
        assert_eq!(
            Kernel::GaussianMedian.resolve(&x).unwrap(),
            Kernel::Gaussian { sigma: 3.0 }
        );
        // Even count: distances 1, 2, 3 (and 1, 2, 1) → sorted 1 1 1 2 2 3 → (1 + 2)/2.
        let y = array![[0.0], [1.0], [2.0], [3.0]].into_dyn();
        assert_eq!(
            Kernel::GaussianMedian.resolve(&y).unwrap(),
            Kernel::Gaussian { sigma: 1.5 }
        );
        let same = array![[2.0, 1.0], [2.0, 1.0]].into_dyn();
        let k = kernel_matrix(&same, Kernel::GaussianMedian).unwrap();
        assert_eq!(k, Array2::ones((2, 2)));
        assert_eq!(Kernel::Linear.resolve(&y).unwrap(), Kernel::Linear);
    }

    #[test]
    fn the_gradient_of_a_single_entry_moves_both_rows() {
        // L = K_01 for the linear kernel: ∂L/∂x_0 = x_1, ∂L/∂x_1 = x_0.
        let x = array![[1.0, 2.0], [3.0, -1.0]].into_dyn();
        let k = kernel_matrix(&x, Kernel::Linear).unwrap();
        let g = array![[0.0, 1.0], [0.0, 0.0]];
        let dx = kernel_grad(&x, Kernel::Linear, k.view(), g.view()).unwrap();
        assert_eq!(dx, array![[3.0, -1.0], [1.0, 2.0]].into_dyn());
        // Gaussian, σ = 1: ∂K_01/∂x_0 = −K_01 (x_0 − x_1).
        let k = kernel_matrix(&x, Kernel::Gaussian { sigma: 1.0 }).unwrap();
        let dx = kernel_grad(&x, Kernel::Gaussian { sigma: 1.0 }, k.view(), g.view()).unwrap();
        let k01 = (-6.5f64).exp();
        assert!((dx[[0, 0]] - 2.0 * k01).abs() < 1e-15);
        assert!((dx[[1, 1]] - 3.0 * k01).abs() < 1e-15);
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_value() {
        let x = array![[1.0], [2.0]].into_dyn();
        for (kernel, word) in [
            (Kernel::Gaussian { sigma: 0.0 }, "σ"),
            (Kernel::Gaussian { sigma: f64::NAN }, "NaN"),
            (Kernel::InverseMultiquadric { c: -1.0 }, "-1"),
        ] {
            let e = kernel_matrix(&x, kernel).unwrap_err();
            assert!(e.to_string().contains(word), "{e}");
        }
        let bad = array![[1.0], [f64::INFINITY]].into_dyn();
        let e = kernel_matrix(&bad, Kernel::Linear).unwrap_err();
        assert!(e.to_string().contains("row 1, column 0 (inf)"), "{e}");
        let flat = array![1.0, 2.0].into_dyn();
        assert!(matches!(
            kernel_matrix(&flat, Kernel::Linear),
            Err(Error::Shape { .. })
        ));
        let k = kernel_matrix(&x, Kernel::Linear).unwrap();
        let e =
            kernel_grad(&x, Kernel::Linear, k.view(), Array2::zeros((3, 3)).view()).unwrap_err();
        assert!(e.to_string().contains("kernel matrix gradient"), "{e}");
    }
}
