//! Training state as named tensors: what a checkpoint holds.
//!
//! A [`StateDict`] maps dotted names (`stage1.module.0.weight`,
//! `stage1.optimizer.buffer.3`, `stage1.objective.head.0.bias`) to float tensors or to
//! counters (`u64`s: step counts, random draws taken). Modules, objectives, optimizers and
//! schedulers write what they need to go on training exactly where they stopped, each
//! under the prefix its owner gives it, and read it back the same way; the checkpoint
//! file is then one flat dictionary, which is the shape of PyTorch's `state_dict` and of
//! a safetensors file.
//!
//! Loading *takes* entries out of the dictionary: whatever is left once every owner has
//! read its part belongs to nothing in the network being loaded, and
//! [`StateDict::finish`] refuses it by name, so a checkpoint never loads partly and
//! silently.

use std::collections::BTreeMap;

use crate::{Error, Float, Optimizer, OptimizerState, Result, Tensor};

/// One entry of a [`StateDict`].
#[derive(Debug, Clone, PartialEq)]
pub enum StateValue<F> {
    /// Float values with a shape (parameters, optimizer moments, running statistics).
    Tensor(Tensor<F>),
    /// Counters: steps taken, random draws made, flags.
    Counters(Vec<u64>),
}

/// Named tensors and counters; see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict<F> {
    entries: BTreeMap<String, StateValue<F>>,
}

impl<F> Default for StateDict<F> {
    fn default() -> Self {
        StateDict {
            entries: BTreeMap::new(),
        }
    }
}

fn state_error(name: &str, reason: impl Into<String>) -> Error {
    Error::invalid(&format!("state entry '{name}'"), &reason.into(), "")
}

impl<F: Float> StateDict<F> {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor under `name`, replacing any entry of that name.
    pub fn put_tensor(&mut self, name: impl Into<String>, tensor: Tensor<F>) {
        self.entries.insert(name.into(), StateValue::Tensor(tensor));
    }

    /// Adds counters under `name`, replacing any entry of that name.
    pub fn put_counters(&mut self, name: impl Into<String>, counters: Vec<u64>) {
        self.entries
            .insert(name.into(), StateValue::Counters(counters));
    }

    /// Adds one counter under `name`.
    pub fn put_counter(&mut self, name: impl Into<String>, counter: u64) {
        self.put_counters(name, vec![counter]);
    }

    /// Adds an entry as it is (for readers of checkpoint files).
    pub fn put(&mut self, name: impl Into<String>, value: StateValue<F>) {
        self.entries.insert(name.into(), value);
    }

    /// Whether an entry named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether any entry's name starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.entries
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// The entry named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&StateValue<F>> {
        self.entries.get(name)
    }

    /// The entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &StateValue<F>)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes the tensor named `name` out of the dictionary, checking its shape when
    /// `shape` is given and that every value is finite.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the entry when it is missing, holds counters, or
    /// has another shape; [`Error::NonFinite`] naming it for a NaN or infinity.
    pub fn take_tensor(&mut self, name: &str, shape: Option<&[usize]>) -> Result<Tensor<F>> {
        match self.entries.remove(name) {
            None => Err(state_error(name, "is missing from the saved state")),
            Some(StateValue::Counters(_)) => Err(state_error(
                name,
                "should be a float tensor but the saved state holds counters",
            )),
            Some(StateValue::Tensor(t)) => {
                if let Some(shape) = shape {
                    if t.shape() != shape {
                        return Err(state_error(
                            name,
                            format!(
                                "has shape {:?} in the saved state, but this network's has {shape:?}",
                                t.shape()
                            ),
                        ));
                    }
                }
                if t.iter().any(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        context: format!("state entry '{name}'"),
                    });
                }
                Ok(t)
            }
        }
    }

    /// Takes the tensor named `name` if present (`None` when it is not).
    ///
    /// # Errors
    /// As [`StateDict::take_tensor`] for an entry that is present.
    pub fn take_tensor_if_present(
        &mut self,
        name: &str,
        shape: Option<&[usize]>,
    ) -> Result<Option<Tensor<F>>> {
        if self.contains(name) {
            self.take_tensor(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Takes the counters named `name`, checking there are `len` of them.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the entry when it is missing, holds a float
    /// tensor, or has another length.
    pub fn take_counters(&mut self, name: &str, len: usize) -> Result<Vec<u64>> {
        match self.entries.remove(name) {
            None => Err(state_error(name, "is missing from the saved state")),
            Some(StateValue::Tensor(_)) => Err(state_error(
                name,
                "should hold counters but the saved state holds a float tensor",
            )),
            Some(StateValue::Counters(c)) if c.len() != len => Err(state_error(
                name,
                format!("holds {} counters, this network needs {len}", c.len()),
            )),
            Some(StateValue::Counters(c)) => Ok(c),
        }
    }

    /// Takes the single counter named `name`.
    ///
    /// # Errors
    /// As [`StateDict::take_counters`].
    pub fn take_counter(&mut self, name: &str) -> Result<u64> {
        Ok(self.take_counters(name, 1)?[0])
    }

    /// Takes the counters named `name`, however many there are, when the entry is present
    /// (`None` when it is not).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the entry when it holds a float tensor.
    pub fn take_counters_if_present(&mut self, name: &str) -> Result<Option<Vec<u64>>> {
        match self.entries.get(name) {
            None => Ok(None),
            Some(StateValue::Counters(c)) => {
                let n = c.len();
                self.take_counters(name, n).map(Some)
            }
            Some(StateValue::Tensor(_)) => Err(state_error(
                name,
                "should hold counters but the saved state holds a float tensor",
            )),
        }
    }

    /// Takes the counters named `name` as sizes (widths, shapes) from 1 to 2³², when the
    /// entry is present, `len` of them when `len` is given.
    ///
    /// # Errors
    /// As [`StateDict::take_counters_if_present`], another number of counters than `len`,
    /// or a value outside that range, named.
    pub fn take_sizes_if_present(
        &mut self,
        name: &str,
        len: Option<usize>,
    ) -> Result<Option<Vec<usize>>> {
        let Some(counters) = self.take_counters_if_present(name)? else {
            return Ok(None);
        };
        if len.is_some_and(|len| len != counters.len()) || counters.is_empty() {
            return Err(state_error(
                name,
                format!("holds {} sizes, this network needs {len:?}", counters.len()),
            ));
        }
        counters
            .iter()
            .map(|&n| {
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=1 << 32).contains(n))
                    .ok_or_else(|| {
                        state_error(name, format!("should hold sizes from 1 to 2^32, not {n}"))
                    })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Takes the single counter named `name` as a size (a width, a number of channels)
    /// between 1 and 2³².
    ///
    /// # Errors
    /// As [`StateDict::take_counters`], or a value outside that range, named.
    pub fn take_size(&mut self, name: &str) -> Result<usize> {
        let n = self.take_counter(name)?;
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=1 << 32).contains(n))
            .ok_or_else(|| state_error(name, format!("should be a size from 1 to 2^32, not {n}")))
    }

    /// Adds `f64` values exactly, as the counters of their bits (figures an owner
    /// reports, such as the loss of its last batch).
    pub fn put_floats(&mut self, name: impl Into<String>, values: &[f64]) {
        self.put_counters(name, values.iter().map(|v| v.to_bits()).collect());
    }

    /// Takes `len` values written by [`StateDict::put_floats`] when an entry named
    /// `name` is present.
    ///
    /// # Errors
    /// As [`StateDict::take_counters`] for an entry that is present.
    pub fn take_floats_if_present(&mut self, name: &str, len: usize) -> Result<Option<Vec<f64>>> {
        if !self.contains(name) {
            return Ok(None);
        }
        let bits = self.take_counters(name, len)?;
        Ok(Some(bits.into_iter().map(f64::from_bits).collect()))
    }

    /// Checks that every entry was taken.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the entries (up to five) that nothing in the
    /// network being loaded reads: the saved state belongs to another network.
    pub fn finish(self) -> Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.entries.keys().take(5).map(String::as_str).collect();
        Err(Error::invalid(
            "saved state",
            &format!(
                "should hold only what this network has, but {} entries belong to nothing \
                 in it (e.g. {})",
                self.entries.len(),
                names.join(", ")
            ),
            "a state from another network",
        ))
    }
}

/// Writes an optimizer's state under `prefix`: `steps` and `buffer.<k>` (SGD's
/// velocities; Adam's first and second moments, interleaved parameter by parameter).
pub fn save_optimizer<F: Float>(
    optimizer: &dyn Optimizer<F>,
    prefix: &str,
    state: &mut StateDict<F>,
) {
    let s = optimizer.state();
    state.put_counter(format!("{prefix}steps"), s.steps);
    state.put_counter(format!("{prefix}buffers"), s.buffers.len() as u64);
    for (k, b) in s.buffers.into_iter().enumerate() {
        state.put_tensor(format!("{prefix}buffer.{k}"), b);
    }
}

/// Reads what [`save_optimizer`] wrote under `prefix` into `optimizer`.
///
/// # Errors
/// A missing or mis-shaped entry, named; buffers that cannot belong to `optimizer`.
pub fn load_optimizer<F: Float>(
    optimizer: &mut dyn Optimizer<F>,
    prefix: &str,
    state: &mut StateDict<F>,
) -> Result<()> {
    let steps = state.take_counter(&format!("{prefix}steps"))?;
    let count = state.take_counter(&format!("{prefix}buffers"))?;
    let limit = state.len() as u64;
    if count > limit {
        return Err(state_error(
            &format!("{prefix}buffers"),
            format!("claims {count} buffers, the saved state has {limit} entries in all"),
        ));
    }
    let buffers = (0..count)
        .map(|k| state.take_tensor(&format!("{prefix}buffer.{k}"), None))
        .collect::<Result<Vec<_>>>()?;
    optimizer
        .load_state(OptimizerState { steps, buffers })
        .map_err(|e| state_error(&format!("{prefix}buffer.*"), format!("{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_checks_presence_kind_shape_and_finiteness() {
        let mut s = StateDict::<f64>::new();
        s.put_tensor("a", Tensor::zeros(vec![2, 3]));
        s.put_counter("n", 7);
        s.put_tensor("bad", Tensor::from_elem(vec![1], f64::NAN));
        let err = s.clone().take_tensor("a", Some(&[3, 2])).unwrap_err();
        assert!(err.to_string().contains("'a'") && err.to_string().contains("[2, 3]"));
        assert!(s.clone().take_tensor("missing", None).is_err());
        assert!(s.clone().take_tensor("n", None).is_err());
        assert!(s.clone().take_counters("a", 1).is_err());
        assert!(s.clone().take_counters("n", 2).is_err());
        let err = s.clone().take_tensor("bad", None).unwrap_err();
        assert!(err.to_string().contains("'bad'"), "{err}");
        assert_eq!(s.take_counter("n").unwrap(), 7);
        assert_eq!(s.take_tensor("a", Some(&[2, 3])).unwrap().shape(), [2, 3]);
        let err = s.finish().unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
    }

    #[test]
    fn prefixes_are_found() {
        let mut s = StateDict::<f32>::new();
        s.put_counter("stage1.steps", 1);
        assert!(s.has_prefix("stage1."));
        assert!(!s.has_prefix("stage2."));
        assert!(!s.has_prefix("stage1.x"));
    }
}
