//! Stages on MPI ranks: the [`Mpi`] scheduler (cargo feature `mpi`) and the bytes of its
//! messages ([`wire`], compiled for the tests without the feature too).

#[cfg(feature = "mpi")]
mod ranks;
pub(crate) mod wire;

#[cfg(feature = "mpi")]
pub use ranks::Mpi;
