//! The ten hand-drawn 1-D digit templates of MNIST-1D (Greydanus & Steinbach, 2020).

/// Points per template.
pub(crate) const TEMPLATE_POINTS: usize = 12;

/// The raw templates, one per digit 0..9, as published with the data set.
const RAW: [[f64; TEMPLATE_POINTS]; 10] = [
    [5.0, 6.0, 6.5, 6.75, 7.0, 7.0, 7.0, 7.0, 6.75, 6.5, 6.0, 5.0],
    [5.0, 3.0, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0, 5.4, 5.8, 5.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.25, 4.75, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.0, 5.0, 6.0, 6.5, 6.5, 6.0, 5.0],
    [5.0, 4.4, 3.8, 3.2, 2.6, 2.6, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    [5.0, 3.0, 3.0, 3.0, 3.0, 5.0, 6.0, 6.5, 6.5, 6.0, 4.5, 5.0],
    [5.0, 4.0, 3.5, 3.25, 3.0, 3.0, 3.0, 3.0, 3.25, 3.5, 4.0, 5.0],
    [5.0, 7.0, 7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 4.2, 5.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 4.7, 4.3, 5.0],
];

/// The templates as the generator uses them: each standardised (zero mean, unit
/// population standard deviation), shifted so it starts at 0 (all start and end at the
/// same raw value, so they also end at 0), and divided by 6.
pub(crate) fn templates() -> [[f64; TEMPLATE_POINTS]; 10] {
    RAW.map(|raw| {
        let n = TEMPLATE_POINTS as f64;
        let mean = raw.iter().sum::<f64>() / n;
        let std = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let z = raw.map(|v| (v - mean) / std);
        z.map(|v| (v - z[0]) / 6.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_start_and_end_at_zero_and_differ() {
        let t = templates();
        for (digit, x) in t.iter().enumerate() {
            assert_eq!(x[0], 0.0, "digit {digit}");
            assert!(x[TEMPLATE_POINTS - 1].abs() < 1e-12, "digit {digit}");
            // Standardised then divided by 6: the spread is 1/6 whatever the shift.
            let mean = x.iter().sum::<f64>() / 12.0;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 12.0;
            assert!((var.sqrt() - 1.0 / 6.0).abs() < 1e-12, "digit {digit}");
        }
        for a in 0..10 {
            for b in a + 1..10 {
                assert_ne!(t[a], t[b]);
            }
        }
    }
}
