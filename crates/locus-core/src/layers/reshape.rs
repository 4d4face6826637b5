use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// Gives every sample of a batch a new shape with the same number of values:
/// `[batch, …]` → `[batch, sample_shape…]`. For example `[batch, 28, 28]` MNIST images
/// become the `[batch, 1, 28, 28]` a [`Conv2d`](super::Conv2d) takes. The inverse of
/// [`Flatten`](super::Flatten) when given the unflattened shape.
///
/// # Shapes
/// `[batch, d1, d2, …]` with `d1·d2·… = product(sample_shape)` →
/// `[batch, sample_shape…]`.
///
/// # Errors
/// [`Error::Shape`] when a sample does not hold exactly `product(sample_shape)` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    sample_shape: Vec<usize>,
}

impl Reshape {
    /// Reshapes each sample to `sample_shape`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty shape or one with a zero axis.
    pub fn new(sample_shape: Vec<usize>) -> Result<Self> {
        if sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(Error::invalid(
                "Reshape sample shape",
                "should be non-empty with every axis >= 1",
                format!("{sample_shape:?}"),
            ));
        }
        Ok(Reshape { sample_shape })
    }

    /// The shape each sample gets.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn context(&self) -> String {
        format!("Reshape(→{:?})", self.sample_shape)
    }
}

/// A copy of `tensor` (in recycled storage) with the shape `shape`.
fn reshaped<F: Float>(tensor: &Tensor<F>, shape: Vec<usize>, context: &str) -> Result<Tensor<F>> {
    let from = tensor.shape().to_vec();
    crate::scratch::copy_of(tensor)
        .into_shape_with_order(shape)
        .map_err(|_| Error::shape(context, "as many values as the target shape", &from))
}

impl<F: Float> Module<F> for Reshape {
    fn name(&self) -> String {
        self.context()
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = Module::<F>::infer(self, input)?;
        Ok((y, Cache::from_meta(input.shape().to_vec())))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let shape = input.shape();
        let per_sample: usize = self.sample_shape.iter().product();
        let expected = format!("[batch, … {per_sample} values per sample]");
        match shape.split_first() {
            Some((&batch, rest)) if rest.iter().product::<usize>() == per_sample => {
                let mut target = vec![batch];
                target.extend(&self.sample_shape);
                reshaped(input, target, &self.context())
            }
            _ => Err(Error::shape(self.context(), expected, shape)),
        }
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = self.context();
        let shape = cache.meta();
        let Some(&batch) = shape.first() else {
            return Err(Error::Cache {
                context,
                reason: "the cache holds no input shape".into(),
            });
        };
        let mut out = vec![batch];
        out.extend(&self.sample_shape);
        if grad_output.shape() != out {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{out:?}"),
                grad_output.shape(),
            ));
        }
        let input = if need_input_grad {
            Some(reshaped(grad_output, shape.to_vec(), &context)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_gain_a_channel_axis_and_lose_it_going_back() {
        let r = Reshape::new(vec![1, 2, 3]).unwrap();
        let x =
            Tensor::<f64>::from_shape_fn(vec![4, 2, 3], |i| (i[0] * 6 + i[1] * 3 + i[2]) as f64);
        let (y, cache) = r.forward(&x).unwrap();
        assert_eq!(y.shape(), [4, 1, 2, 3]);
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            x.iter().copied().collect::<Vec<_>>()
        );
        let g = r.backward(&cache, &y, true).unwrap().input.unwrap();
        assert_eq!(g, x);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(Reshape::new(vec![]).is_err());
        assert!(Reshape::new(vec![3, 0]).is_err());
        let r = Reshape::new(vec![1, 2, 3]).unwrap();
        let err = Module::<f64>::infer(&r, &Tensor::zeros(vec![4, 5])).unwrap_err();
        assert!(err.to_string().contains("Reshape"), "{err}");
        assert!(Module::<f64>::infer(&r, &Tensor::zeros(vec![])).is_err());
    }
}
