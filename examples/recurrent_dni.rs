//! Synthetic gradients for an RNN (Jaderberg et al. 2016, sect. 3.1): an LSTM learns the
//! copy task with truncated BPTT of T = 3 steps, once with the gradient cut at every
//! chunk boundary, BPTT(3), and once with a learned synthetic gradient there, DNI(3).
//! Both follow the same curriculum (the next sequence length once the error is below
//! 0.15 bits per output step) for the same number of batches.
//!
//!     cargo run --release --example recurrent_dni [ROUNDS]

use locus::core::{AdamConfig, OptimizerConfig};
use locus::data::CopyTask;
use locus::objectives::SyntheticGradientConfig;
use locus::train::{run_curriculum, CurriculumConfig, RecurrentConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(r) => r.parse()?,
        None => 60,
    };
    let task = CopyTask::copy(8);
    let adam = |lr| OptimizerConfig::Adam(AdamConfig::new(lr));
    let curriculum = CurriculumConfig {
        batch_size: 32,
        batches_per_round: 50,
        rounds,
        ..CurriculumConfig::new(task)
    };
    for dni in [false, true] {
        let mut config =
            RecurrentConfig::new(task.input_width(), 64, task.target_width(), 3, adam(3e-3));
        if dni {
            config = config.with_synthetic_gradient(
                SyntheticGradientConfig::new(0).with_optimizer(adam(1e-2)),
            );
        }
        let mut trainer = config.build::<f32>()?;
        let name = if dni { "DNI(3)" } else { "BPTT(3)" };
        let report = run_curriculum(&mut trainer, &curriculum, |r| {
            if r.solved {
                println!(
                    "{name}: length {} solved after {} batches{}",
                    r.length,
                    r.batches,
                    r.alignment_deg
                        .map(|a| format!(" (synthetic vs true gradient: {a:.0}°)"))
                        .unwrap_or_default()
                );
            }
        })?;
        println!(
            "{name}: longest length solved {} in {} batches ({:.1}s of training)",
            report.longest_solved, report.batches, report.train_s
        );
    }
    Ok(())
}
