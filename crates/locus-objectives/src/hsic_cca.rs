//! The regularised normalised HSIC of the HSIC bottleneck's reference code (NOCCO), with
//! its exact gradient.

use locus_core::{matmul, Error, Float, Result};
use ndarray::{Array2, ArrayView2};

use crate::hsic::{hsic_matrix_grad, Grads};
use crate::HsicEstimator;

/// `tr(R_K R_L)`, `R_K = K H (K H + ε b I)⁻¹`, the normalised HSIC Ma et al. 2020 train
/// the HSIC bottleneck with (`hsic_normalized_cca` in their code, after the NOCCO measure
/// of Fukumizu et al. 2008); see [`HsicEstimator::NormalizedCca`]. `O(b³)` time.
///
/// # Errors
/// As [`hsic_matrix_grad`]; `b >= 2` and `ε` finite and > 0.
pub fn nhsic_cca<F: Float>(
    k: ArrayView2<'_, F>,
    l: ArrayView2<'_, F>,
    epsilon: f64,
) -> Result<f64> {
    Ok(hsic_matrix_grad(k, l, HsicEstimator::NormalizedCca { epsilon })?.value)
}

/// The value and matrix gradients of NOCCO on checked matrices.
///
/// With `A = K H`, `λ = ε b` and `M = (A + λI)⁻¹`, `R = A M = I − λM`, so
/// `dR = λ M dA M` and `d tr(R_K R_L) = λ tr(dK · H M_K R_L M_K) + (the same for L)`:
/// `∂/∂K = λ (H M_K R_L M_K)ᵀ`.
pub(crate) fn nocco(k: &Array2<f64>, l: &Array2<f64>, epsilon: f64) -> Result<Grads> {
    let b = k.nrows();
    let lambda = epsilon * b as f64;
    let h = Array2::from_shape_fn((b, b), |(i, j)| {
        f64::from(u8::from(i == j)) - 1.0 / b as f64
    });
    let resolvent = |m: &Array2<f64>, name: &str| -> Result<(Array2<f64>, Array2<f64>)> {
        let a = matmul(&m.view(), &h.view());
        let mut shifted = a.clone();
        shifted.diag_mut().mapv_inplace(|v| v + lambda);
        let inv = inverse(shifted).ok_or_else(|| Error::NonFinite {
            context: format!("NOCCO: K H + ε b I of {name} is singular to working precision"),
        })?;
        Ok((matmul(&a.view(), &inv.view()), inv))
    };
    let (rk, mk) = resolvent(k, "K")?;
    let (rl, ml) = resolvent(l, "L")?;
    let grad = |m: &Array2<f64>, r_other: &Array2<f64>| {
        let hm = matmul(&h.view(), &m.view());
        let hmr = matmul(&hm.view(), &r_other.view());
        (matmul(&hmr.view(), &m.view()) * lambda).reversed_axes()
    };
    Ok(Grads {
        value: (&rk * &rl.t()).sum(),
        k: grad(&mk, &rl),
        l: grad(&ml, &rk),
    })
}

/// The inverse of a square matrix by Gauss–Jordan elimination with partial pivoting, or
/// `None` when a pivot vanishes (or the result is not finite).
fn inverse(mut a: Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut inv = Array2::eye(n);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[[i, col]].abs().total_cmp(&a[[j, col]].abs()))?;
        if a[[pivot, col]] == 0.0 {
            return None;
        }
        for m in [&mut a, &mut inv] {
            for j in 0..n {
                m.swap([col, j], [pivot, j]);
            }
        }
        let p = a[[col, col]];
        a.row_mut(col).mapv_inplace(|v| v / p);
        inv.row_mut(col).mapv_inplace(|v| v / p);
        for i in (0..n).filter(|&i| i != col) {
            let f = a[[i, col]];
            if f != 0.0 {
                let (arow, irow) = (a.row(col).to_owned(), inv.row(col).to_owned());
                a.row_mut(i).scaled_add(-f, &arow);
                inv.row_mut(i).scaled_add(-f, &irow);
            }
        }
    }
    inv.iter().all(|v| v.is_finite()).then_some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kernel_matrix, Kernel};
    use ndarray::array;

    #[test]
    fn inverse_inverts_and_refuses_singular_matrices() {
        let a = array![[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]];
        let inv = inverse(a.clone()).unwrap();
        let id = a.dot(&inv);
        assert!((id - Array2::<f64>::eye(3)).iter().all(|v| v.abs() < 1e-14));
        assert!(inverse(array![[1.0, 2.0], [2.0, 4.0]]).is_none());
    }

    #[test]
    fn rank_one_linear_kernels_have_a_closed_form() {
        // Linear kernel, d = 1: A = x x_cᵀ, and Sherman–Morrison gives
        // R = x x_cᵀ / (λ + ‖x_c‖²), so tr(R_K R_L) = (x_c·y_c)² / ((λ + ‖x_c‖²)(λ + ‖y_c‖²)).
        let x = array![[0.0], [1.0], [2.0], [3.0]].into_dyn();
        let y = array![[1.0], [0.0], [0.0], [3.0]].into_dyn();
        let (k, l) = (
            kernel_matrix(&x, Kernel::Linear).unwrap(),
            kernel_matrix(&y, Kernel::Linear).unwrap(),
        );
        // x_c = (−1.5, −0.5, 0.5, 1.5), y_c = (0, −1, −1, 2): x_c·y_c = 3, ‖y_c‖² = 6.
        let lambda = 0.1 * 4.0;
        let expected = 9.0 / ((lambda + 5.0) * (lambda + 6.0));
        let v = nhsic_cca(k.view(), l.view(), 0.1).unwrap();
        assert!((v - expected).abs() < 1e-12, "{v} vs {expected}");
        let same = nhsic_cca(k.view(), k.view(), 1e-5).unwrap();
        assert!(
            (same - 25.0 / (5.0 + 4e-5f64).powi(2)).abs() < 1e-9,
            "{same}"
        );
        let e = nhsic_cca(k.view(), l.view(), 0.0).unwrap_err();
        assert!(e.to_string().contains("ε"), "{e}");
    }
}
