//! One step of a long short-term memory cell with an explicit backward pass.

use ndarray::{concatenate, Array2, ArrayView2, Axis, Ix1, Ix2, Slice};
use serde::{Deserialize, Serialize};

use super::params::{weight_and_bias, weight_and_bias_mut};
use crate::init::Init;
use crate::{
    as_matrix, matmul, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, SeededRng,
    StateDict, Tensor,
};

/// Configuration of an [`LstmCell`], checked before any weight is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LstmConfig {
    /// Width of the input `x` at each step (>= 1).
    pub inputs: usize,
    /// Width of the hidden state `h` and of the cell state `c` (>= 1).
    pub hidden: usize,
    /// Initialisation of the weights, with `fan_in = hidden` (default: uniform on
    /// `±1/sqrt(hidden)`, PyTorch's `nn.LSTM` default, [`Init::TorchDefault`]).
    pub init: Init,
    /// Initial value of the forget gate's bias (default 1.0).
    ///
    /// Gers, Schmidhuber & Cummins (2000, "Learning to forget") start the forget gate
    /// open, and Jozefowicz, Zaremba & Sutskever (2015, "An empirical exploration of
    /// recurrent network architectures", sect. 2.2) found a bias of 1 closes most of the gap
    /// between the LSTM and its best variants: with `f = σ(1) ≈ 0.73` the cell keeps most
    /// of its state at first, so gradients flow over many steps from the start. The other
    /// gates' biases start at 0.
    pub forget_bias: f64,
}

impl LstmConfig {
    /// A cell from `inputs` to `hidden` units with PyTorch's weight initialisation and a
    /// forget-gate bias of 1.
    pub fn new(inputs: usize, hidden: usize) -> Self {
        LstmConfig {
            inputs,
            hidden,
            init: Init::TorchDefault,
            forget_bias: 1.0,
        }
    }

    /// Sets the weight initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the forget gate's initial bias.
    pub fn with_forget_bias(mut self, forget_bias: f64) -> Self {
        self.forget_bias = forget_bias;
        self
    }

    /// Checks the widths, the initialisation and the forget bias.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero width, a bad initialisation scale or a
    /// non-finite forget bias.
    pub fn check(&self) -> Result<()> {
        if self.inputs == 0 {
            return Err(Error::invalid("LSTM input width", "should be >= 1", 0));
        }
        if self.hidden == 0 {
            return Err(Error::invalid("LSTM hidden width", "should be >= 1", 0));
        }
        if !self.forget_bias.is_finite() {
            return Err(Error::invalid(
                "LSTM forget-gate bias",
                "should be finite",
                self.forget_bias,
            ));
        }
        self.init.check()
    }

    /// Draws the weights and builds the cell.
    ///
    /// # Errors
    /// As [`LstmConfig::check`].
    pub fn init<F: Float>(&self, rng: &mut SeededRng) -> Result<LstmCell<F>> {
        self.check()?;
        let h = self.hidden;
        let weight = self
            .init
            .sample::<F>(&[self.inputs + h, 4 * h], h, 4 * h, rng)?;
        let mut bias = Tensor::zeros(vec![4 * h]);
        bias.slice_axis_mut(Axis(0), Slice::from(h..2 * h))
            .fill(F::cast(self.forget_bias));
        Ok(LstmCell {
            inputs: self.inputs,
            hidden: h,
            weight,
            bias,
        })
    }
}

/// The state an LSTM carries from one step to the next: the hidden state `h` (the cell's
/// output) and the cell state `c`, both `[batch, hidden]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmState<F> {
    /// Hidden state `h`, `[batch, hidden]`.
    pub h: Array2<F>,
    /// Cell state `c`, `[batch, hidden]`.
    pub c: Array2<F>,
}

impl<F: Float> LstmState<F> {
    /// The all-zero state of a batch, where every sequence starts.
    pub fn zeros(batch: usize, hidden: usize) -> Self {
        LstmState {
            h: Array2::zeros((batch, hidden)),
            c: Array2::zeros((batch, hidden)),
        }
    }

    /// `[h | c]` as one `[batch, 2·hidden]` tensor (the layout of [`LstmCell`]'s
    /// [`Module`] output).
    pub fn to_tensor(&self) -> Tensor<F> {
        concatenate(Axis(1), &[self.h.view(), self.c.view()])
            .expect("h and c have the same number of rows")
            .into_dyn()
    }

    /// Splits a `[batch, 2·hidden]` tensor `[h | c]` back into a state.
    ///
    /// # Errors
    /// [`Error::Shape`] when the tensor is not `[batch, 2·hidden]`.
    pub fn from_tensor(tensor: &Tensor<F>, hidden: usize) -> Result<Self> {
        let m = as_matrix(tensor, Some(2 * hidden), "LSTM state [h | c]")?;
        Ok(LstmState {
            h: m.slice_axis(Axis(1), Slice::from(..hidden)).to_owned(),
            c: m.slice_axis(Axis(1), Slice::from(hidden..)).to_owned(),
        })
    }

    /// Number of rows (sequences in the batch).
    pub fn batch(&self) -> usize {
        self.h.nrows()
    }
}

/// What [`LstmCell::step`] keeps for [`LstmCell::step_backward`]: the step's
/// concatenated input `[x | h_prev]`, the previous cell state, the gate activations
/// `[i | f | g | o]` and `tanh(c)`.
#[derive(Debug, Clone)]
pub struct LstmStepCache<F> {
    xh: Array2<F>,
    c_prev: Array2<F>,
    gates: Array2<F>,
    tanh_c: Array2<F>,
}

impl<F: Float> LstmStepCache<F> {
    /// Bytes of activations held: what one step in flight costs.
    pub fn bytes(&self) -> usize {
        (self.xh.len() + self.c_prev.len() + self.gates.len() + self.tanh_c.len())
            * std::mem::size_of::<F>()
    }
}

/// The gradients of one step: with respect to the input `x`, the previous state and the
/// parameters (`[weight, bias]`, as [`Module::params`] lists them).
#[derive(Debug, Clone)]
pub struct LstmStepGradients<F> {
    /// `∂L/∂x`, `[batch, inputs]`.
    pub input: Array2<F>,
    /// `∂L/∂h_prev` and `∂L/∂c_prev`.
    pub state: LstmState<F>,
    /// `∂L/∂W` (`[inputs + hidden, 4·hidden]`) and `∂L/∂b` (`[4·hidden]`).
    pub params: Vec<Tensor<F>>,
}

/// A long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget gate of
/// Gers et al. 2000), one time step, in the formulation of Graves (2013, "Generating
/// sequences with recurrent neural networks", eqs. 7–11) without peephole connections:
///
/// ```text
/// z = [x | h_prev] W + b            (W: [inputs + hidden, 4·hidden], gate blocks i f g o)
/// i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
/// c = f ⊙ c_prev + i ⊙ g
/// h = o ⊙ tanh(c)
/// ```
///
/// The forget gate's bias starts at [`LstmConfig::forget_bias`] (1 by default).
///
/// Two ways to use it:
/// - [`LstmCell::step`] / [`LstmCell::step_backward`] take the state as an
///   [`LstmState`], for unrolling over time (see [`LstmCell::unroll`]);
/// - as a [`Module`], one step on the concatenation `[x | h_prev | c_prev]`
///   (`[batch, inputs + 2·hidden]`) to `[h | c]` (`[batch, 2·hidden]`), so the
///   conformance suite checks the gradients with respect to the input, the state and the
///   parameters against finite differences.
///
/// The backward pass is the exact gradient (derived by hand from the equations above):
/// with `δc = ∂L/∂c + ∂L/∂h ⊙ o ⊙ (1 − tanh²c)`,
/// `δz_i = δc ⊙ g ⊙ i(1−i)`, `δz_f = δc ⊙ c_prev ⊙ f(1−f)`, `δz_g = δc ⊙ i ⊙ (1−g²)`,
/// `δz_o = ∂L/∂h ⊙ tanh c ⊙ o(1−o)`; then `∂L/∂W = [x | h_prev]ᵀ δz`, `∂L/∂b = Σ δz`,
/// `[∂L/∂x | ∂L/∂h_prev] = δz Wᵀ` and `∂L/∂c_prev = δc ⊙ f`.
///
/// # Shapes
/// step: `x` `[batch, inputs]`, state `[batch, hidden]` each; module: `[batch, inputs +
/// 2·hidden]` → `[batch, 2·hidden]`; weight `[inputs + hidden, 4·hidden]`, bias
/// `[4·hidden]`.
///
/// # Errors
/// [`Error::Shape`] for an input or state of the wrong width or batch.
#[derive(Debug, Clone)]
pub struct LstmCell<F> {
    inputs: usize,
    hidden: usize,
    weight: Tensor<F>,
    bias: Tensor<F>,
}

fn sigmoid<F: Float>(x: F) -> F {
    F::one() / (F::one() + (-x).exp())
}

impl<F: Float> LstmCell<F> {
    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Hidden (and cell) state width.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    fn weight(&self) -> ArrayView2<'_, F> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("LSTM weight is 2-D by construction")
    }

    fn check_state(&self, state: &LstmState<F>, batch: usize, context: &str) -> Result<()> {
        for (name, m) in [("h", &state.h), ("c", &state.c)] {
            if m.dim() != (batch, self.hidden) {
                return Err(Error::shape(
                    format!("{context} state {name}"),
                    format!("[{batch}, {}]", self.hidden),
                    m.shape(),
                ));
            }
        }
        Ok(())
    }

    /// One step forward from `state` on the input `x`; returns the new state and the cache
    /// [`LstmCell::step_backward`] needs.
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` is not `[batch, inputs]` or the state not `[batch,
    /// hidden]`.
    pub fn step(
        &self,
        x: ArrayView2<'_, F>,
        state: &LstmState<F>,
    ) -> Result<(LstmState<F>, LstmStepCache<F>)> {
        let context = self.name();
        if x.ncols() != self.inputs {
            return Err(Error::shape(
                format!("{context} step input x"),
                format!("[batch, {}]", self.inputs),
                x.shape(),
            ));
        }
        self.check_state(state, x.nrows(), &context)?;
        let h = self.hidden;
        let xh = concatenate(Axis(1), &[x.view(), state.h.view()]).expect("same number of rows");
        let bias = self
            .bias
            .view()
            .into_dimensionality::<Ix1>()
            .expect("LSTM bias is 1-D by construction");
        let mut gates = matmul(&xh.view(), &self.weight());
        gates += &bias;
        gates
            .slice_axis_mut(Axis(1), Slice::from(..2 * h))
            .mapv_inplace(sigmoid);
        gates
            .slice_axis_mut(Axis(1), Slice::from(2 * h..3 * h))
            .mapv_inplace(F::tanh);
        gates
            .slice_axis_mut(Axis(1), Slice::from(3 * h..))
            .mapv_inplace(sigmoid);
        let (i, f, g, o) = (
            gates.slice_axis(Axis(1), Slice::from(..h)),
            gates.slice_axis(Axis(1), Slice::from(h..2 * h)),
            gates.slice_axis(Axis(1), Slice::from(2 * h..3 * h)),
            gates.slice_axis(Axis(1), Slice::from(3 * h..)),
        );
        let c = &f * &state.c + &i * &g;
        let tanh_c = c.mapv(F::tanh);
        let h_new = &o * &tanh_c;
        let cache = LstmStepCache {
            xh,
            c_prev: state.c.clone(),
            gates,
            tanh_c,
        };
        Ok((LstmState { h: h_new, c }, cache))
    }

    /// One step backward: from the gradients with respect to the step's new state
    /// (`grad.h = ∂L/∂h`, `grad.c = ∂L/∂c`), the gradients with respect to its input, its
    /// previous state and the parameters.
    ///
    /// # Errors
    /// [`Error::Shape`] when `grad` does not match the step's batch and hidden width.
    pub fn step_backward(
        &self,
        cache: &LstmStepCache<F>,
        grad: &LstmState<F>,
    ) -> Result<LstmStepGradients<F>> {
        let context = format!("{} backward", self.name());
        let batch = cache.xh.nrows();
        if cache.xh.ncols() != self.inputs + self.hidden || cache.gates.ncols() != 4 * self.hidden {
            return Err(Error::Cache {
                context,
                reason: "the step cache was made by a cell of other widths".into(),
            });
        }
        self.check_state(grad, batch, &context)?;
        let h = self.hidden;
        let gates = &cache.gates;
        let (i, f, g, o) = (
            gates.slice_axis(Axis(1), Slice::from(..h)),
            gates.slice_axis(Axis(1), Slice::from(h..2 * h)),
            gates.slice_axis(Axis(1), Slice::from(2 * h..3 * h)),
            gates.slice_axis(Axis(1), Slice::from(3 * h..)),
        );
        let one = F::one();
        // δc = ∂L/∂c + ∂L/∂h ⊙ o ⊙ (1 − tanh² c)
        let mut dc = grad.c.clone();
        ndarray::Zip::from(&mut dc)
            .and(&grad.h)
            .and(&o)
            .and(&cache.tanh_c)
            .for_each(|dc, &dh, &o, &t| *dc += dh * o * (one - t * t));
        let mut dz = Array2::<F>::zeros((batch, 4 * h));
        ndarray::Zip::from(dz.slice_axis_mut(Axis(1), Slice::from(..h)))
            .and(&dc)
            .and(&g)
            .and(&i)
            .for_each(|d, &dc, &g, &i| *d = dc * g * i * (one - i));
        ndarray::Zip::from(dz.slice_axis_mut(Axis(1), Slice::from(h..2 * h)))
            .and(&dc)
            .and(&cache.c_prev)
            .and(&f)
            .for_each(|d, &dc, &cp, &f| *d = dc * cp * f * (one - f));
        ndarray::Zip::from(dz.slice_axis_mut(Axis(1), Slice::from(2 * h..3 * h)))
            .and(&dc)
            .and(&i)
            .and(&g)
            .for_each(|d, &dc, &i, &g| *d = dc * i * (one - g * g));
        ndarray::Zip::from(dz.slice_axis_mut(Axis(1), Slice::from(3 * h..)))
            .and(&grad.h)
            .and(&cache.tanh_c)
            .and(&o)
            .for_each(|d, &dh, &t, &o| *d = dh * t * o * (one - o));
        let grad_w = matmul(&cache.xh.t(), &dz.view());
        let grad_b = dz.sum_axis(Axis(0));
        let dxh = matmul(&dz.view(), &self.weight().t());
        let dc_prev = &dc * &f;
        Ok(LstmStepGradients {
            input: dxh
                .slice_axis(Axis(1), Slice::from(..self.inputs))
                .to_owned(),
            state: LstmState {
                h: dxh
                    .slice_axis(Axis(1), Slice::from(self.inputs..))
                    .to_owned(),
                c: dc_prev,
            },
            params: vec![grad_w.into_dyn(), grad_b.into_dyn()],
        })
    }

    /// Splits a module input `[x | h | c]` into `x` and the state.
    fn split_input(&self, input: &Tensor<F>) -> Result<(Array2<F>, LstmState<F>)> {
        let n = self.inputs;
        let m = as_matrix(input, Some(n + 2 * self.hidden), &self.name())?;
        Ok((
            m.slice_axis(Axis(1), Slice::from(..n)).to_owned(),
            LstmState {
                h: m.slice_axis(Axis(1), Slice::from(n..n + self.hidden))
                    .to_owned(),
                c: m.slice_axis(Axis(1), Slice::from(n + self.hidden..))
                    .to_owned(),
            },
        ))
    }
}

impl<F: Float> Module<F> for LstmCell<F> {
    fn name(&self) -> String {
        format!("LstmCell({}→{})", self.inputs, self.hidden)
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let (x, state) = self.split_input(input)?;
        let (next, cache) = self.step(x.view(), &state)?;
        let tensors = vec![
            cache.xh.into_dyn(),
            cache.c_prev.into_dyn(),
            cache.gates.into_dyn(),
            cache.tanh_c.into_dyn(),
        ];
        Ok((next.to_tensor(), Cache::from_tensors(tensors)))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let matrix = |k: usize, cols: usize| -> Result<Array2<F>> {
            Ok(as_matrix(cache.tensor(k, &context)?, Some(cols), &context)?.to_owned())
        };
        let step_cache = LstmStepCache {
            xh: matrix(0, self.inputs + self.hidden)?,
            c_prev: matrix(1, self.hidden)?,
            gates: matrix(2, 4 * self.hidden)?,
            tanh_c: matrix(3, self.hidden)?,
        };
        let grad = LstmState::from_tensor(grad_output, self.hidden)?;
        let grads = self.step_backward(&step_cache, &grad)?;
        let input = need_input_grad.then(|| {
            concatenate(
                Axis(1),
                &[
                    grads.input.view(),
                    grads.state.h.view(),
                    grads.state.c.view(),
                ],
            )
            .expect("same number of rows")
            .into_dyn()
        });
        Ok(Gradients {
            input,
            params: grads.params,
        })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        weight_and_bias(&self.weight, Some(&self.bias))
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        weight_and_bias_mut(&mut self.weight, Some(&mut self.bias))
    }

    /// PyTorch's `nn.LSTMCell` parameters, whose gate order (i, f, g, o) is this cell's:
    /// `weight_ih` `[4·hidden, inputs]` and `weight_hh` `[4·hidden, hidden]` (the two
    /// blocks of `W`, transposed), `bias_ih` (the bias) and `bias_hh` (zeros: PyTorch
    /// adds the two biases, this cell has one).
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        let w = self.weight();
        let (ih, hh) = w.split_at(Axis(0), self.inputs);
        state.put_tensor(
            format!("{prefix}weight_ih"),
            ih.t().as_standard_layout().into_owned().into_dyn(),
        );
        state.put_tensor(
            format!("{prefix}weight_hh"),
            hh.t().as_standard_layout().into_owned().into_dyn(),
        );
        state.put_tensor(format!("{prefix}bias_ih"), self.bias.clone());
        state.put_tensor(
            format!("{prefix}bias_hh"),
            Tensor::zeros(self.bias.shape().to_vec()),
        );
    }

    /// Reads `nn.LSTMCell`'s four tensors (see [`LstmCell::save_state`](Module::save_state)):
    /// `W` from the transposed blocks, the bias as `bias_ih + bias_hh`.
    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let gates = 4 * self.hidden;
        let ih = state.take_tensor(&format!("{prefix}weight_ih"), Some(&[gates, self.inputs]))?;
        let hh = state.take_tensor(&format!("{prefix}weight_hh"), Some(&[gates, self.hidden]))?;
        let b_ih = state.take_tensor(&format!("{prefix}bias_ih"), Some(&[gates]))?;
        let b_hh = state.take_tensor(&format!("{prefix}bias_hh"), Some(&[gates]))?;
        let rows = |t: &Tensor<F>| t.t().as_standard_layout().into_owned();
        self.weight = concatenate(Axis(0), &[rows(&ih).view(), rows(&hh).view()])
            .expect("the blocks share their gate width, checked above");
        self.bias = &b_ih + &b_hh;
        Ok(())
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;
    use crate::seeded_rng;

    /// The cell's state is PyTorch's `nn.LSTMCell` layout and comes back bit for bit.
    #[test]
    fn the_state_is_pytorchs_lstm_cell_and_loads_back_exactly() {
        let cell: LstmCell<f64> = LstmConfig::new(3, 5).init(&mut seeded_rng(1)).unwrap();
        let mut state = StateDict::new();
        cell.save_state("cell.", &mut state);
        let shape = |n: &str| match state.get(n) {
            Some(crate::StateValue::Tensor(t)) => t.shape().to_vec(),
            _ => panic!("{n} missing"),
        };
        assert_eq!(shape("cell.weight_ih"), [20, 3]);
        assert_eq!(shape("cell.weight_hh"), [20, 5]);
        assert_eq!(shape("cell.bias_ih"), [20]);
        // PyTorch's weight_ih row k is this cell's column k of the input block.
        let Some(crate::StateValue::Tensor(ih)) = state.get("cell.weight_ih") else {
            unreachable!()
        };
        assert_eq!(ih[[7, 2]], cell.weight()[[2, 7]]);
        let mut other: LstmCell<f64> = LstmConfig::new(3, 5).init(&mut seeded_rng(2)).unwrap();
        other.load_state("cell.", &mut state).unwrap();
        state.finish().unwrap();
        assert_eq!(other.weight, cell.weight);
        assert_eq!(other.bias, cell.bias);
    }
}
