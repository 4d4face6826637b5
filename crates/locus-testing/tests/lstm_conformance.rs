//! The LSTM cell runs the module conformance suite (gradients with respect to the input,
//! the state and the parameters against finite differences), and its unroll through time
//! is checked against finite differences through a small wrapper module.

use locus_core::{
    seeded_rng, Cache, Error, Gradients, LstmCell, LstmConfig, LstmState, Module, Param, ParamMut,
    Result, Tensor,
};
use locus_testing::conformance::ModuleConformance;
use locus_testing::finite_diff::{check_module, FdOptions};
use ndarray::{concatenate, Array2, Array3, Axis, Slice};

fn cell(inputs: usize, hidden: usize) -> impl Fn(u64) -> Box<dyn Module<f64>> {
    move |seed| {
        Box::new(
            LstmConfig::new(inputs, hidden)
                .init::<f64>(&mut seeded_rng(seed))
                .unwrap(),
        )
    }
}

#[test]
fn lstm_cell_conforms() {
    for (batch, inputs, hidden) in [(1, 1, 1), (3, 2, 4), (5, 9, 3)] {
        for seed in [0, 7] {
            ModuleConformance::new(&[batch, inputs + 2 * hidden])
                .with_seed(seed)
                .run("lstm cell", cell(inputs, hidden))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn lstm_cell_conforms_with_large_weights() {
    // Saturated gates are where hand-derived LSTM gradients usually go wrong.
    let make = |seed| -> Box<dyn Module<f64>> {
        Box::new(
            LstmConfig::new(3, 4)
                .with_init(locus_core::init::Init::Normal(1.5))
                .with_forget_bias(2.0)
                .init::<f64>(&mut seeded_rng(seed))
                .unwrap(),
        )
    };
    ModuleConformance::new(&[4, 3 + 8])
        .with_seed(3)
        .run("saturated lstm cell", make)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The cell unrolled over `steps` steps as one module: input `[batch, steps·inputs +
/// 2·hidden]` (the inputs of every step, then `h_0 | c_0`), output `[batch, steps·hidden +
/// 2·hidden]` (`h` at every step, then the final `h | c`).
struct Unrolled {
    cell: LstmCell<f64>,
    steps: usize,
}

impl Unrolled {
    fn split(&self, input: &Tensor<f64>) -> Result<(Array3<f64>, LstmState<f64>)> {
        let (n, h) = (self.cell.inputs(), self.cell.hidden());
        let m = locus_core::as_matrix(input, Some(self.steps * n + 2 * h), "unrolled")?;
        let batch = m.nrows();
        let mut xs = Array3::zeros((self.steps, batch, n));
        for t in 0..self.steps {
            xs.index_axis_mut(Axis(0), t)
                .assign(&m.slice_axis(Axis(1), Slice::from(t * n..(t + 1) * n)));
        }
        let state = LstmState::from_tensor(
            &m.slice_axis(Axis(1), Slice::from(self.steps * n..))
                .to_owned()
                .into_dyn(),
            h,
        )?;
        Ok((xs, state))
    }
}

impl Module<f64> for Unrolled {
    fn name(&self) -> String {
        format!("Unrolled{}({})", self.steps, self.cell.name())
    }

    fn forward(&self, input: &Tensor<f64>) -> Result<(Tensor<f64>, Cache<f64>)> {
        let (xs, state) = self.split(input)?;
        let unroll = self.cell.unroll(xs.view(), &state)?;
        let mut columns: Vec<Array2<f64>> = unroll
            .hidden
            .axis_iter(Axis(0))
            .map(|h| h.to_owned())
            .collect();
        columns.push(unroll.final_state.h.clone());
        columns.push(unroll.final_state.c.clone());
        let views: Vec<_> = columns.iter().map(|c| c.view()).collect();
        let y = concatenate(Axis(1), &views).unwrap().into_dyn();
        Ok((y, Cache::from_tensors(vec![input.clone()])))
    }

    fn backward(
        &self,
        cache: &Cache<f64>,
        grad_output: &Tensor<f64>,
        need_input_grad: bool,
    ) -> Result<Gradients<f64>> {
        let input = cache.tensor(0, "unrolled")?;
        let (xs, state) = self.split(input)?;
        let unroll = self.cell.unroll(xs.view(), &state)?;
        let h = self.cell.hidden();
        let g = locus_core::as_matrix(grad_output, Some((self.steps + 2) * h), "unrolled")?;
        let batch = g.nrows();
        let mut grad_hidden = Array3::zeros((self.steps, batch, h));
        for t in 0..self.steps {
            grad_hidden
                .index_axis_mut(Axis(0), t)
                .assign(&g.slice_axis(Axis(1), Slice::from(t * h..(t + 1) * h)));
        }
        let grad_final = LstmState::from_tensor(
            &g.slice_axis(Axis(1), Slice::from(self.steps * h..))
                .to_owned()
                .into_dyn(),
            h,
        )?;
        let grads = self
            .cell
            .unroll_backward(&unroll, grad_hidden.view(), &grad_final)?;
        let input = need_input_grad.then(|| {
            let mut columns: Vec<Array2<f64>> = grads
                .inputs
                .axis_iter(Axis(0))
                .map(|x| x.to_owned())
                .collect();
            columns.push(grads.initial_state.h.clone());
            columns.push(grads.initial_state.c.clone());
            let views: Vec<_> = columns.iter().map(|c| c.view()).collect();
            concatenate(Axis(1), &views).unwrap().into_dyn()
        });
        Ok(Gradients {
            input,
            params: grads.params,
        })
    }

    fn params(&self) -> Vec<Param<'_, f64>> {
        self.cell.params()
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, f64>> {
        self.cell.params_mut()
    }
}

#[test]
fn the_unroll_matches_finite_differences_through_time() {
    for (steps, inputs, hidden, seed) in [(1, 2, 3, 0), (4, 3, 2, 1), (6, 2, 5, 2)] {
        let mut unrolled = Unrolled {
            cell: LstmConfig::new(inputs, hidden)
                .with_init(locus_core::init::Init::Normal(0.8))
                .init::<f64>(&mut seeded_rng(seed))
                .unwrap(),
            steps,
        };
        let width = steps * inputs + 2 * hidden;
        let x = Tensor::from_shape_fn(vec![3, width], |i| {
            ((i[0] * 31 + i[1] * 17 + seed as usize) % 13) as f64 / 6.5 - 1.0
        });
        let report = check_module(&mut unrolled, &x, &FdOptions::default().with_max_coords(64))
            .unwrap_or_else(|e| panic!("{steps} steps: {e}"));
        assert_eq!(report.tensors, ["input", "weight", "bias"]);
    }
}

#[test]
fn forget_bias_and_state_layout() {
    let cell: LstmCell<f64> = LstmConfig::new(2, 3)
        .with_forget_bias(1.0)
        .init(&mut seeded_rng(0))
        .unwrap();
    let bias = cell.params()[1].value.clone();
    let bias: Vec<f64> = bias.iter().copied().collect();
    assert_eq!(&bias[..3], &[0.0; 3], "input gate bias starts at 0");
    assert_eq!(
        &bias[3..6],
        &[1.0; 3],
        "forget gate bias starts at forget_bias"
    );
    assert_eq!(
        &bias[6..],
        &[0.0; 6],
        "cell and output gate biases start at 0"
    );
    // A zero state and input give c = i·g = σ(0)·tanh(0) = 0 and so h = 0.
    let (next, _) = cell
        .step(Array2::zeros((2, 2)).view(), &LstmState::zeros(2, 3))
        .unwrap();
    assert!(next.h.iter().chain(next.c.iter()).all(|&v| v == 0.0));
    let state = LstmState {
        h: Array2::from_elem((2, 3), 0.5),
        c: Array2::from_elem((2, 3), -0.25),
    };
    assert_eq!(
        LstmState::from_tensor(&state.to_tensor(), 3).unwrap(),
        state
    );
}

#[test]
fn bad_lstm_inputs_are_errors() {
    let e = LstmConfig::new(0, 3).check().unwrap_err();
    assert!(e.to_string().contains("LSTM input width"), "{e}");
    let e = LstmConfig::new(3, 0).check().unwrap_err();
    assert!(e.to_string().contains("LSTM hidden width"), "{e}");
    let e = LstmConfig::new(3, 2)
        .with_forget_bias(f64::NAN)
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("forget-gate bias"), "{e}");
    let cell: LstmCell<f64> = LstmConfig::new(2, 3).init(&mut seeded_rng(0)).unwrap();
    let e = cell
        .step(Array2::zeros((2, 5)).view(), &LstmState::zeros(2, 3))
        .unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. }) && e.to_string().contains("x"),
        "{e}"
    );
    let e = cell
        .step(Array2::zeros((2, 2)).view(), &LstmState::zeros(3, 3))
        .unwrap_err();
    assert!(e.to_string().contains("state h"), "{e}");
    let e = cell
        .unroll(Array3::zeros((0, 2, 2)).view(), &LstmState::zeros(2, 3))
        .unwrap_err();
    assert!(e.to_string().contains("time >= 1"), "{e}");
    let unroll = cell
        .unroll(Array3::zeros((2, 2, 2)).view(), &LstmState::zeros(2, 3))
        .unwrap();
    let e = cell
        .unroll_backward(
            &unroll,
            Array3::zeros((3, 2, 3)).view(),
            &LstmState::zeros(2, 3),
        )
        .unwrap_err();
    assert!(e.to_string().contains("grad_hidden"), "{e}");
    let e = cell
        .unroll_backward(
            &unroll,
            Array3::zeros((2, 2, 3)).view(),
            &LstmState::zeros(2, 4),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}
