//! Dense matrix products through faer's kernels.
//!
//! [`matmul`] computes `a · b` for 2-D views with faer's blocked kernels, which pick the
//! widest vector instructions the CPU has at run time (AVX-512 where present) and split
//! large products over threads. [`crate::layers::Linear`] uses it for its forward pass and
//! both gradients; the other layers and objectives still call `ndarray`'s `dot`. The
//! `sgemm` group of the `mlp_step` bench measures the two side by side, and the
//! `forward_forward_step` bench the whole step of a network of 2000-unit layers.
//!
//! Threads: `MATMUL_NUM_THREADS` (read once; `1` keeps every product on the calling
//! thread), otherwise the machine's available parallelism. Each output element is summed
//! by one thread in a fixed order, so results do not depend on the thread count or on
//! timing: a run repeats bit for bit on the same machine.

use std::borrow::Cow;
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};

use crate::Float;

/// Products smaller than this many multiply-adds stay on the calling thread: splitting
/// them costs more than it saves.
const PARALLEL_WORK: usize = 1 << 21;

/// `a · b` for `a` of shape `[m, k]` and `b` of shape `[k, n]`.
///
/// Any strides are accepted; views that are neither row- nor column-contiguous (a slice
/// of columns, say) are copied first.
///
/// # Panics
/// When the inner dimensions differ, like `ndarray`'s `dot`: callers check shapes and
/// return [`crate::Error`]s naming the layer first.
pub fn matmul<F: Float>(a: &ArrayView2<'_, F>, b: &ArrayView2<'_, F>) -> Array2<F> {
    assert_eq!(
        a.ncols(),
        b.nrows(),
        "matmul of [{}, {}] by [{}, {}]",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    F::product(a, b)
}

/// `rows · b`, each row of the result starting from `row` (shape `[n]`): an affine map
/// `x W + b` in one pass over the output, without a separate addition of the bias.
///
/// # Panics
/// As [`matmul`], and when `row` is not `b`'s width.
pub fn affine<F: Float>(
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    row: &ndarray::ArrayView1<'_, F>,
) -> Array2<F> {
    assert_eq!(
        a.ncols(),
        b.nrows(),
        "matmul of [{}, {}] by [{}, {}]",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    assert_eq!(
        row.len(),
        b.ncols(),
        "bias of {} for {} outputs",
        row.len(),
        b.ncols()
    );
    let mut out = crate::scratch::matrix_for_overwrite(a.nrows(), b.ncols());
    out.assign(row);
    F::product_add(&mut out, a, b);
    out
}

/// The number of threads a large product is split over.
pub fn matmul_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    })
}

thread_local! {
    /// This thread's own limit on a product's threads, when it has one.
    static THREAD_LIMIT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Limits the products made on the calling thread to `threads` threads (at least 1) from
/// now on, below [`matmul_threads`]: a scheduler that runs stages on threads of their own
/// gives each its share of the cores, so stage threads and matrix threads do not
/// outnumber the cores. Results do not depend on it (see the module's documentation).
pub fn limit_matmul_threads_here(threads: usize) {
    THREAD_LIMIT.with(|limit| limit.set(Some(threads.max(1))));
}

fn parallelism(m: usize, k: usize, n: usize) -> faer::Par {
    let threads = THREAD_LIMIT
        .with(|limit| limit.get())
        .map_or(matmul_threads(), |limit| limit.min(matmul_threads()));
    if threads <= 1 || m.saturating_mul(k).saturating_mul(n) < PARALLEL_WORK {
        faer::Par::Seq
    } else {
        faer::Par::rayon(threads)
    }
}

/// A view's elements as one slice and whether they are laid out row by row; `None` when
/// the view is neither row- nor column-contiguous.
fn contiguous<'a, F>(v: &ArrayView2<'a, F>) -> Option<(&'a [F], bool)> {
    let row_major = v.is_standard_layout();
    let column_major = v.t().is_standard_layout();
    if !row_major && !column_major {
        return None;
    }
    v.to_slice_memory_order().map(|s| (s, row_major))
}

/// A view's elements in memory order and whether that order is row by row; views that are
/// neither row- nor column-contiguous are copied row by row.
fn elements<'a, F: Clone>(v: &ArrayView2<'a, F>) -> (Cow<'a, [F]>, bool) {
    match contiguous(v) {
        Some((slice, row_major)) => (Cow::Borrowed(slice), row_major),
        None => (Cow::Owned(v.iter().cloned().collect()), true),
    }
}

fn as_faer<'a, F: faer::traits::ComplexField>(
    slice: &'a [F],
    row_major: bool,
    rows: usize,
    cols: usize,
) -> faer::MatRef<'a, F> {
    if row_major {
        faer::MatRef::from_row_major_slice(slice, rows, cols)
    } else {
        faer::MatRef::from_column_major_slice(slice, rows, cols)
    }
}

fn faer_product<F>(
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    par: Option<faer::Par>,
) -> Array2<F>
where
    F: Float + faer::traits::ComplexField,
{
    let mut out = crate::scratch::matrix_for_overwrite(a.nrows(), b.ncols());
    faer_product_into(&mut out, a, b, faer::Accum::Replace, par);
    out
}

/// `out ← a · b` (`Replace`) or `out ← out + a · b` (`Add`), for a row-major `out`.
fn faer_product_into<F>(
    out: &mut Array2<F>,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    accum: faer::Accum,
    par: Option<faer::Par>,
) where
    F: Float + faer::traits::ComplexField,
{
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    assert_eq!(out.dim(), (m, n), "product of [{m}, {k}] by [{k}, {n}]");
    if m == 0 || n == 0 || k == 0 {
        if matches!(accum, faer::Accum::Replace) {
            out.fill(F::zero());
        }
        return;
    }
    let (a_elements, a_rows) = elements(a);
    let (b_elements, b_rows) = elements(b);
    let lhs = as_faer(&a_elements, a_rows, m, k);
    let rhs = as_faer(&b_elements, b_rows, k, n);
    let dst =
        faer::MatMut::from_row_major_slice_mut(out.as_slice_mut().expect("row-major output"), m, n);
    faer::linalg::matmul::matmul(
        dst,
        accum,
        lhs,
        rhs,
        F::one(),
        par.unwrap_or_else(|| parallelism(m, k, n)),
    );
}

/// The product kernel behind [`matmul`], implemented for `f32` and `f64` only; a private
/// supertrait of [`Float`] so generic code reaches the typed kernels.
pub trait Product: Sized {
    #[doc(hidden)]
    fn product(a: &ArrayView2<'_, Self>, b: &ArrayView2<'_, Self>) -> Array2<Self>;
    /// `out ← out + a · b` for a row-major `out`.
    #[doc(hidden)]
    fn product_add(out: &mut Array2<Self>, a: &ArrayView2<'_, Self>, b: &ArrayView2<'_, Self>);
}

impl Product for f32 {
    fn product(a: &ArrayView2<'_, f32>, b: &ArrayView2<'_, f32>) -> Array2<f32> {
        faer_product(a, b, None)
    }
    fn product_add(out: &mut Array2<f32>, a: &ArrayView2<'_, f32>, b: &ArrayView2<'_, f32>) {
        faer_product_into(out, a, b, faer::Accum::Add, None)
    }
}

impl Product for f64 {
    fn product(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
        faer_product(a, b, None)
    }
    fn product_add(out: &mut Array2<f64>, a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) {
        faer_product_into(out, a, b, faer::Accum::Add, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Axis, Slice};

    fn grid(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            (((i * 31 + j * 17 + seed * 7) % 23) as f64 - 11.0) / 7.0
        })
    }

    #[test]
    fn agrees_with_ndarray_for_every_layout() {
        let a = grid(37, 53, 1);
        let b = grid(53, 29, 2);
        let at = grid(53, 37, 3).reversed_axes(); // column-major [37, 53]
        let bt = grid(29, 53, 4).reversed_axes(); // column-major [53, 29]
        let wide = grid(37, 80, 5);
        let sliced = wide.slice_axis(Axis(1), Slice::from(3..56)); // neither layout
        let stepped = grid(106, 29, 6);
        let every_other = stepped.slice_axis(Axis(0), Slice::new(0, None, 2)); // row stride 2
        for (x, y) in [
            (a.view(), b.view()),
            (at.view(), b.view()),
            (a.view(), bt.view()),
            (at.view(), bt.view()),
            (sliced, b.view()),
            (a.view(), every_other),
        ] {
            let got = matmul(&x, &y);
            let want = x.dot(&y);
            assert_eq!(got.dim(), want.dim());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-10, "{g} vs {w}");
            }
            assert!(got.is_standard_layout());
        }
    }

    #[test]
    fn large_f32_products_match_ndarray() {
        let a = grid(200, 300, 7).mapv(|v| v as f32);
        let b = grid(300, 250, 8).mapv(|v| v as f32);
        let first = matmul(&a.view(), &b.view());
        let want = a.dot(&b);
        for (g, w) in first.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{g} vs {w}");
        }
    }

    #[test]
    fn the_thread_count_does_not_change_a_single_bit() {
        // A broad product, and a long thin one that a kernel might split along `k`.
        for (m, k, n) in [(128, 512, 384), (16, 8192, 16), (100, 784, 2000)] {
            let a = grid(m, k, 9).mapv(|v| v as f32 * 0.37);
            let b = grid(k, n, 10).mapv(|v| v as f32 * 1.13);
            let sequential = faer_product(&a.view(), &b.view(), Some(faer::Par::Seq));
            for threads in [2, 3] {
                let split = faer_product(&a.view(), &b.view(), Some(faer::Par::rayon(threads)));
                assert_eq!(
                    sequential, split,
                    "[{m}, {k}] by [{k}, {n}], {threads} threads"
                );
            }
        }
    }

    #[test]
    fn products_in_recycled_storage_do_not_read_what_it_held() {
        // NaN-filled buffers of every output size below wait in the pool: a product that
        // read its output before writing it would come out NaN.
        for (m, k, n) in [(3, 4, 5), (64, 300, 70), (128, 784, 100)] {
            for _ in 0..2 {
                crate::scratch::recycle(Array2::<f32>::from_elem((m, n), f32::NAN));
            }
            let a = grid(m, k, 13).mapv(|v| v as f32);
            let b = grid(k, n, 14).mapv(|v| v as f32);
            let got = matmul(&a.view(), &b.view());
            assert!(
                got.iter().all(|v| v.is_finite()),
                "[{m}, {k}] by [{k}, {n}]"
            );
            let row = Array1::<f32>::ones(n);
            let shifted = affine(&a.view(), &b.view(), &row.view());
            assert!(
                shifted.iter().all(|v| v.is_finite()),
                "[{m}, {k}] by [{k}, {n}]"
            );
            crate::scratch::recycle(Array2::<f32>::from_elem((m, n), f32::NAN));
            let empty = matmul(
                &Array2::<f32>::zeros((m, 0)).view(),
                &Array2::zeros((0, n)).view(),
            );
            assert!(empty.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn a_thread_limit_of_one_keeps_large_products_on_the_calling_thread() {
        std::thread::spawn(|| {
            if matmul_threads() > 1 {
                assert!(!matches!(parallelism(1000, 1000, 1000), faer::Par::Seq));
            }
            limit_matmul_threads_here(1);
            assert!(matches!(parallelism(1000, 1000, 1000), faer::Par::Seq));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn affine_adds_the_row_to_every_product_row() {
        let a = grid(7, 5, 11);
        let b = grid(5, 4, 12);
        let row = ndarray::arr1(&[0.5, -1.0, 2.0, 0.0]);
        let got = affine(&a.view(), &b.view(), &row.view());
        let want = a.dot(&b) + &row;
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
        // An empty inner dimension leaves the row alone.
        let empty = affine(
            &Array2::<f64>::zeros((2, 0)).view(),
            &Array2::<f64>::zeros((0, 4)).view(),
            &row.view(),
        );
        assert_eq!(empty.row(1), row);
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let a = Array2::<f32>::zeros((3, 0));
        let b = Array2::<f32>::zeros((0, 4));
        assert_eq!(matmul(&a.view(), &b.view()), Array2::<f32>::zeros((3, 4)));
        let c = Array2::<f32>::zeros((0, 5));
        let d = Array2::<f32>::ones((5, 2));
        assert_eq!(matmul(&c.view(), &d.view()).dim(), (0, 2));
    }

    #[test]
    #[should_panic(expected = "matmul of [2, 3] by [4, 1]")]
    fn mismatched_inner_dimensions_panic_with_the_shapes() {
        let a = Array2::<f32>::zeros((2, 3));
        let b = Array2::<f32>::zeros((4, 1));
        let _ = matmul(&a.view(), &b.view());
    }
}
