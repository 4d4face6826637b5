//! What a training step holds in memory: the process's peak resident set (measured) and
//! the bytes of activations and forward caches (accounted).

use locus_core::Tensor;
use locus_sched::Stage;

/// The peak resident set size of this process so far (`VmHWM` in `/proc/self/status`), in
/// KiB; `None` where the file does not exist (not Linux) or has no such line.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak resident set size to the current one (writing 5 to
/// `/proc/self/clear_refs`, Linux 4.0 and later), so that [`peak_rss_kib`] reports the peak
/// of what follows. Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The bytes one training batch holds between forward and backward pass, stage by stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepBytes {
    /// The input batch.
    pub input: usize,
    /// Each stage's forward cache.
    pub caches: Vec<usize>,
    /// Each stage's output (the activation handed up).
    pub outputs: Vec<usize>,
}

impl StepBytes {
    /// Measures by running the forward passes of `inputs` once.
    pub fn measure(stages: &[Stage<f32>], inputs: &Tensor<f32>) -> anyhow::Result<StepBytes> {
        let size = std::mem::size_of::<f32>();
        let mut bytes = StepBytes {
            input: inputs.len() * size,
            caches: Vec::with_capacity(stages.len()),
            outputs: Vec::with_capacity(stages.len()),
        };
        let mut x = inputs.clone();
        for stage in stages {
            let (y, cache) = stage.module().forward(&x)?;
            bytes.caches.push(cache.bytes());
            bytes.outputs.push(y.len() * size);
            x = y;
        }
        Ok(bytes)
    }

    /// Stage `k`'s cache and output.
    pub fn stage(&self, k: usize) -> usize {
        self.caches[k] + self.outputs[k]
    }

    /// All stages training together (lockstep, end to end): the input batch and every
    /// stage's cache and output at once.
    pub fn all_at_once(&self) -> usize {
        self.input + (0..self.caches.len()).map(|k| self.stage(k)).sum::<usize>()
    }

    /// One stage at a time: the largest of a stage's input batch, cache and output.
    pub fn one_at_a_time(&self) -> usize {
        (0..self.caches.len())
            .map(|k| {
                self.stage(k)
                    + if k == 0 {
                        self.input
                    } else {
                        self.outputs[k - 1]
                    }
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stage_at_a_time_holds_the_largest_stage_only() {
        let b = StepBytes {
            input: 10,
            caches: vec![100, 50, 20],
            outputs: vec![30, 40, 5],
        };
        assert_eq!(b.all_at_once(), 10 + 130 + 90 + 25);
        // Stage 1 with its input batch (140) outweighs stage 2 with its input (30 + 90)
        // and stage 3 with its input (40 + 25).
        assert_eq!(b.one_at_a_time(), 140);
    }

    #[test]
    fn the_peak_resident_set_is_read_on_linux() {
        if std::path::Path::new("/proc/self/status").exists() {
            let kib = peak_rss_kib().expect("VmHWM is in /proc/self/status on Linux");
            assert!(kib > 0);
            // Touch 64 MiB: the high-water mark must follow.
            let big = vec![1u8; 64 << 20];
            let after = peak_rss_kib().unwrap();
            assert!(after >= kib && after >= 64 * 1024, "{kib} → {after}");
            assert_eq!(big.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
            drop(big);
            if reset_peak_rss() {
                let reset = peak_rss_kib().unwrap();
                assert!(
                    reset < after,
                    "the peak stayed at {reset} after freeing 64 MiB"
                );
            }
        }
    }
}
