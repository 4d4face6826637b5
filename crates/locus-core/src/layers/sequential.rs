use crate::{
    scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, StateDict, Tensor,
};

/// A chain of modules applied one after the other; itself a [`Module`].
///
/// Parameter names are prefixed with the child's position: `"0.weight"`, `"0.bias"`,
/// `"2.weight"`, …
///
/// # Shapes
/// the input shape of the first child → the output shape of the last.
pub struct Sequential<F: Float> {
    layers: Vec<Box<dyn Module<F>>>,
}

impl<F: Float> Default for Sequential<F> {
    fn default() -> Self {
        Sequential { layers: Vec::new() }
    }
}

impl<F: Float> std::fmt::Debug for Sequential<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl<F: Float> Sequential<F> {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module.
    pub fn push(mut self, module: impl Module<F> + 'static) -> Self {
        self.layers.push(Box::new(module));
        self
    }

    /// Appends a boxed module.
    pub fn push_boxed(mut self, module: Box<dyn Module<F>>) -> Self {
        self.layers.push(module);
        self
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The children, in order.
    pub fn layers(&self) -> &[Box<dyn Module<F>>] {
        &self.layers
    }

    /// Backward through the children, top first, calling `step` on each.
    fn backward_with(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
        step: impl Fn(&dyn Module<F>, &Cache<F>, &Tensor<F>, bool) -> Result<Gradients<F>>,
    ) -> Result<Gradients<F>> {
        let context = "Sequential backward";
        if cache.num_children() != self.layers.len() {
            return Err(Error::Cache {
                context: context.into(),
                reason: format!(
                    "the cache has {} child caches for {} layers",
                    cache.num_children(),
                    self.layers.len()
                ),
            });
        }
        // `learns_below[i]`: some layer before `i` has parameters, so the gradient must
        // pass through layer `i`. When neither that nor the caller needs it, the backward
        // pass stops early: a parameter-free first layer (a LayerNorm without learned
        // scale, say) costs nothing, and the layer above it skips its input gradient,
        // a third of a dense stage's work.
        let has_params: Vec<bool> = self.layers.iter().map(|l| !l.params().is_empty()).collect();
        let learns_below: Vec<bool> = has_params
            .iter()
            .scan(false, |below, &has| {
                Some(std::mem::replace(below, *below || has))
            })
            .collect();
        let mut per_layer: Vec<Vec<Tensor<F>>> = Vec::with_capacity(self.layers.len());
        // The gradient between two children; `None` while it is still `grad_output`.
        let mut grad: Option<Tensor<F>> = None;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let want_input = need_input_grad || learns_below[i];
            if !want_input && !has_params[i] {
                per_layer.push(Vec::new());
                continue;
            }
            let g = step(
                layer.as_ref(),
                cache.child(i, context)?,
                grad.as_ref().unwrap_or(grad_output),
                want_input,
            )?;
            per_layer.push(g.params);
            if let Some(gi) = g.input {
                if let Some(used) = grad.replace(gi) {
                    scratch::recycle(used);
                }
            }
        }
        per_layer.reverse();
        let input = if need_input_grad {
            Some(grad.unwrap_or_else(|| scratch::copy_of(grad_output)))
        } else {
            scratch::recycle_all(grad);
            None
        };
        Ok(Gradients {
            input,
            params: per_layer.into_iter().flatten().collect(),
        })
    }
}

impl<F: Float> Module<F> for Sequential<F> {
    fn name(&self) -> String {
        let inner: Vec<String> = self.layers.iter().map(|l| l.name()).collect();
        format!("Sequential[{}]", inner.join(", "))
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let mut caches = Vec::with_capacity(self.layers.len());
        // The activation between two children; `None` while it is still `input`.
        let mut x: Option<Tensor<F>> = None;
        for layer in &self.layers {
            let (y, c) = layer.forward(x.as_ref().unwrap_or(input))?;
            caches.push(c);
            if let Some(used) = x.replace(y) {
                scratch::recycle(used);
            }
        }
        let output = x.unwrap_or_else(|| scratch::copy_of(input));
        Ok((output, Cache::from_children(caches)))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let mut x: Option<Tensor<F>> = None;
        for layer in &self.layers {
            let y = layer.infer(x.as_ref().unwrap_or(input))?;
            if let Some(used) = x.replace(y) {
                scratch::recycle(used);
            }
        }
        Ok(x.unwrap_or_else(|| scratch::copy_of(input)))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        self.backward_with(cache, grad_output, need_input_grad, |layer, c, g, want| {
            layer.backward(c, g, want)
        })
    }

    fn backward_exact(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        self.backward_with(cache, grad_output, need_input_grad, |layer, c, g, want| {
            layer.backward_exact(c, g, want)
        })
    }

    /// The children's diagnostics, in layer order.
    fn diagnostics(&self) -> Vec<(String, f64)> {
        self.layers.iter().flat_map(|l| l.diagnostics()).collect()
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.params().into_iter().map(move |p| Param {
                    name: format!("{i}.{}", p.name),
                    value: p.value,
                })
            })
            .collect()
    }

    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.save_state(&format!("{prefix}{i}."), state);
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.load_state(&format!("{prefix}{i}."), state)?;
        }
        Ok(())
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        self.layers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, l)| {
                l.params_mut().into_iter().map(move |p| ParamMut {
                    name: format!("{i}.{}", p.name),
                    value: p.value,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Activation, LayerNormConfig, LinearConfig};
    use crate::seeded_rng;
    use ndarray::Array2;

    #[test]
    fn a_parameter_free_first_layer_is_not_differentiated_unless_asked() {
        let mut rng = seeded_rng(4);
        let chain: Sequential<f64> = Sequential::new()
            .push(LayerNormConfig::length(5).init().unwrap())
            .push(LinearConfig::new(5, 3).init(&mut rng).unwrap())
            .push(Activation::Relu);
        let x = Array2::from_shape_fn((4, 5), |(i, j)| (i * 5 + j) as f64 / 7.0 - 1.0).into_dyn();
        let (y, cache) = chain.forward(&x).unwrap();
        let g = y.mapv(|v| v + 0.5);
        let with_input = chain.backward(&cache, &g, true).unwrap();
        let without = chain.backward(&cache, &g, false).unwrap();
        assert_eq!(
            with_input.input.as_ref().map(|t| t.shape()),
            Some(&[4, 5][..])
        );
        assert!(without.input.is_none());
        // Skipping the input gradient leaves the parameter gradients unchanged.
        assert_eq!(with_input.params, without.params);
        assert_eq!(without.params.len(), 2);
    }
}
