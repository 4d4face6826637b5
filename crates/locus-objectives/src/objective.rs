use locus_core::{Float, Module, Result, StateDict, Tensor};

/// Everything a stage can see when it computes its learning signal.
#[derive(Debug, Clone, Copy)]
pub struct StageContext<'a, F: Float> {
    /// The batch the stage received from below (or the data, for the first stage).
    pub input: &'a Tensor<F>,
    /// The stage's output for that batch.
    pub output: &'a Tensor<F>,
    /// Class labels of the batch, when the data has them.
    pub labels: Option<&'a [usize]>,
    /// An error broadcast from the top of the network (direct feedback alignment).
    pub global_error: Option<&'a Tensor<F>>,
    /// The gradient message from the stage above, with respect to this stage's output.
    pub message: Option<&'a Tensor<F>>,
    /// The network's input batch: the data the first stage received for this batch, one
    /// row per row of `output`. Schedulers set it only for objectives that
    /// [need it](LocalObjective::needs_network_input).
    pub network_input: Option<&'a Tensor<F>>,
    /// How many batches this stage has trained on before this one.
    pub step: u64,
}

impl<'a, F: Float> StageContext<'a, F> {
    /// A context with only an input and an output; set the other fields as needed.
    pub fn new(input: &'a Tensor<F>, output: &'a Tensor<F>) -> Self {
        StageContext {
            input,
            output,
            labels: None,
            global_error: None,
            message: None,
            network_input: None,
            step: 0,
        }
    }

    /// Adds labels.
    pub fn with_labels(mut self, labels: &'a [usize]) -> Self {
        self.labels = Some(labels);
        self
    }

    /// Adds the gradient message from above.
    pub fn with_message(mut self, message: &'a Tensor<F>) -> Self {
        self.message = Some(message);
        self
    }

    /// Adds a global error broadcast.
    pub fn with_global_error(mut self, error: &'a Tensor<F>) -> Self {
        self.global_error = Some(error);
        self
    }

    /// Adds the network's input batch (the data the first stage received).
    pub fn with_network_input(mut self, network_input: &'a Tensor<F>) -> Self {
        self.network_input = Some(network_input);
        self
    }

    /// The network's input batch, for an objective that
    /// [needs it](LocalObjective::needs_network_input); `objective` names the objective in
    /// the error.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](locus_core::Error::InvalidParameter) when the context
    /// has none; [`Error::Shape`](locus_core::Error::Shape) when its batch (first axis)
    /// differs from the output's.
    pub fn required_network_input(&self, objective: &str) -> Result<&'a Tensor<F>> {
        let x = self.network_input.ok_or_else(|| {
            locus_core::Error::invalid(
                &format!("stage context for objective '{objective}'"),
                "should carry the network input (the data the first stage received)",
                "a context without it",
            )
        })?;
        let rows = |t: &Tensor<F>| t.shape().first().copied();
        if rows(x) != rows(self.output) {
            return Err(locus_core::Error::shape(
                format!("network input of objective '{objective}'"),
                format!(
                    "one row per row of the stage output ({:?} rows)",
                    rows(self.output).unwrap_or(0)
                ),
                x.shape(),
            ));
        }
        Ok(x)
    }

    /// Sets the step counter.
    pub fn with_step(mut self, step: u64) -> Self {
        self.step = step;
        self
    }
}

/// What an objective returns: a loss and its gradient with respect to the stage output.
#[derive(Debug, Clone)]
pub struct LocalSignal<F> {
    /// The stage's local loss for the batch (mean over the batch).
    pub loss: F,
    /// `∂loss / ∂output`, the shape of the stage output.
    pub grad_output: Tensor<F>,
}

/// Whether an objective may update its own auxiliary parameters while it computes a
/// signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: auxiliary parameters (heads, decoders, predictors) learn from this batch.
    Learn,
    /// Evaluation and gradient checks: the objective must not change at all.
    Evaluate,
}

/// A learning signal a stage can compute locally.
///
/// A new local-learning rule is one impl of this trait: `name` and `signal` are required,
/// the rest have defaults. In [`Mode::Evaluate`] the call must be pure (same context, same
/// result, no state change); in [`Mode::Learn`] it may also update the objective's own
/// auxiliary parameters. Whenever `grad_output` is the true gradient of `loss` (the usual
/// case), the conformance suite in `locus-testing` checks it against finite differences.
pub trait LocalObjective<F: Float>: Send {
    /// A short description, e.g. `"softmax-cross-entropy"`.
    fn name(&self) -> String;

    /// The loss of this batch and its gradient with respect to `ctx.output`.
    ///
    /// # Errors
    /// Shape errors when the output or labels do not fit, a clear error when a required
    /// context field (labels, message) is missing.
    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>>;

    /// Whether the signal needs the gradient message from the stage above. Schedulers run
    /// such stages top-down after the stage above has finished, and must pass the message
    /// in [`Mode::Learn`], where such an objective refuses a context without one. In
    /// [`Mode::Evaluate`] an objective may still compute a signal without it: a
    /// [`SyntheticGradient`](crate::SyntheticGradient) needs the message only as the
    /// training target of its gradient model, not to predict (update unlocking), while
    /// [`UpstreamGradient`](crate::UpstreamGradient) is backward-locked and refuses.
    fn needs_message(&self) -> bool {
        false
    }

    /// Whether the signal needs class labels.
    fn needs_labels(&self) -> bool {
        false
    }

    /// Whether `grad_output` is the exact gradient of `loss` (so finite differences must
    /// agree with it). Rules whose signal is not a gradient, such as feedback alignment,
    /// return false.
    fn is_exact_gradient(&self) -> bool {
        true
    }

    /// Named scalar diagnostics (alignment angles, auxiliary losses) for reports.
    fn metrics(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Whether the signal needs the global error broadcast from the top stage
    /// ([`StageContext::global_error`]), as direct feedback alignment does. Lockstep offers
    /// the global error to every stage; asynchronous schedulers (`locus_sched::Pipelined`,
    /// `locus_sched::Simulated`) send it only to the stages that declare they need it, and
    /// make those stages wait for it. Default: false.
    fn needs_global_error(&self) -> bool {
        false
    }

    /// Whether the signal needs the network's input batch
    /// ([`StageContext::network_input`]: the data the first stage received), as the HSIC
    /// bottleneck does to measure how much a stage's output still depends on the input.
    /// Every scheduler supplies it to the stages that declare they need it, and only to
    /// them: an asynchronous one (`locus_sched::Pipelined`, `locus_sched::Simulated`)
    /// carries it up with the activations only when some stage above needs it, and a
    /// greedy one whose stage inputs come from a cache gathers the original samples again.
    /// An objective that declares it refuses a context without it in both modes. Default:
    /// false.
    fn needs_network_input(&self) -> bool {
        false
    }

    /// Whether the objective is *update-unlocked* (Jaderberg et al. 2016, "Decoupled Neural Interfaces using
    /// Synthetic Gradients", whose introduction names forward, update and backward locking): it
    /// needs the gradient message from above only to train its own auxiliary parameters,
    /// not to give a signal. An asynchronous scheduler then lets the stage learn as soon as
    /// its forward pass is done, from [`LocalObjective::signal`] in [`Mode::Evaluate`]
    /// with no message (the objective's prediction), and hands it the message later, when
    /// it arrives, through [`LocalObjective::learn_from_late_message`]. Only meaningful
    /// when [`LocalObjective::needs_message`] is true. Default: false (a stage that needs
    /// a message waits for it: backward-locked).
    fn is_update_unlocked(&self) -> bool {
        false
    }

    /// Whether the stage should leave its parameters *and its optimizer's state*
    /// untouched after learning from the batch at its `step` (the objective still learns
    /// its own parameters, e.g. a synthetic-gradient warm-up). A zero signal alone would
    /// not do: Adam would still count the step, and its bias correction would then make
    /// the first real steps several times larger than the learning rate. Default: false.
    fn holds_update(&self, step: u64) -> bool {
        let _ = step;
        false
    }

    /// Learns from a gradient message that arrived after the stage already learned from
    /// this batch with the objective's prediction (update unlocking, see
    /// [`LocalObjective::is_update_unlocked`]). `ctx` is the context of that earlier
    /// step — the batch's input, the output the stage computed then, its labels and the
    /// stage's step at the time — now with the message set. Only the objective's own
    /// auxiliary parameters change (a synthetic-gradient model regresses onto the
    /// message); returns the auxiliary loss of the batch.
    ///
    /// # Errors
    /// The default, for objectives that are not update-unlocked, always fails with
    /// [`Error::InvalidParameter`](locus_core::Error::InvalidParameter) naming the
    /// objective; implementations fail as [`LocalObjective::signal`] does for a bad or
    /// missing message.
    fn learn_from_late_message(&mut self, ctx: &StageContext<'_, F>) -> Result<F> {
        let _ = ctx;
        Err(locus_core::Error::invalid(
            &format!("late gradient message for objective '{}'", self.name()),
            "is only accepted by update-unlocked objectives (is_update_unlocked() == true)",
            "a message for an objective that is not",
        ))
    }

    /// Class scores `[batch, classes]` that the objective's own classifier (an auxiliary
    /// head, as in [`LocalClassifier`](crate::LocalClassifier)) gives a stage output, so
    /// that every stage's accuracy can be measured. `None` (the default) when the
    /// objective has no classifier; `Some(Err(..))` when it has one that cannot score
    /// this output (wrong width, not built yet).
    fn class_scores(&self, _output: &Tensor<F>) -> Option<Result<Tensor<F>>> {
        None
    }

    /// Shows the objective the stage's module before a [`Mode::Learn`] signal, for
    /// objectives whose auxiliary parameters are *tied* to the module's (a decoder that is
    /// the encoder's `Wᵀ`, [`Reconstruction`](crate::Reconstruction) with
    /// [`Decoder::Tied`](crate::Decoder::Tied)). `Stage::learn` calls it before every
    /// signal; the default ignores the module.
    ///
    /// # Errors
    /// When the module does not have the parameters the objective is tied to.
    fn attach_module(&mut self, _module: &dyn Module<F>) -> Result<()> {
        Ok(())
    }

    /// Gradients of the last [`Mode::Learn`] loss with respect to the attached module's
    /// parameters along paths that do **not** pass through the stage output (the decoder
    /// side of tied weights), in the order of `Module::params`, to be added to what the
    /// module's backward pass computes from `grad_output`. Taking them clears them. The
    /// default has none.
    fn take_module_gradients(&mut self) -> Option<Vec<Tensor<F>>> {
        None
    }

    /// Whether the message this stage passes down (the stage below's message, when it
    /// needs one) is the gradient of the message it *received* backpropagated through the
    /// module, as backpropagation would pass it, rather than the gradient of its own
    /// signal. The default, false, passes down the signal's gradient: for a synthetic
    /// gradient, the bootstrapped target of the stage below (Jaderberg et al. 2016,
    /// Sec. 2). True gives the stages below true-gradient targets; the stage then has to
    /// wait for its message before the stage below can learn, which the lockstep
    /// schedulers do and the pipelined one refuses.
    fn passes_message_down(&self) -> bool {
        false
    }

    /// Writes the objective's own learned state under `prefix` (auxiliary models and
    /// their optimizers, running statistics), so that a run resumed from a checkpoint
    /// goes on exactly where it stopped. Auxiliary models built lazily on the first batch
    /// are written only once built. Objectives whose randomness comes from their seed and
    /// the stage's step count keep no random stream. The default, for objectives without
    /// state, writes nothing.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        let _ = (prefix, state);
    }

    /// Reads what [`LocalObjective::save_state`] wrote under `prefix`, taking the entries
    /// out of `state`, building lazily built models from the saved shapes. The default
    /// reads nothing.
    ///
    /// # Errors
    /// A missing, mis-shaped or non-finite entry, named.
    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let _ = (prefix, state);
        Ok(())
    }
}

impl<F: Float> LocalObjective<F> for Box<dyn LocalObjective<F>> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        (**self).signal(ctx, mode)
    }
    fn needs_message(&self) -> bool {
        (**self).needs_message()
    }
    fn needs_labels(&self) -> bool {
        (**self).needs_labels()
    }
    fn is_exact_gradient(&self) -> bool {
        (**self).is_exact_gradient()
    }
    fn metrics(&self) -> Vec<(String, f64)> {
        (**self).metrics()
    }
    fn needs_global_error(&self) -> bool {
        (**self).needs_global_error()
    }
    fn needs_network_input(&self) -> bool {
        (**self).needs_network_input()
    }
    fn is_update_unlocked(&self) -> bool {
        (**self).is_update_unlocked()
    }
    fn holds_update(&self, step: u64) -> bool {
        (**self).holds_update(step)
    }
    fn learn_from_late_message(&mut self, ctx: &StageContext<'_, F>) -> Result<F> {
        (**self).learn_from_late_message(ctx)
    }
    fn class_scores(&self, output: &Tensor<F>) -> Option<Result<Tensor<F>>> {
        (**self).class_scores(output)
    }
    fn attach_module(&mut self, module: &dyn Module<F>) -> Result<()> {
        (**self).attach_module(module)
    }
    fn take_module_gradients(&mut self) -> Option<Vec<Tensor<F>>> {
        (**self).take_module_gradients()
    }
    fn passes_message_down(&self) -> bool {
        (**self).passes_message_down()
    }
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        (**self).save_state(prefix, state)
    }
    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        (**self).load_state(prefix, state)
    }
}
