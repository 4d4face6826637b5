use ndarray::{Array2, Ix2};
use serde::{Deserialize, Serialize};

use crate::init::Init;
use crate::{
    as_matrix, matmul, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, SeededRng,
    Tensor,
};

/// Configuration of a [`SparseCoding`] layer, checked before any weight is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SparseCodingConfig {
    /// Input width (the length of a dictionary atom).
    pub inputs: usize,
    /// Number of codes (dictionary atoms).
    pub codes: usize,
    /// Unrolled ISTA iterations (>= 1; default 3).
    pub steps: usize,
    /// ISTA step size η > 0, standing for `1/L` with `L` the Lipschitz constant
    /// `‖W‖₂²` (default 0.5). ISTA converges for `η < 2/‖W‖₂²`; a fixed number of steps is
    /// a differentiable layer for any η.
    pub step_size: f64,
    /// The ℓ1 penalty λ ≥ 0 of the sparse-coding problem (default 0.1); each step
    /// soft-thresholds at `θ = η λ`.
    pub l1: f64,
    /// Non-negative codes: `max(u − θ, 0)` instead of the two-sided soft threshold
    /// (default false).
    pub nonnegative: bool,
    /// Initialisation of the dictionary (default: uniform with standard deviation
    /// `1/(√inputs + √codes)`, which puts the largest singular value of a random `W`
    /// near 1 (Bai–Yin), so the default step η = 0.5 is a convergent ISTA step,
    /// `η < 2/‖W‖₂²`, at any width).
    pub init: Init,
}

impl SparseCodingConfig {
    /// `steps = 3`, `η = 0.5`, `λ = 0.1`, two-sided codes, a dictionary of spectral
    /// norm about 1 (see [`SparseCodingConfig::init`](Self#structfield.init)).
    pub fn new(inputs: usize, codes: usize) -> Self {
        let spread = (inputs as f64).sqrt() + (codes as f64).sqrt();
        SparseCodingConfig {
            inputs,
            codes,
            steps: 3,
            step_size: 0.5,
            l1: 0.1,
            nonnegative: false,
            // Uniform on ±a has standard deviation a/√3.
            init: Init::Uniform(3f64.sqrt() / spread.max(1.0)),
        }
    }

    /// Sets the number of unrolled steps.
    pub fn with_steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// Sets the step size η.
    pub fn with_step_size(mut self, step_size: f64) -> Self {
        self.step_size = step_size;
        self
    }

    /// Sets the ℓ1 penalty λ.
    pub fn with_l1(mut self, l1: f64) -> Self {
        self.l1 = l1;
        self
    }

    /// Keeps codes non-negative.
    pub fn with_nonnegative(mut self, nonnegative: bool) -> Self {
        self.nonnegative = nonnegative;
        self
    }

    /// Sets the dictionary initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value.
    pub fn check(&self) -> Result<()> {
        if self.inputs == 0 {
            return Err(Error::invalid(
                "sparse coding input width",
                "should be >= 1",
                0,
            ));
        }
        if self.codes == 0 {
            return Err(Error::invalid(
                "sparse coding code width",
                "should be >= 1",
                0,
            ));
        }
        if self.steps == 0 {
            return Err(Error::invalid(
                "sparse coding ISTA steps",
                "should be >= 1",
                0,
            ));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(Error::invalid(
                "sparse coding ISTA step size η",
                "should be finite and > 0",
                self.step_size,
            ));
        }
        if !(self.l1.is_finite() && self.l1 >= 0.0) {
            return Err(Error::invalid(
                "sparse coding ℓ1 penalty λ",
                "should be finite and >= 0",
                self.l1,
            ));
        }
        self.init.check()
    }

    /// Draws the dictionary and builds the layer.
    ///
    /// # Errors
    /// As [`SparseCodingConfig::check`].
    pub fn init<F: Float>(&self, rng: &mut SeededRng) -> Result<SparseCoding<F>> {
        self.check()?;
        let weight =
            self.init
                .sample::<F>(&[self.inputs, self.codes], self.inputs, self.codes, rng)?;
        Ok(SparseCoding {
            weight,
            config: *self,
        })
    }
}

/// A sparse-coding layer: the codes of `K` unrolled ISTA iterations (Daubechies et al.
/// 2004; Gregor & LeCun 2010 unroll them as a layer) for
/// `min_z ½‖x − z Wᵀ‖² + λ‖z‖₁`, the dictionary's atoms being the columns of `W`:
///
/// `z₁ = S_θ(η x W)`, `z_{k+1} = S_θ(z_k + η (x − z_k Wᵀ) W)`, `θ = ηλ`,
///
/// with `S_θ(u) = sign(u) max(|u| − θ, 0)` (or `max(u − θ, 0)` for non-negative codes).
/// This is the building block the Stacked Approximated Regression Machine stacks
/// (Wang et al., arXiv 1608.04062, §2, withdrawn by its authors: see the book chapter
/// "Learning by reconstruction"). The dictionary is learned by the stage's objective,
/// typically a `locus_objectives::Reconstruction`
/// with a tied decoder (`x̂ = z Wᵀ`, the sparse-coding reconstruction itself).
///
/// The backward pass goes through every unrolled step exactly (the derivative of the
/// threshold is 1 where `|u| > θ`, else 0), so the layer passes the finite-difference
/// conformance suite away from the kinks.
///
/// # Shapes
/// input `[batch, inputs]` → output `[batch, codes]`; weight `[inputs, codes]`, no bias.
#[derive(Debug, Clone)]
pub struct SparseCoding<F> {
    weight: Tensor<F>,
    config: SparseCodingConfig,
}

impl<F: Float> SparseCoding<F> {
    /// The dictionary `W`, `[inputs, codes]`.
    pub fn weight(&self) -> ndarray::ArrayView2<'_, F> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-D by construction")
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SparseCodingConfig {
        &self.config
    }

    fn theta(&self) -> F {
        F::cast(self.config.step_size * self.config.l1)
    }

    fn shrink(&self, u: F) -> F {
        let t = self.theta();
        if self.config.nonnegative {
            (u - t).max(F::zero())
        } else if u > t {
            u - t
        } else if u < -t {
            u + t
        } else {
            F::zero()
        }
    }

    fn shrink_slope(&self, u: F) -> F {
        let t = self.theta();
        let active = if self.config.nonnegative {
            u > t
        } else {
            u.abs() > t
        };
        if active {
            F::one()
        } else {
            F::zero()
        }
    }

    /// The pre-threshold values `u_0 … u_{K−1}` of every step.
    fn unroll(&self, x: ndarray::ArrayView2<'_, F>) -> Vec<Array2<F>> {
        let w = self.weight();
        let eta = F::cast(self.config.step_size);
        let xw = matmul(&x, &w) * eta;
        let mut us = Vec::with_capacity(self.config.steps);
        us.push(xw.clone());
        for _ in 1..self.config.steps {
            let z = us[us.len() - 1].mapv(|u| self.shrink(u));
            // u = z + η (x − z Wᵀ) W = z + η x W − η (z Wᵀ) W
            let u = &z + &xw - &(matmul(&matmul(&z.view(), &w.t()).view(), &w) * eta);
            us.push(u);
        }
        us
    }
}

impl<F: Float> Module<F> for SparseCoding<F> {
    fn name(&self) -> String {
        format!(
            "SparseCoding({}→{}, {} ISTA steps, λ={})",
            self.config.inputs, self.config.codes, self.config.steps, self.config.l1
        )
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let x = as_matrix(input, Some(self.config.inputs), &self.name())?;
        let us = self.unroll(x);
        let z = us[us.len() - 1].mapv(|u| self.shrink(u)).into_dyn();
        let mut tensors = vec![input.clone()];
        tensors.extend(us.into_iter().map(|u| u.into_dyn()));
        Ok((z, Cache::from_tensors(tensors)))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let x = as_matrix(input, Some(self.config.inputs), &self.name())?;
        let us = self.unroll(x);
        Ok(us[us.len() - 1].mapv(|u| self.shrink(u)).into_dyn())
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let x = as_matrix(
            cache.tensor(0, &context)?,
            Some(self.config.inputs),
            &context,
        )?;
        let steps = self.config.steps;
        let mut us = Vec::with_capacity(steps);
        for k in 0..steps {
            us.push(as_matrix(
                cache.tensor(k + 1, &context)?,
                Some(self.config.codes),
                &context,
            )?);
        }
        let mut g = as_matrix(grad_output, Some(self.config.codes), &context)?.to_owned();
        if g.nrows() != x.nrows() {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("[{}, {}]", x.nrows(), self.config.codes),
                grad_output.shape(),
            ));
        }
        let w = self.weight();
        let eta = F::cast(self.config.step_size);
        let mut grad_w = Array2::<F>::zeros(w.dim());
        let mut grad_x = Array2::<F>::zeros(x.dim());
        for k in (0..steps).rev() {
            // a = ∂L/∂u_k through the threshold.
            let mut a = g;
            a.zip_mut_with(&us[k], |a, &u| *a *= self.shrink_slope(u));
            // Every step has the term η x W: ∂/∂W = η xᵀa, ∂/∂x = η a Wᵀ.
            let a_wt = matmul(&a.view(), &w.t());
            grad_w.scaled_add(eta, &matmul(&x.t(), &a.view()));
            if need_input_grad {
                grad_x.scaled_add(eta, &a_wt);
            }
            if k == 0 {
                g = a;
                break;
            }
            // u_k = z + η x W − η (z Wᵀ) W with z = S(u_{k−1}):
            // ∂/∂W of −η⟨a, z Wᵀ W⟩ = −η ((a Wᵀ)ᵀ z + (z Wᵀ)ᵀ a),
            // ∂/∂z = a − η (a Wᵀ) W.
            let z = us[k - 1].mapv(|u| self.shrink(u));
            let z_wt = matmul(&z.view(), &w.t());
            grad_w.scaled_add(-eta, &matmul(&a_wt.t(), &z.view()));
            grad_w.scaled_add(-eta, &matmul(&z_wt.t(), &a.view()));
            g = &a - &(matmul(&a_wt.view(), &w) * eta);
        }
        let _ = g;
        Ok(Gradients {
            input: need_input_grad.then(|| grad_x.into_dyn()),
            params: vec![grad_w.into_dyn()],
        })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        vec![Param {
            name: "weight".into(),
            value: &self.weight,
        }]
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        vec![ParamMut {
            name: "weight".into(),
            value: &mut self.weight,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use ndarray::arr2;

    #[test]
    fn one_step_is_a_thresholded_linear_map() {
        let layer = SparseCodingConfig::new(3, 2)
            .with_steps(1)
            .with_step_size(1.0)
            .with_l1(0.5)
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        let x = arr2(&[[1.0, -2.0, 0.5]]);
        let u = x.dot(&layer.weight());
        let z = layer.infer(&x.clone().into_dyn()).unwrap();
        for (zv, uv) in z.iter().zip(u.iter()) {
            let expected = uv.signum() * (uv.abs() - 0.5).max(0.0);
            assert!((zv - expected).abs() < 1e-15);
        }
    }

    #[test]
    fn many_steps_solve_the_lasso_for_an_orthonormal_dictionary() {
        // With orthonormal atoms the lasso solution is S_λ(x W) in closed form; ISTA with
        // η = 1 reaches it after one step and stays there.
        let w = arr2(&[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]);
        let mut layer = SparseCodingConfig::new(3, 2)
            .with_steps(20)
            .with_step_size(1.0)
            .with_l1(0.3)
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        layer.params_mut()[0].value.assign(&w.clone().into_dyn());
        let x = arr2(&[[1.0, -0.2, 4.0], [-0.5, 2.0, 0.0]]).into_dyn();
        let z = layer.infer(&x).unwrap();
        let expected = arr2(&[[0.7, 0.0], [-0.2, 1.7]]).into_dyn();
        assert!(
            z.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-12),
            "{z}"
        );
        // Non-negative codes clip the negative one.
        let mut nn = layer.clone();
        nn.config.nonnegative = true;
        let z = nn.infer(&x).unwrap();
        assert!(z.iter().all(|&v| v >= 0.0));
    }

    #[test]
    fn larger_penalties_give_sparser_codes() {
        let x = Tensor::from_shape_fn(vec![8, 6], |i| ((i[0] * 5 + i[1] * 3) % 7) as f64 - 3.0);
        let zeros = |l1: f64| {
            let layer = SparseCodingConfig::new(6, 10)
                .with_l1(l1)
                .init::<f64>(&mut seeded_rng(1))
                .unwrap();
            layer
                .infer(&x)
                .unwrap()
                .iter()
                .filter(|&&v| v == 0.0)
                .count()
        };
        assert!(zeros(0.0) < zeros(1.0) && zeros(1.0) < zeros(4.0));
    }

    #[test]
    fn bad_settings_are_named() {
        let e = SparseCodingConfig::new(3, 2)
            .with_steps(0)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("ISTA steps"), "{e}");
        let e = SparseCodingConfig::new(3, 2)
            .with_step_size(f64::NAN)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("step size"), "{e}");
        let e = SparseCodingConfig::new(3, 2)
            .with_l1(-1.0)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("ℓ1"), "{e}");
        assert!(SparseCodingConfig::new(0, 2).check().is_err());
    }
}
