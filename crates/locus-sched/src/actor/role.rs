//! What each stage waits for under an asynchronous schedule, decided once from the
//! objectives, and the checks that make a stack schedulable.

use locus_core::Float;

use crate::{AsyncConfig, Error, Result, Stage};

/// What one stage waits for and whom it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Role {
    /// Backward-locked: the update needs the gradient from the stage above.
    pub waits_message: bool,
    /// The update needs the top stage's output error (DFA).
    pub waits_global: bool,
    /// Update-unlocked: learns from its prediction, then from the message when it comes.
    pub late_message: bool,
    /// The stage below needs this stage's input gradient.
    pub below_needs_message: bool,
    /// The top stage: learns from its loss, broadcasts the global error.
    pub is_top: bool,
    /// Top stage only: the stages that need the global error.
    pub global_targets: Vec<usize>,
    /// Draws its inputs from a replay buffer.
    pub replay: bool,
    /// The objective needs the network input: the stage keeps it with each batch.
    pub needs_network_input: bool,
    /// A stage above needs the network input: the stage passes it up with its output.
    pub sends_network_input: bool,
}

/// Every stage's role, after checking that the stack can run asynchronously.
///
/// # Errors
/// [`Error::Config`] for an empty stack, a top stage that waits for a message or for the
/// global error (nothing can send them), an update-unlocked stage that passes its message
/// down to a stage that needs one (true-gradient targets), a replay buffer on the first
/// stage or above a stage that waits for a message or the global error, or a replay stage
/// index past the top.
pub(crate) fn roles<F: Float>(stages: &[Stage<F>], config: &AsyncConfig) -> Result<Vec<Role>> {
    config.check()?;
    let Some(top) = stages.len().checked_sub(1) else {
        return Err(Error::Config("there are no stages".into()));
    };
    let objective = |i: usize| stages[i].objective();
    if objective(top).needs_message() {
        return Err(Error::Config(format!(
            "the top stage '{}' uses objective '{}', which waits for a gradient message from \
             a stage above, but there is none; give the top stage a loss (e.g. SupervisedLoss)",
            stages[top].name(),
            objective(top).name()
        )));
    }
    if objective(top).needs_global_error() {
        return Err(Error::Config(format!(
            "the top stage '{}' uses objective '{}', which waits for the global error, but \
             the top stage is the one that computes it; give the top stage a loss",
            stages[top].name(),
            objective(top).name()
        )));
    }
    let learns_locally =
        |i: usize| !objective(i).needs_message() && !objective(i).needs_global_error();
    let mut replay = vec![false; stages.len()];
    if let Some(r) = &config.replay {
        match &r.stages {
            None => {
                for j in 1..stages.len() {
                    if learns_locally(j - 1) {
                        replay[j] = true;
                    } else {
                        break;
                    }
                }
                if stages.len() == 1 {
                    return Err(Error::Config(
                        "replay buffers were asked for, but a stack of one stage has no \
                         place for one (a buffer sits between two stages)"
                            .into(),
                    ));
                }
                if !replay.contains(&true) {
                    return Err(Error::Config(format!(
                        "replay buffers were asked for, but no stage can have one: a buffer \
                         sits above a stage that learns locally, and the first stage '{}' \
                         (objective '{}') waits for a gradient message or the global error",
                        stages[0].name(),
                        objective(0).name()
                    )));
                }
            }
            Some(list) => {
                for &j in list {
                    if j > top {
                        return Err(Error::Config(format!(
                            "replay buffer for stage index {j}, but the stack has {} stages \
                             (indices 0 to {top})",
                            stages.len()
                        )));
                    }
                    if j == 0 {
                        return Err(Error::Config(format!(
                            "replay buffer for the first stage '{}': a buffer sits between \
                             two stages, and the first one reads the data in order",
                            stages[0].name()
                        )));
                    }
                    if let Some(k) = (0..j).find(|&k| !learns_locally(k)) {
                        return Err(Error::Config(format!(
                            "replay buffer for stage '{}': stage '{}' below it waits for a \
                             gradient message or the global error (objective '{}'), which \
                             cannot reach it through a buffer that draws batches at random",
                            stages[j].name(),
                            stages[k].name(),
                            objective(k).name()
                        )));
                    }
                    replay[j] = true;
                }
            }
        }
    }
    if let Some(i) = (1..stages.len()).find(|&i| {
        let o = objective(i);
        o.is_update_unlocked() && o.passes_message_down() && objective(i - 1).needs_message()
    }) {
        return Err(Error::Config(format!(
            "stage '{}' (objective '{}') passes its message down (true-gradient targets) \
             but learns update-unlocked: under an asynchronous schedule the stage below \
             would wait on the whole backward pass; use a lockstep scheduler, or \
             bootstrapped targets",
            stages[i].name(),
            objective(i).name()
        )));
    }
    let needs_network_input = |i: usize| objective(i).needs_network_input();
    Ok((0..stages.len())
        .map(|i| {
            let o = objective(i);
            let unlocked = o.is_update_unlocked();
            Role {
                needs_network_input: needs_network_input(i),
                sends_network_input: (i + 1..stages.len()).any(needs_network_input),
                waits_message: o.needs_message() && !unlocked,
                waits_global: o.needs_global_error(),
                late_message: o.needs_message() && unlocked,
                below_needs_message: i > 0 && objective(i - 1).needs_message(),
                is_top: i == top,
                global_targets: if i == top {
                    (0..top)
                        .filter(|&j| objective(j).needs_global_error())
                        .collect()
                } else {
                    Vec::new()
                },
                replay: replay[i],
            }
        })
        .collect())
}

/// Whether the data source must attach the network input to the batches it feeds the
/// first stage: some stage needs it.
pub(crate) fn feeds_network_input(roles: &[Role]) -> bool {
    roles
        .first()
        .is_some_and(|r| r.needs_network_input || r.sends_network_input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::{seeded_rng, LinearConfig, OptimizerConfig, SgdConfig};
    use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext};

    /// A zero signal from an objective that needs the network input or not.
    struct Needs(bool);

    impl LocalObjective<f64> for Needs {
        fn name(&self) -> String {
            format!("needs the network input: {}", self.0)
        }

        fn signal(
            &mut self,
            ctx: &StageContext<'_, f64>,
            _: Mode,
        ) -> locus_core::Result<LocalSignal<f64>> {
            Ok(LocalSignal {
                loss: 0.0,
                grad_output: ctx.output.mapv(|_| 0.0),
            })
        }

        fn needs_network_input(&self) -> bool {
            self.0
        }
    }

    /// Who keeps the network input and who passes it up in a four-stage stack whose stage
    /// `i` needs it when `needs[i]`, and whether the data source attaches it at all.
    fn flags(needs: [bool; 4]) -> (Vec<(bool, bool)>, bool) {
        let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        let stages: Vec<Stage<f64>> = (0..4)
            .map(|i| {
                let layer = LinearConfig::new(4, 4).init::<f64>(&mut seeded_rng(i as u64));
                Stage::new(
                    format!("stage{i}"),
                    Box::new(layer.unwrap()),
                    Box::new(Needs(needs[i])),
                    optimizer.build::<f64>().unwrap(),
                )
            })
            .collect();
        let roles = roles(&stages, &AsyncConfig::default()).unwrap();
        let flags = roles
            .iter()
            .map(|r| (r.needs_network_input, r.sends_network_input))
            .collect();
        (flags, feeds_network_input(&roles))
    }

    #[test]
    fn the_network_input_goes_up_only_as_far_as_a_stage_needs_it() {
        let (none, fed) = flags([false; 4]);
        assert_eq!(none, vec![(false, false); 4]);
        assert!(!fed, "no stage needs it: nothing is attached");
        let (second, fed) = flags([false, true, false, false]);
        assert_eq!(
            second,
            [(false, true), (true, false), (false, false), (false, false)]
        );
        assert!(fed);
        let (ends, fed) = flags([true, false, false, true]);
        assert_eq!(
            ends,
            [(true, true), (false, true), (false, true), (true, false)]
        );
        assert!(fed);
    }
}
