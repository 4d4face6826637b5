//! Synthetic gradients on MNIST-1D, side by side with backpropagation, through the library
//! API: DNI (each hidden stage learns from a learned prediction of its gradient), cDNI (the
//! prediction also sees the label) and the fully decoupled network of the paper (cDNI plus
//! synthetic inputs, so no stage waits for another in either direction).
//!
//! Every hidden stage gets a `SyntheticGradient` objective; the top stage keeps the true
//! loss. Under `Lockstep` each gradient model trains on the message from the stage above;
//! `ForwardUnlocked` also feeds every stage above the first a predicted input.
//!
//! Run: `cargo run --release --example synthetic_gradients`

use locus::data::gather;
use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::prelude::*;

/// What the hidden stages learn from.
#[derive(Clone, Copy)]
enum Hidden {
    Backprop,
    Dni,
    Cdni,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let probe = gather::<f32>(&data.train, &(0..500).collect::<Vec<_>>())?;
    let adam = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let runs = [
        ("bp", Hidden::Backprop, false),
        ("dni", Hidden::Dni, false),
        ("cdni", Hidden::Cdni, false),
        ("cdni + synthetic inputs", Hidden::Cdni, true),
    ];
    println!(
        "{:<24} test acc   update angle per hidden stage (degrees)",
        "run"
    );
    for (name, hidden, synthetic_inputs) in runs {
        let mut stages = MlpConfig::new(vec![40, 256, 256, 10]).build::<f32>(
            0,
            &adam,
            |i, n| -> Box<dyn LocalObjective<f32>> {
                let sg = SyntheticGradientConfig::new(100 + i as u64);
                match hidden {
                    _ if i + 1 == n => Box::new(SupervisedLoss::default()),
                    Hidden::Backprop => Box::new(UpstreamGradient),
                    Hidden::Dni => Box::new(sg.build::<f32>().expect("valid settings")),
                    Hidden::Cdni => Box::new(sg.with_labels(10).build::<f32>().expect("valid")),
                }
            },
        )?;
        let mut scheduler: Box<dyn Scheduler<f32>> = if synthetic_inputs {
            let config = SyntheticInputConfig::new(7).with_model(InputModel::Mlp { hidden: 256 });
            Box::new(ForwardUnlocked::new(config)?)
        } else {
            Box::new(Lockstep)
        };
        for epoch in 0..30 {
            let plan = EpochPlan {
                batch_size: 32,
                seed: 0,
                epoch,
            };
            scheduler.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
        }
        let test = evaluate(&mut stages, &data.test, 1000)?;
        let angles = measure_alignment(&mut stages, &probe.inputs, &probe.labels)?;
        let hidden: Vec<String> = angles[..angles.len() - 1]
            .iter()
            .map(|a| format!("{:5.1}", a.update_angle_deg))
            .collect();
        println!("{name:<24} {:8.3}   {}", test.accuracy, hidden.join("  "));
    }
    Ok(())
}
