//! "Nice" axis ticks: steps of 1, 2 or 5 × 10^k, and labels with just enough decimals.

/// The smallest span an axis divides into steps: a step of 10^k below about 1e-308
/// underflows to 0 (the span `[-5e-324, 5e-324]` gave a step of 0 and a tick label of
/// `usize::MAX` decimals), so narrower spans are widened like a single value.
const TINY: f64 = 1e-290;

/// An axis: the value range it spans and where its ticks go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// Value at the low end of the axis.
    pub min: f64,
    /// Value at the high end of the axis.
    pub max: f64,
    /// Tick values inside `[min, max]`, increasing.
    pub ticks: Vec<f64>,
    /// Decimals that tell the ticks apart.
    pub decimals: usize,
}

impl Axis {
    /// An axis over `[lo, hi]` with about `target` ticks.
    ///
    /// With `fixed`, the ends are exactly `lo` and `hi`; otherwise they are widened to the
    /// enclosing multiples of the step. `integer` keeps the step at 1 or more (for epochs).
    /// `lo == hi` is widened around the value, and so is a span below `TINY`. Expects
    /// `lo <= hi`, both within ±1e300.
    pub fn new(lo: f64, hi: f64, target: usize, fixed: bool, integer: bool) -> Self {
        let (lo, hi) = if hi - lo > TINY {
            (lo, hi)
        } else {
            let pad = if lo.abs() < TINY { 1.0 } else { lo.abs() * 0.1 };
            (lo - pad, hi + pad)
        };
        let mut step = nice_step((hi - lo) / target.max(1) as f64);
        if integer {
            step = step.max(1.0);
        }
        let (min, max) = match ((lo / step).floor() * step, (hi / step).ceil() * step) {
            // Rounding can collapse a span of a few ulps; the data's own ends still differ.
            (min, max) if !fixed && min < max => (min, max),
            _ => (lo, hi),
        };
        let mut ticks = multiples(min, max, step);
        // A fixed range can fall between two multiples of the step: refine the step until
        // at least two ticks fit (0.4 takes 1 to 0.5, 2 to 1 and 5 to 2 after rounding).
        while fixed && ticks.len() < 2 && !(integer && step <= 1.0) && step > (max - min) * 1e-6 {
            step = nice_step(step * 0.4);
            ticks = multiples(min, max, step);
        }
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        Axis {
            min,
            max,
            ticks,
            decimals,
        }
    }

    /// The tick label of `value`.
    pub fn label(&self, value: f64) -> String {
        let s = format!("{value:.*}", self.decimals);
        // "-0.0" is what rounding a tiny negative gives; it means 0.
        if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
            s[1..].to_string()
        } else {
            s
        }
    }
}

/// The multiples of `step` in `[min, max]`, with a little slack for rounding.
fn multiples(min: f64, max: f64, step: f64) -> Vec<f64> {
    // k * step, not repeated addition, so 0.1 + 0.1 + 0.1 rounding cannot push the last
    // tick out of range.
    let first = (min / step - 1e-9).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    // Callers keep this near their target of 2 to 10; the bound only guards against a
    // range of magnitudes no axis should have.
    if last.saturating_sub(first) > 1000 {
        return vec![min, max];
    }
    (first..=last).map(|k| k as f64 * step).collect()
}

/// The smallest step of 1, 2 or 5 × 10^k that is at least `raw` (positive and finite).
pub(crate) fn nice_step(raw: f64) -> f64 {
    let raw = if raw.is_finite() && raw > 0.0 {
        raw
    } else {
        1.0
    };
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 + 1e-9 {
        1.0
    } else if fraction <= 2.0 + 1e-9 {
        2.0
    } else if fraction <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        for (raw, want) in [
            (0.13, 0.2),
            (0.2, 0.2),
            (0.21, 0.5),
            (0.7, 1.0),
            (1.0, 1.0),
            (3.0, 5.0),
            (45.0, 50.0),
            (0.000_31, 0.000_5),
            (8_000.0, 10_000.0),
        ] {
            assert!(close(nice_step(raw), want), "{raw} -> {}", nice_step(raw));
        }
    }

    #[test]
    fn automatic_axes_enclose_the_data_on_tick_multiples() {
        // 0.14 / 6 = 0.023 rounds up to a step of 0.05.
        let a = Axis::new(0.83, 0.97, 6, false, false);
        assert!(close(a.min, 0.8) && close(a.max, 1.0), "{a:?}");
        assert!(
            close(a.ticks[0], 0.8) && close(*a.ticks.last().unwrap(), 1.0),
            "{a:?}"
        );
        assert_eq!(a.ticks.len(), 5);
        assert_eq!(a.decimals, 2);
        assert_eq!(a.label(a.ticks[1]), "0.85");
    }

    #[test]
    fn fixed_axes_keep_their_ends_and_ticks_stay_inside() {
        let a = Axis::new(0.0, 1.0, 5, true, false);
        assert_eq!((a.min, a.max), (0.0, 1.0));
        let labels: Vec<String> = a.ticks.iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let b = Axis::new(0.05, 0.95, 4, true, false);
        assert!(b.ticks.iter().all(|&t| (0.05..=0.95).contains(&t)), "{b:?}");
        // No multiple of the first step (0.05) lies in this range; a finer one does.
        let c = Axis::new(0.101, 0.1415, 2, true, false);
        assert!(c.ticks.len() >= 2, "{c:?}");
        assert!(
            c.ticks.iter().all(|&t| (0.101..=0.1415).contains(&t)),
            "{c:?}"
        );
        assert_eq!(c.label(c.ticks[0]), "0.12");
    }

    #[test]
    fn integer_axes_and_degenerate_ranges() {
        let epochs = Axis::new(1.0, 2.0, 6, false, true);
        assert_eq!(epochs.ticks, [1.0, 2.0]);
        assert_eq!(epochs.label(2.0), "2");
        let flat = Axis::new(0.5, 0.5, 5, false, false);
        assert!(flat.min < 0.5 && flat.max > 0.5, "{flat:?}");
        let zero = Axis::new(0.0, 0.0, 5, false, false);
        assert!(zero.min < 0.0 && zero.max > 0.0, "{zero:?}");
        assert_eq!(Axis::new(-1.0, 1.0, 4, false, false).label(-1e-17), "0.0");
        let ulp = Axis::new(1.0, 1.0 + f64::EPSILON, 5, false, false);
        assert!(ulp.min < ulp.max, "{ulp:?}");
    }

    #[test]
    fn subnormal_ranges_get_a_positive_step_and_short_enough_labels() {
        // Found by locus-cli's results_fuzz.rs: a results.json whose stage losses were
        // ±5e-324 made `locus plot --stage-metric` panic formatting a tick label.
        for (lo, hi) in [(-5e-324, 5e-324), (0.0, 1e-310), (1e-320, 1e-320)] {
            for fixed in [false, true] {
                let a = Axis::new(lo, hi, 5, fixed, false);
                assert!(a.decimals <= 300, "{a:?}");
                assert!(a.ticks.iter().all(|t| t.is_finite()), "{a:?}");
                assert!(!a.label(a.min).is_empty());
            }
        }
    }
}
