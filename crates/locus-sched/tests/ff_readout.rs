//! The Forward-Forward read-out: softmaxes on a trained stack's frozen activities, learned,
//! scored, saved and loaded back.

use locus_core::{OptimizerConfig, SgdConfig, StateDict, Tensor};
use locus_models::ForwardForwardMlp;
use locus_objectives::ForwardForwardConfig;
use locus_sched::{Readout, ReadoutConfig};

#[test]
fn read_outs_learn_a_separable_problem_on_fixed_features() {
    let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
    let stages = ForwardForwardMlp::new(vec![4, 16, 16])
        .build::<f64>(1, &opt, |_, _| {
            Box::new(ForwardForwardConfig::default().build().unwrap())
        })
        .unwrap();
    let x = Tensor::from_shape_fn(vec![8, 4], |i| if i[1] == i[0] % 4 { 1.0 } else { 0.1 });
    let labels: Vec<usize> = (0..8).map(|i| i % 4).collect();
    let mut readout = Readout::new(
        ReadoutConfig::new(0).with_optimizer(OptimizerConfig::Sgd(SgdConfig::new(0.5))),
    );
    assert!(readout.scores(&stages, &x).is_err(), "not trained yet");
    let first = readout.learn(&stages, &x, &labels, 4).unwrap();
    let mut last = first;
    for _ in 0..200 {
        last = readout.learn(&stages, &x, &labels, 4).unwrap();
    }
    assert!(last < 0.2 * first, "{first} → {last}");
    let scores = readout.scores(&stages, &x).unwrap();
    assert_eq!(scores.per_stage.len(), 2);
    assert_eq!(scores.combined.shape(), &[8, 4]);
    let predicted =
        locus_core::loss::argmax_rows(scores.combined.view().into_dimensionality().unwrap());
    assert_eq!(predicted, labels);
    assert!(readout.scores(&stages[..1], &x).is_err());
}

/// Saved after some steps and loaded into a fresh read-out, the softmaxes score as
/// the saved ones and learn on as they do (Adam's moments and step count come along).
#[test]
fn a_saved_read_out_loads_back_and_learns_on_alike() {
    let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
    let stages = ForwardForwardMlp::new(vec![4, 6, 5])
        .build::<f64>(1, &opt, |_, _| {
            Box::new(ForwardForwardConfig::default().build().unwrap())
        })
        .unwrap();
    let x = Tensor::from_shape_fn(vec![8, 4], |i| (i[0] * 4 + i[1]) as f64 / 10.0);
    let labels: Vec<usize> = (0..8).map(|i| i % 3).collect();
    let mut saved = Readout::new(ReadoutConfig::new(0));
    let mut state = StateDict::new();
    saved.save_state(&stages, "readout.", &mut state);
    assert!(state.is_empty(), "nothing to save yet");
    for _ in 0..3 {
        saved.learn(&stages, &x, &labels, 3).unwrap();
    }
    saved.save_state(&stages, "readout.", &mut state);
    let mut loaded = Readout::new(ReadoutConfig::new(7));
    let mut taken = state.clone();
    loaded.load_state(&stages, "readout.", &mut taken).unwrap();
    taken.finish().unwrap();
    let scores = |r: &Readout<f64>| {
        let s = r.scores(&stages, &x).unwrap();
        (s.per_stage, s.combined)
    };
    assert_eq!(scores(&loaded), scores(&saved));
    saved.learn(&stages, &x, &labels, 3).unwrap();
    loaded.learn(&stages, &x, &labels, 3).unwrap();
    assert_eq!(scores(&loaded), scores(&saved));

    // A missing softmax weight is named.
    let mut broken = StateDict::new();
    for (name, value) in state.iter() {
        if name != "readout.combined.1.weight" {
            broken.put(name.clone(), value.clone());
        }
    }
    let mut fresh = Readout::new(ReadoutConfig::new(0));
    let e = fresh
        .load_state(&stages, "readout.", &mut broken)
        .unwrap_err();
    assert!(e.to_string().contains("readout.combined.1.weight"), "{e}");
}
