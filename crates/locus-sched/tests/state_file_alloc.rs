//! The state-file reader allocates no more than the file justifies: a header announcing a
//! tensor of 10^12 values in a small file is refused before anything of that size is
//! allocated, and no damaged file makes the reader allocate much more than it holds.
//!
//! The bound: while `state_from_bytes` reads `n` bytes, the heap grows by at most
//! `8 n + 64 KiB` (the header's JSON parsed into maps, each tensor's values decoded once,
//! the state's names). Measured as the peak of live heap bytes above the level at the
//! start, from a counting global allocator (`peak_alloc`; the workspace forbids the unsafe
//! code a `GlobalAlloc` needs). The counter is process-wide, so this file has one test.

use std::collections::BTreeMap;
use std::path::Path;

use locus_core::{StateDict, Tensor};
use locus_sched::{state_from_bytes, state_to_bytes};
use peak_alloc::PeakAlloc;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

fn bound(n: usize) -> usize {
    8 * n + (64 << 10)
}

fn growth(bytes: &[u8]) -> usize {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let _ = state_from_bytes::<f32>(bytes, Path::new("alloc.safetensors"));
    HEAP.peak_usage().saturating_sub(before)
}

/// A file whose one tensor is announced at `shape` (offsets to match) with `data` bytes
/// after the header.
fn announcing(shape: &[u64], data: usize) -> Vec<u8> {
    let n: u128 = shape.iter().map(|&d| u128::from(d)).product();
    let end = (n * 4).min(u128::from(u64::MAX));
    let header = format!(
        r#"{{"__metadata__":{{"format":"locus state 1","float":"f32","checksum":"x"}},"w":{{"dtype":"F32","shape":{shape:?},"data_offsets":[0,{end}]}}}}"#
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, data));
    bytes
}

#[test]
fn reading_a_state_file_allocates_no_more_than_it_holds() {
    // Huge announcements in small files.
    for shape in [
        vec![1_000_000, 1_000_000],
        vec![u64::MAX],
        vec![1 << 40],
        vec![0, u64::MAX],
    ] {
        let bytes = announcing(&shape, 64);
        let g = growth(&bytes);
        assert!(
            g <= bound(bytes.len()),
            "{shape:?}: {g} bytes for a {}-byte file",
            bytes.len()
        );
        let e = state_from_bytes::<f32>(&bytes, Path::new("alloc.safetensors"));
        assert!(e.is_err(), "{shape:?} loaded");
    }
    // A valid file of 1 MiB of values: the counter sees the reader's work.
    let mut state = StateDict::<f32>::new();
    state.put_tensor("w", Tensor::zeros(vec![512, 512]));
    let good = state_to_bytes(&state, &BTreeMap::new(), Path::new("a")).unwrap();
    let g = growth(&good);
    assert!(
        g >= 1 << 20 && g <= bound(good.len()),
        "{g} for {}",
        good.len()
    );
    // Damaged valid files and arbitrary bytes.
    let mut runner = TestRunner::new(ProptestConfig::with_cases(512));
    let cases = (
        prop::collection::vec(any::<u8>(), 0..2048),
        any::<prop::sample::Index>(),
        any::<u64>(),
    );
    let small = {
        let mut s = StateDict::<f32>::new();
        s.put_tensor("a.weight", Tensor::zeros(vec![8, 4]));
        s.put_counter("a.steps", 3);
        state_to_bytes(&s, &BTreeMap::new(), Path::new("a")).unwrap()
    };
    runner
        .run(&cases, |(junk, at, n)| {
            for bytes in [
                junk.clone(),
                {
                    let mut b = small.clone();
                    let i = at.index(b.len());
                    b[i..].iter_mut().zip(&junk).for_each(|(x, j)| *x ^= j);
                    b
                },
                {
                    let mut b = small.clone();
                    b[..8].copy_from_slice(&n.to_le_bytes());
                    b
                },
            ] {
                let g = growth(&bytes);
                prop_assert!(
                    g <= bound(bytes.len()),
                    "{g} bytes for {} bytes",
                    bytes.len()
                );
            }
            Ok(())
        })
        .unwrap();
}
