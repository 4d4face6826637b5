//! Through the facade alone (`locus::prelude`): every learning rule in the workspace trains
//! the same small network on the embedded MNIST-1D data and beats chance, and the stages
//! it builds report how far their updates are from backpropagation's.

use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::data::{gather, Split};
use locus::prelude::*;

/// How the hidden stages learn.
#[derive(Clone, Copy, Debug)]
enum Hidden {
    Message(FeedbackRule),
    Direct,
    Synthetic { conditional: bool },
}

fn data() -> Split {
    generate(&Mnist1dConfig::default()).expect("the generator runs")
}

fn stages(hidden: Hidden) -> Vec<Stage<f32>> {
    let feedback = match hidden {
        Hidden::Message(rule) => rule,
        _ => FeedbackRule::Transpose,
    };
    MlpConfig::new(vec![40, 128, 128, 10])
        .with_activation(Activation::Tanh)
        .with_feedback(feedback)
        .build::<f32>(
            1,
            &OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            |i, n| -> Box<dyn LocalObjective<f32>> {
                if i + 1 == n {
                    return Box::new(SupervisedLoss::default());
                }
                match hidden {
                    Hidden::Message(_) => Box::new(UpstreamGradient),
                    Hidden::Direct => Box::new(DirectFeedback::<f32>::new(7 + i as u64)),
                    Hidden::Synthetic { conditional } => {
                        let mut config = SyntheticGradientConfig::new(i as u64);
                        if conditional {
                            config = config.with_labels(10);
                        }
                        Box::new(config.build::<f32>().expect("valid settings"))
                    }
                }
            },
        )
        .expect("valid MLP")
}

#[test]
fn every_rule_beats_chance_and_reports_its_alignment() {
    let split = data();
    let probe = gather::<f32>(&split.train, &(0..200).collect::<Vec<_>>()).unwrap();
    let rules = [
        Hidden::Message(FeedbackRule::Transpose),
        Hidden::Message(FeedbackRule::FixedRandom),
        Hidden::Message(FeedbackRule::SignSymmetry),
        Hidden::Message(FeedbackRule::BatchRandomSign),
        Hidden::Message(FeedbackRule::FixedRandomSign),
        Hidden::Direct,
        Hidden::Synthetic { conditional: false },
        Hidden::Synthetic { conditional: true },
    ];
    for hidden in rules {
        let mut stages = stages(hidden);
        for epoch in 0..10 {
            let plan = EpochPlan {
                batch_size: 50,
                seed: 0,
                epoch,
            };
            Lockstep
                .train_epoch(&mut stages, &split.train, plan, &mut NoObserver)
                .unwrap();
        }
        let accuracy = evaluate(&mut stages, &split.test, 1000).unwrap().accuracy;
        // Chance is 0.1.
        // Measured with this seed: 0.26 (DNI) to 0.47 (backprop).
        assert!(accuracy > 0.2, "{hidden:?}: test accuracy {accuracy}");
        let alignment = measure_alignment(&mut stages, &probe.inputs, &probe.labels).unwrap();
        assert_eq!(alignment.len(), 3);
        assert!(
            alignment[2].update_angle_deg < 1e-3,
            "{hidden:?}: the top is exact"
        );
        let hidden_angle = alignment[1].update_angle_deg;
        match hidden {
            Hidden::Message(FeedbackRule::Transpose) => {
                assert!(hidden_angle < 1e-3, "backprop: {hidden_angle}")
            }
            _ => assert!(hidden_angle > 1e-3, "{hidden:?} should not be exact"),
        }
    }
}
