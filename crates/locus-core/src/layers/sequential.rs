use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

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
        let mut per_layer: Vec<Vec<Tensor<F>>> = Vec::with_capacity(self.layers.len());
        let mut grad = grad_output.clone();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let want_input = i > 0 || need_input_grad;
            let g = step(layer.as_ref(), cache.child(i, context)?, &grad, want_input)?;
            per_layer.push(g.params);
            if let Some(gi) = g.input {
                grad = gi;
            }
        }
        per_layer.reverse();
        let input = need_input_grad.then_some(grad);
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
        let mut x = input.clone();
        for layer in &self.layers {
            let (y, c) = layer.forward(&x)?;
            caches.push(c);
            x = y;
        }
        Ok((x, Cache::from_children(caches)))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = layer.infer(&x)?;
        }
        Ok(x)
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
