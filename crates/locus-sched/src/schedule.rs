use serde::{Deserialize, Serialize};

/// How the learning rate changes over epochs. The rate for an epoch is set on every stage's
/// optimizer before the epoch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Cosine annealing to zero over the run (Loshchilov & Hutter 2017, without restarts):
    /// `η_e = η · ½ (1 + cos(π e / E))` for epoch `e` of `E`.
    Cosine,
}

impl LrSchedule {
    /// The rate for `epoch` (from 0) of `epochs`, from the base rate.
    pub fn rate(&self, base: f64, epoch: u64, epochs: u64) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let t = epoch as f64 / epochs.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_base_and_halves_midway() {
        let s = LrSchedule::Cosine;
        assert_eq!(s.rate(0.1, 0, 10), 0.1);
        assert!((s.rate(0.1, 5, 10) - 0.05).abs() < 1e-15);
        assert!(s.rate(0.1, 9, 10) > 0.0 && s.rate(0.1, 9, 10) < 0.003);
        assert_eq!(LrSchedule::Constant.rate(0.1, 9, 10), 0.1);
    }
}
