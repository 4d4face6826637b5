use crate::{scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// Flattens every axis but the first: `[batch, d1, d2, …]` → `[batch, d1·d2·…]`, so an
/// image batch can feed a dense layer.
///
/// # Shapes
/// `[batch, …]` (rank ≥ 1) → `[batch, product of the rest]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flatten;

impl<F: Float> Module<F> for Flatten {
    fn name(&self) -> String {
        "Flatten".into()
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = Module::<F>::infer(self, input)?;
        Ok((y, Cache::from_meta(input.shape().to_vec())))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let shape = input.shape();
        if shape.is_empty() {
            return Err(Error::shape("Flatten", "[batch, …]", shape));
        }
        let rest: usize = shape[1..].iter().product();
        let flat = scratch::copy_of(input)
            .into_shape_with_order(vec![shape[0], rest])
            .map_err(|_| Error::shape("Flatten", "[batch, …]", shape))?;
        Ok(flat)
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let shape = cache.meta();
        if shape.is_empty() {
            return Err(Error::Cache {
                context: "Flatten".into(),
                reason: "the cache holds no input shape".into(),
            });
        }
        let rest: usize = shape[1..].iter().product();
        if grad_output.shape() != [shape[0], rest] {
            return Err(Error::shape(
                "Flatten backward (grad_output)",
                format!("[{}, {rest}]", shape[0]),
                grad_output.shape(),
            ));
        }
        let input = if need_input_grad {
            Some(
                scratch::copy_of(grad_output)
                    .into_shape_with_order(shape.to_vec())
                    .map_err(|_| Error::shape("Flatten backward", "[batch, …]", shape))?,
            )
        } else {
            None
        };
        Ok(Gradients {
            input,
            params: Vec::new(),
        })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        Vec::new()
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        Vec::new()
    }
}
