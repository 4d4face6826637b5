//! The patch and sequence encoders of the contrastive methods: their stage shapes, their
//! seeds, and clear errors for bad configurations.

use locus_core::{AdamConfig, OptimizerConfig, Tensor};
use locus_models::{Conv1dStage, PatchEncoderConfig, SequenceEncoderConfig};
use locus_objectives::{InfoNceConfig, LocalObjective};
use locus_sched::predict;

fn adam() -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig::new(1e-3))
}

fn infonce(i: usize, _: usize) -> Box<dyn LocalObjective<f32>> {
    Box::new(
        InfoNceConfig::new(i as u64)
            .with_prediction_steps(2)
            .build()
            .unwrap(),
    )
}

fn small_encoder() -> SequenceEncoderConfig {
    let stage = |stride| Conv1dStage {
        channels: 6,
        kernel: 5,
        stride,
        padding: 2,
    };
    SequenceEncoderConfig::new((1, 40), vec![stage(1), stage(2)])
}

#[test]
fn encoders_give_one_representation_per_position() {
    let seq = small_encoder().build::<f32>(0, &adam(), infonce).unwrap();
    let y = predict(&seq, &Tensor::zeros(vec![3, 40])).unwrap();
    assert_eq!(y.shape(), [3, 6, 20]);
    assert_eq!(small_encoder().lengths().unwrap(), [40, 20]);
    let patches = PatchEncoderConfig::new((1, 28, 28))
        .with_widths(vec![8, 4])
        .with_layers_per_stage(2);
    assert_eq!(patches.grid().unwrap(), (6, 6));
    let stages = patches.build::<f32>(0, &adam(), infonce).unwrap();
    assert_eq!(stages.len(), 2);
    let y = predict(&stages, &Tensor::zeros(vec![2, 28, 28])).unwrap();
    assert_eq!(y.shape(), [2, 4, 6, 6]);
    // The same seed gives the same weights.
    let again = PatchEncoderConfig::new((1, 28, 28))
        .with_widths(vec![8, 4])
        .with_layers_per_stage(2)
        .build::<f32>(0, &adam(), infonce)
        .unwrap();
    let x = Tensor::from_shape_fn(vec![1, 28, 28], |i| (i[1] * i[2] % 7) as f32);
    assert_eq!(predict(&stages, &x).unwrap(), predict(&again, &x).unwrap());
}

#[test]
fn bad_encoder_configurations_are_named() {
    let e = PatchEncoderConfig::new((1, 6, 6))
        .build::<f32>(0, &adam(), infonce)
        .unwrap_err();
    assert!(e.to_string().contains("do not fit"), "{e}");
    let e = PatchEncoderConfig::new((1, 28, 28))
        .with_widths(vec![])
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("widths"), "{e}");
    let mut seq = small_encoder();
    seq.stages[1].kernel = 60;
    let e = seq.check().unwrap_err();
    assert!(
        e.to_string().contains("stage2") && e.to_string().contains("kernel 60"),
        "{e}"
    );
    seq.stages.clear();
    assert!(seq.check().is_err());
}
