use crate::{Error, Float, Result, StateDict, Tensor};

/// What a module's forward pass keeps for its backward pass.
///
/// The cache is **owned by the caller**, never by the module, so one module can have
/// several batches in flight at once (pipelined or delayed stages): each batch carries its
/// own cache. A cache holds tensors (e.g. a layer's input) and, for containers such as
/// [`Sequential`](crate::Sequential), the caches of its children.
#[derive(Debug, Clone, Default)]
pub struct Cache<F> {
    tensors: Vec<Tensor<F>>,
    children: Vec<Cache<F>>,
    meta: Vec<usize>,
}

impl<F: Float> Cache<F> {
    /// An empty cache, for modules whose backward pass needs nothing.
    pub fn empty() -> Self {
        Cache {
            tensors: Vec::new(),
            children: Vec::new(),
            meta: Vec::new(),
        }
    }

    /// A cache of the given tensors.
    pub fn from_tensors(tensors: Vec<Tensor<F>>) -> Self {
        Cache {
            tensors,
            children: Vec::new(),
            meta: Vec::new(),
        }
    }

    /// A cache made of the caches of child modules, in order.
    pub fn from_children(children: Vec<Cache<F>>) -> Self {
        Cache {
            tensors: Vec::new(),
            children,
            meta: Vec::new(),
        }
    }

    /// A cache of small integers only (a shape, indices): for modules such as
    /// [`Flatten`](crate::layers::Flatten) that need no tensor to go backward.
    pub fn from_meta(meta: Vec<usize>) -> Self {
        Cache {
            tensors: Vec::new(),
            children: Vec::new(),
            meta,
        }
    }

    /// The integer metadata stored with [`Cache::from_meta`].
    pub fn meta(&self) -> &[usize] {
        &self.meta
    }

    /// Tensor `index` of this cache.
    ///
    /// # Errors
    /// [`Error::Cache`] naming `context` when the cache has no such tensor (it was made by
    /// another module).
    pub fn tensor(&self, index: usize, context: &str) -> Result<&Tensor<F>> {
        self.tensors.get(index).ok_or_else(|| Error::Cache {
            context: context.to_string(),
            reason: format!(
                "expected a tensor at position {index}, the cache holds {}",
                self.tensors.len()
            ),
        })
    }

    /// The cache of child `index`.
    ///
    /// # Errors
    /// [`Error::Cache`] when there is no such child.
    pub fn child(&self, index: usize, context: &str) -> Result<&Cache<F>> {
        self.children.get(index).ok_or_else(|| Error::Cache {
            context: context.to_string(),
            reason: format!(
                "expected a child cache at position {index}, the cache holds {}",
                self.children.len()
            ),
        })
    }

    /// Number of child caches.
    pub fn num_children(&self) -> usize {
        self.children.len()
    }

    /// Gives the cache's tensors, its children's included, back to the
    /// [scratch pool](crate::scratch) once the backward pass no longer needs them.
    pub fn recycle(self) {
        crate::scratch::recycle_all(self.tensors);
        for child in self.children {
            child.recycle();
        }
    }

    /// Bytes of tensor data and metadata held, children included: the activation memory a
    /// batch in flight costs (max pooling, for one, keeps a position per output in its
    /// metadata).
    pub fn bytes(&self) -> usize {
        let own: usize = self
            .tensors
            .iter()
            .map(|t| t.len() * std::mem::size_of::<F>())
            .sum();
        let meta = self.meta.len() * std::mem::size_of::<usize>();
        own + meta + self.children.iter().map(Cache::bytes).sum::<usize>()
    }
}

/// The result of a backward pass.
#[derive(Debug, Clone)]
pub struct Gradients<F> {
    /// Gradient with respect to the module's input, when it was asked for.
    pub input: Option<Tensor<F>>,
    /// Gradients with respect to the parameters, in the order of [`Module::params`].
    pub params: Vec<Tensor<F>>,
}

/// A named, read-only view of one parameter tensor.
#[derive(Debug)]
pub struct Param<'a, F> {
    /// Dotted path of the parameter inside its module (e.g. `"2.weight"`).
    pub name: String,
    /// The parameter's values.
    pub value: &'a Tensor<F>,
}

/// A named, mutable view of one parameter tensor (for optimizers and checkpoints).
#[derive(Debug)]
pub struct ParamMut<'a, F> {
    /// Dotted path of the parameter inside its module (e.g. `"2.weight"`).
    pub name: String,
    /// The parameter's values.
    pub value: &'a mut Tensor<F>,
}

/// A differentiable function of a batch with its own parameters: a layer or a stack of
/// layers.
///
/// Implementations must be pure: `forward` and `backward` take `&self`, and all state a
/// backward pass needs travels in the [`Cache`]. Parameters are listed by name, always in
/// the same order, and [`Gradients::params`] follows that order.
///
/// A new layer implements `forward`, `backward`, `params` and `params_mut`; the
/// conformance suite in `locus-testing` checks its gradients against finite differences.
pub trait Module<F: Float>: Send + Sync {
    /// A short human-readable description, e.g. `"Linear(784→1000)"`.
    fn name(&self) -> String;

    /// Computes the output for a batch and the cache its backward pass will need.
    ///
    /// # Errors
    /// [`Error::Shape`] when the input does not have the shape the module takes.
    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)>;

    /// Given the gradient of a loss with respect to the output of the forward pass that
    /// made `cache`, returns the gradients with respect to the parameters and, when
    /// `need_input_grad` is true, with respect to the input.
    ///
    /// # Errors
    /// [`Error::Shape`] when `grad_output` does not match the output; [`Error::Cache`] when
    /// the cache was not made by this module.
    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>>;

    /// The exact gradient, whatever backward rule the module learns with.
    ///
    /// Modules whose [`Module::backward`] sends the gradient through something other than
    /// the true Jacobian (a layer with a feedback-alignment or sign-symmetry rule, or a
    /// container of such layers) override this to return the true gradients; it is what
    /// alignment measurements compare a rule against. The default is `backward`, which is
    /// right for every module that computes exact gradients. Containers must forward it to
    /// their children's `backward_exact`.
    ///
    /// # Errors
    /// As [`Module::backward`].
    fn backward_exact(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        self.backward(cache, grad_output, need_input_grad)
    }

    /// Named scalar diagnostics of the module's state, e.g. `weight_alignment_deg`, the
    /// angle between a layer's weight and its feedback matrix. Default: none.
    fn diagnostics(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// The parameters, by name, in a fixed order.
    fn params(&self) -> Vec<Param<'_, F>>;

    /// The parameters, mutably, in the same order as [`Module::params`].
    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>>;

    /// Forward pass without keeping a cache (evaluation).
    ///
    /// # Errors
    /// As [`Module::forward`].
    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        self.forward(input).map(|(y, _)| y)
    }

    /// Total number of scalar parameters.
    fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }

    /// Writes everything the module needs to go on training exactly where it stopped
    /// into `state`, each name prefixed by `prefix`: its parameters and any state that
    /// is not a parameter (running statistics, feedback matrices, random draws made).
    /// Weight matrices are written in PyTorch's layout (`[out, in]` for a linear layer).
    /// The default writes [`Module::params`] as they are; containers and layers with
    /// other state override it, and [`Module::load_state`] with it.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        for p in self.params() {
            state.put_tensor(format!("{prefix}{}", p.name), p.value.clone());
        }
    }

    /// Reads what [`Module::save_state`] wrote under `prefix`, taking the entries out of
    /// `state`.
    ///
    /// # Errors
    /// A missing entry, one of another shape, or a non-finite value, named. The module
    /// may then be partly loaded: build it again before using it.
    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        for p in self.params_mut() {
            let name = format!("{prefix}{}", p.name);
            *p.value = state.take_tensor(&name, Some(p.value.shape()))?;
        }
        Ok(())
    }
}

impl<F: Float> Module<F> for Box<dyn Module<F>> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        (**self).forward(input)
    }
    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        (**self).backward(cache, grad_output, need_input_grad)
    }
    fn backward_exact(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        (**self).backward_exact(cache, grad_output, need_input_grad)
    }
    fn diagnostics(&self) -> Vec<(String, f64)> {
        (**self).diagnostics()
    }
    fn params(&self) -> Vec<Param<'_, F>> {
        (**self).params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        (**self).params_mut()
    }
    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        (**self).infer(input)
    }
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        (**self).save_state(prefix, state)
    }
    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        (**self).load_state(prefix, state)
    }
}
