//! Fuzzing of the reader of `.npy` weight checkpoints (`load_checkpoint`): one file of a
//! real checkpoint (a parameter) is corrupted — bytes flipped, cut, overwritten or appended, or the
//! `.npy` header rewritten with another dtype or an extreme shape — and the readers must
//! return an error naming a file, with the stages unchanged, or load; never panic. The
//! `.npy` parsing itself is fuzzed in locus-data's `parser_fuzz.rs`, the safetensors
//! state files in `state_file_fuzz.rs`.

mod support;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use locus_sched::{
    load_checkpoint, save_checkpoint, EpochPlan, Lockstep, NoObserver, Scheduler, Stage,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use support::{product_data, stack, weights, Rule};

/// How one file of the saved state is corrupted.
#[derive(Debug, Clone)]
enum Corruption {
    /// XOR the byte at `at` (modulo the length) with `mask`.
    Flip { at: usize, mask: u8 },
    /// Keep the first `at` bytes (modulo the length plus one).
    Truncate { at: usize },
    /// Write `bytes` from `at` on (modulo the length).
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Append junk.
    Append(Vec<u8>),
    /// Rewrite a `.npy` header (version 1.0) with this dtype and shape text, keeping the
    /// first `keep` data bytes (all when there are fewer).
    Header {
        descr: &'static str,
        shape: String,
        keep: usize,
    },
    /// Replace the file with this text (for the step counts).
    Text(String),
}

impl Corruption {
    fn apply(&self, file: &[u8]) -> Vec<u8> {
        let mut file = file.to_vec();
        let len = file.len();
        match self {
            Corruption::Flip { at, mask } => {
                if len > 0 {
                    file[at % len] ^= mask;
                }
            }
            Corruption::Truncate { at } => file.truncate(at % (len + 1)),
            Corruption::Overwrite { at, bytes } => {
                let start = at % (len + 1);
                let end = (start + bytes.len()).min(len);
                file.splice(start..end, bytes.iter().copied());
            }
            Corruption::Append(junk) => file.extend_from_slice(junk),
            Corruption::Header { descr, shape, keep } => {
                // A saved .npy file (version 1.0) has its header length at bytes 8 and 9.
                let start = file
                    .get(8..10)
                    .map_or(len, |b| 10 + usize::from(u16::from_le_bytes([b[0], b[1]])));
                let data = file.get(start..).unwrap_or_default();
                let header =
                    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
                let mut out = b"\x93NUMPY\x01\x00".to_vec();
                out.extend((header.len() as u16).to_le_bytes());
                out.extend(header.as_bytes());
                out.extend(&data[..(*keep).min(data.len())]);
                return out;
            }
            Corruption::Text(text) => return text.clone().into_bytes(),
        }
        file
    }
}

/// Dimensions that break shape checks and size arithmetic.
const DIMS: [&str; 10] = [
    "0",
    "1",
    "3",
    "8",
    "12",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
];

/// Counts for the step file: small, at type limits, or not numbers.
const COUNTS: [&str; 8] = [
    "0",
    "1",
    "2",
    "3",
    "4294967296",
    "18446744073709551615",
    "-1",
    "x",
];

/// Any corruption, most often a rewritten `.npy` header.
fn corruption() -> impl Strategy<Value = Corruption> {
    let at = prop_oneof![0..160usize, any::<usize>()];
    // Mostly the saved dtype, and often no data, so that odd shapes reach the tensors.
    let header = (
        prop_oneof![3 => Just("<f8"), 1 => prop::sample::select(&["<f4", "|u1", "<i8"][..])],
        vec(
            prop_oneof![1 => Just("0"), 3 => prop::sample::select(&DIMS[..])],
            0..4,
        ),
        prop_oneof![Just(0), Just(usize::MAX), 0..1000usize],
    )
        .prop_map(|(descr, dims, keep)| {
            let shape = match dims.as_slice() {
                [one] => format!("({one},)"),
                _ => format!("({})", dims.join(", ")),
            };
            Corruption::Header { descr, shape, keep }
        });
    let steps = (
        prop::sample::select(&["SGD", "Adam", ""][..]),
        vec(prop::sample::select(&COUNTS[..]), 3),
    )
        .prop_map(|(kind, n)| {
            Corruption::Text(format!(
                "kind {kind}\nlearner {}\noptimizer {}\nbuffers {}\n",
                n[0], n[1], n[2]
            ))
        });
    prop_oneof![
        3 => header,
        1 => (at.clone(), 1..=255u8).prop_map(|(at, mask)| Corruption::Flip { at, mask }),
        1 => at.clone().prop_map(|at| Corruption::Truncate { at }),
        1 => (at, vec(any::<u8>(), 1..9)).prop_map(|(at, bytes)| Corruption::Overwrite { at, bytes }),
        1 => vec(any::<u8>(), 1..64).prop_map(Corruption::Append),
        1 => steps,
        1 => vec(any::<u8>(), 0..256).prop_map(|b| Corruption::Text(String::from_utf8_lossy(&b).into())),
    ]
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// What loading must leave alone when it fails.
fn snapshot(stages: &[Stage<f64>]) -> (Vec<locus_core::Tensor<f64>>, Vec<u64>) {
    (weights(stages), stages.iter().map(Stage::steps).collect())
}

#[test]
fn corrupt_saved_states_are_refused_or_loaded_never_panic() {
    let dir = std::env::temp_dir().join(format!("locus-state-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut saved = stack(Rule::Backprop, &[12, 10], 3);
    let plan = EpochPlan {
        batch_size: 16,
        seed: 5,
        epoch: 0,
    };
    Lockstep
        .train_epoch(&mut saved, &product_data(90, 1), plan, &mut NoObserver)
        .unwrap();
    save_checkpoint(&saved[..], &dir).unwrap();
    let files = files(&dir);
    assert!(files.len() >= 4, "{files:?}");
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let target = RefCell::new(stack(Rule::Backprop, &[12, 10], 4));
    // The file the last case corrupted, put back first even if that case panicked.
    let corrupted = Cell::new(None);

    let config = ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/checkpoint_fuzz.txt"
        )))),
        ..ProptestConfig::default()
    };
    let cases = (0..files.len(), corruption());
    let result = TestRunner::new(config).run(&cases, |(k, corruption)| {
        if let Some(last) = corrupted.take() {
            std::fs::write(&files[last], &originals[last]).unwrap();
        }
        std::fs::write(&files[k], corruption.apply(&originals[k])).unwrap();
        corrupted.set(Some(k));
        let mut target = target.borrow_mut();
        let before = snapshot(&target);
        if let Err(e) = load_checkpoint::<f64>(&mut target, &dir) {
            let message = e.to_string();
            prop_assert!(message.contains(dir.to_str().unwrap()), "{message}");
            prop_assert!(
                snapshot(&target) == before,
                "changed by a failed load: {message}"
            );
        }
        Ok(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
    result.unwrap_or_else(|e| panic!("{}", e));
}
