//! The state-file reader against arbitrary bytes and damaged valid files: it returns the
//! state or an error naming the file, never panics, and never yields a state that differs
//! from the one written.

use std::collections::BTreeMap;
use std::path::Path;

use locus_core::{StateDict, Tensor};
use locus_sched::{state_from_bytes, state_to_bytes};
use proptest::prelude::*;

/// A small state of `tensors` float tensors (shapes from `dims`) and a counter.
fn state(tensors: &[(Vec<usize>, f32)], counter: u64) -> StateDict<f32> {
    let mut s = StateDict::new();
    for (k, (shape, fill)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let values = (0..n).map(|i| fill + i as f32 * 0.5).collect();
        s.put_tensor(
            format!("stage{k}.module.weight"),
            Tensor::from_shape_vec(shape.clone(), values).unwrap(),
        );
    }
    s.put_counter("stage0.steps", counter);
    s
}

fn shapes() -> impl Strategy<Value = Vec<(Vec<usize>, f32)>> {
    prop::collection::vec(
        (prop::collection::vec(1usize..5, 0..3), -10.0f32..10.0),
        0..4,
    )
}

const PATH: &str = "fuzz/checkpoint.safetensors";

/// The reader's verdict on `bytes`: never a panic, an error names the file, and what it
/// accepts is `original` exactly.
fn judge(bytes: &[u8], original: Option<&StateDict<f32>>) {
    match state_from_bytes::<f32>(bytes, Path::new(PATH)) {
        Ok((s, _)) => {
            if let Some(original) = original {
                assert_eq!(&s, original, "a damaged file loaded as another state");
            }
        }
        Err(e) => assert!(e.to_string().contains(PATH), "{e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        judge(&bytes, None);
    }

    #[test]
    fn arbitrary_bytes_behind_a_plausible_header_length_are_refused_cleanly(
        n in 0u64..400,
        rest in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend(rest);
        judge(&bytes, None);
    }

    #[test]
    fn damaged_valid_files_are_refused_or_read_unchanged(
        tensors in shapes(),
        counter in any::<u64>(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        junk in prop::collection::vec(any::<u8>(), 0..16),
        header_len in prop::option::of(prop_oneof![Just(0u64), Just(u64::MAX), 0u64..10_000]),
    ) {
        let original = state(&tensors, counter);
        let good = state_to_bytes(&original, &BTreeMap::new(), Path::new(PATH)).unwrap();
        judge(&good, Some(&original));
        // Truncated anywhere.
        judge(&good[..cut.index(good.len() + 1)], Some(&original));
        // Bytes flipped anywhere (header or data).
        let mut flipped = good.clone();
        for (at, mask) in &flips {
            let i = at.index(flipped.len());
            flipped[i] ^= mask;
        }
        judge(&flipped, if flips.is_empty() { Some(&original) } else { None });
        if !flips.is_empty() && flipped != good {
            if let Ok((s, _)) = state_from_bytes::<f32>(&flipped, Path::new(PATH)) {
                // Only a flip in the header's padding or formatting may pass, and it
                // must leave the state as it was.
                prop_assert_eq!(s, original.clone());
            }
        }
        // Junk appended.
        let mut longer = good.clone();
        longer.extend(&junk);
        judge(&longer, if junk.is_empty() { Some(&original) } else { None });
        // The header's length overwritten.
        if let Some(n) = header_len {
            let mut bad = good.clone();
            bad[..8].copy_from_slice(&n.to_le_bytes());
            judge(&bad, None);
        }
    }
}
