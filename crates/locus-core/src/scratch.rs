//! Recycled tensor storage: the buffers of one training step serve the next.
//!
//! A training step makes the same tensors every time: activations, caches, gradients,
//! messages, each of a few megabytes. Freed and allocated afresh, they cost more than the
//! arithmetic: glibc hands large freed blocks back to the kernel, and every new step
//! faults their pages in again, zeroed. On the 784-1000-1000-10 MLP at batch 128 that
//! was half of a backprop step, most of it in the kernel (`perf`; the step ran 2.4 times
//! faster with glibc's trimming turned off by `GLIBC_TUNABLES`).
//!
//! So the layers take the storage of their outputs from a pool ([`tensor_for_overwrite`])
//! and the schedulers give back what a step is done with ([`recycle`],
//! [`Cache::recycle`](crate::Cache::recycle)). A buffer is handed out only to code that
//! writes every element before reading any, so the values it held never show. The
//! pool is process-wide (one per float type, behind a mutex, so a buffer freed on one
//! stage's thread serves another's) and bounded: it keeps at most [`POOL_BUFFERS`]
//! buffers, [`POOL_BUFFERS_PER_LENGTH`] of one length and [`POOL_BYTES`] bytes, giving
//! the oldest back to the allocator beyond that. Code that never recycles loses nothing
//! but the reuse.

use std::collections::VecDeque;
use std::sync::Mutex;

use ndarray::{Array, Array2, Dimension, IxDyn};

use crate::{Float, Tensor};

/// At most this many buffers wait in each pool.
pub const POOL_BUFFERS: usize = 256;
/// At most this many buffers of one length wait in each pool: more than one step of a
/// dense network keeps alive at once (about a dozen of its widest), so that tensors made
/// outside the pool and given to it cannot pile up in it.
pub const POOL_BUFFERS_PER_LENGTH: usize = 32;
/// At most this many bytes wait in each pool (512 MiB).
pub const POOL_BYTES: usize = 512 << 20;

/// Buffers of one float type waiting to be used again, oldest first.
#[derive(Debug, Default)]
pub struct Pool<F> {
    buffers: VecDeque<Vec<F>>,
    bytes: usize,
}

impl<F: Copy> Pool<F> {
    /// An empty pool.
    pub const fn new() -> Self {
        Pool {
            buffers: VecDeque::new(),
            bytes: 0,
        }
    }

    /// A buffer of exactly `len` elements, newest first, if one is waiting.
    fn take(&mut self, len: usize) -> Option<Vec<F>> {
        let at = self.buffers.iter().rposition(|b| b.len() == len)?;
        let buffer = self.buffers.remove(at)?;
        self.bytes -= buffer.capacity() * std::mem::size_of::<F>();
        Some(buffer)
    }

    fn give(&mut self, buffer: Vec<F>) {
        let bytes = buffer.capacity() * std::mem::size_of::<F>();
        if buffer.is_empty() || bytes > POOL_BYTES {
            return;
        }
        let same_length = self
            .buffers
            .iter()
            .filter(|b| b.len() == buffer.len())
            .count();
        if same_length >= POOL_BUFFERS_PER_LENGTH {
            return;
        }
        self.bytes += bytes;
        self.buffers.push_back(buffer);
        while self.buffers.len() > POOL_BUFFERS || self.bytes > POOL_BYTES {
            let oldest = self.buffers.pop_front().expect("over budget, so not empty");
            self.bytes -= oldest.capacity() * std::mem::size_of::<F>();
        }
    }
}

/// The process-wide pool of each float type; a private supertrait of [`Float`].
pub trait Pooled: Sized + 'static {
    #[doc(hidden)]
    fn pool() -> &'static Mutex<Pool<Self>>;
}

static F32_POOL: Mutex<Pool<f32>> = Mutex::new(Pool::new());
static F64_POOL: Mutex<Pool<f64>> = Mutex::new(Pool::new());

impl Pooled for f32 {
    fn pool() -> &'static Mutex<Pool<f32>> {
        &F32_POOL
    }
}

impl Pooled for f64 {
    fn pool() -> &'static Mutex<Pool<f64>> {
        &F64_POOL
    }
}

fn take_buffer<F: Float>(len: usize) -> Vec<F> {
    let recycled = F::pool()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take(len);
    recycled.unwrap_or_else(|| vec![F::zero(); len])
}

/// A tensor of `shape` in standard (row-major) layout **whose elements are unspecified**:
/// recycled storage still holding another step's values, or zeros. For outputs the
/// caller overwrites completely before reading (a matrix product, an element-wise map).
pub fn tensor_for_overwrite<F: Float>(shape: &[usize]) -> Tensor<F> {
    let len = shape.iter().product();
    Array::from_shape_vec(IxDyn(shape), take_buffer(len)).expect("length is the shape's product")
}

/// [`tensor_for_overwrite`] for a `[rows, cols]` matrix.
pub fn matrix_for_overwrite<F: Float>(rows: usize, cols: usize) -> Array2<F> {
    Array2::from_shape_vec((rows, cols), take_buffer(rows * cols))
        .expect("length is the shape's product")
}

/// A copy of `tensor` in standard layout, in recycled storage.
pub fn copy_of<F: Float>(tensor: &Tensor<F>) -> Tensor<F> {
    let mut copy = tensor_for_overwrite(tensor.shape());
    copy.assign(tensor);
    copy
}

/// Gives `array`'s storage back to the pool for the next [`tensor_for_overwrite`].
pub fn recycle<F: Float, D: Dimension>(array: Array<F, D>) {
    let (buffer, _) = array.into_raw_vec_and_offset();
    F::pool()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .give(buffer);
}

/// Gives every tensor of `tensors` back to the pool.
pub fn recycle_all<F: Float>(tensors: impl IntoIterator<Item = Tensor<F>>) {
    for t in tensors {
        recycle(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_serves_the_next_request_of_its_length() {
        let mut pool = Pool::<f32>::new();
        pool.give(vec![1.0; 6]);
        pool.give(vec![2.0; 4]);
        assert!(pool.take(5).is_none());
        assert_eq!(pool.take(6), Some(vec![1.0; 6]));
        assert_eq!(pool.take(4), Some(vec![2.0; 4]));
        assert!(pool.take(4).is_none());
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn the_pool_gives_its_oldest_buffers_back_beyond_its_budget() {
        let mut pool = Pool::<f64>::new();
        for i in 0..POOL_BUFFERS + 3 {
            pool.give(vec![i as f64; 1 + i % 9]);
        }
        assert_eq!(pool.buffers.len(), POOL_BUFFERS);
        let newest = POOL_BUFFERS + 2;
        assert_eq!(
            pool.take(1 + newest % 9),
            Some(vec![newest as f64; 1 + newest % 9])
        );
        // Of one length, no more than the per-length bound.
        let mut one_length = Pool::<f32>::new();
        for _ in 0..POOL_BUFFERS_PER_LENGTH + 5 {
            one_length.give(vec![0.0; 3]);
        }
        assert_eq!(one_length.buffers.len(), POOL_BUFFERS_PER_LENGTH);
        // A buffer larger than the whole budget is not kept at all.
        let mut small = Pool::<f64>::new();
        small.give(vec![0.0; POOL_BYTES / 8 + 1]);
        assert!(small.buffers.is_empty());
        // Bytes: two halves of the budget fit, a third pushes the first out.
        let half = POOL_BYTES / 8 / 2;
        small.give(vec![1.0; half]);
        small.give(vec![2.0; half]);
        small.give(vec![3.0; half]);
        assert_eq!(small.buffers.len(), 2);
        assert_eq!(small.buffers[0][0], 2.0);
        assert_eq!(small.bytes, POOL_BYTES);
    }

    #[test]
    fn tensors_for_overwrite_have_the_asked_shape_in_standard_layout() {
        recycle(Tensor::<f32>::from_elem(IxDyn(&[3, 4]), 7.0));
        let t = tensor_for_overwrite::<f32>(&[2, 6]);
        assert_eq!(t.shape(), &[2, 6]);
        assert!(t.is_standard_layout());
        let m = matrix_for_overwrite::<f32>(4, 3);
        assert_eq!(m.dim(), (4, 3));
        let original = Tensor::<f64>::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64);
        let copy = copy_of(&original.t().to_owned().reversed_axes());
        assert_eq!(copy, original);
        assert!(copy.is_standard_layout());
    }
}
