//! Stages on MPI ranks: the [`Mpi`] scheduler (cargo feature `mpi`), which stages each
//! rank runs ([`stage_placement`]), and the bytes of its
//! messages ([`wire`], compiled without the feature too: the tests check its format, and
//! the simulated scheduler charges a link for a message's encoded length).

mod placement;
#[cfg(feature = "mpi")]
mod ranks;
// Without the feature, only the tests encode and decode; the simulator takes lengths.
#[cfg_attr(not(any(test, feature = "mpi")), allow(dead_code))]
pub(crate) mod wire;

pub use placement::stage_placement;
#[cfg(feature = "mpi")]
pub use ranks::Mpi;
