//! The same stages under three schedulers: Lockstep, Pipelined (a thread per stage) and
//! Simulated (a virtual clock with slow links), with what each measured per stage.
//!
//! The network is a 40-256-256-10 MLP on MNIST-1D (generated in memory), one stage per
//! layer; the hidden stages learn by direct feedback alignment, so each needs only the
//! output error, broadcast by the top stage, and can work on a newer batch meanwhile.
//!
//! Run: `cargo run --release --example pipelined`

use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::prelude::*;
use locus::sched::{StageStats, StatsLog};

/// A fresh DFA network: the same weights every time (seed 0).
fn dfa_stages() -> Result<Vec<Stage<f32>>, Box<dyn std::error::Error>> {
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9));
    let mlp = MlpConfig::new(vec![40, 256, 256, 10]).with_activation(Activation::Relu);
    Ok(mlp.build::<f32>(0, &optimizer, |i, n| {
        if i + 1 == n {
            Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
        } else {
            Box::new(DirectFeedback::<f32>::new(100 + i as u64))
        }
    })?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let slow_links = SimulatedConfig::default()
        .with_flow(AsyncConfig::default().with_in_flight(8).with_capacity(8))
        .with_link_delay(4.0);
    let schedulers: Vec<(&str, Box<dyn Scheduler<f32>>)> = vec![
        ("lockstep", Box::new(Lockstep)),
        (
            "pipelined",
            Box::new(Pipelined::new(AsyncConfig::default())?),
        ),
        (
            "simulated, link delay 4",
            Box::new(Simulated::new(slow_links)?),
        ),
    ];
    for (name, mut scheduler) in schedulers {
        let mut stages = dfa_stages()?;
        let mut log = StatsLog::default();
        let mut seconds = 0.0;
        for epoch in 0..15 {
            let plan = EpochPlan {
                batch_size: 64,
                seed: 0,
                epoch,
            };
            seconds += scheduler
                .train_epoch(&mut stages, &data.train, plan, &mut log)?
                .wall_s;
        }
        let test = evaluate(&mut stages, &data.test, 1000)?;
        println!(
            "{name}: test accuracy {:.3}, {:.0} samples/s",
            test.accuracy,
            15.0 * data.train.len() as f64 / seconds
        );
        // What the scheduler measured over the last epoch, per stage.
        for s in log.last().unwrap_or_default() {
            let StageStats {
                stage,
                staleness_mean,
                staleness_max,
                ..
            } = s;
            println!(
                "  {stage}: staleness {staleness_mean:.2} (max {staleness_max}), busy {:.0}%{}",
                100.0 * s.busy_fraction(),
                if s.virtual_time {
                    " of virtual time"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
