use rand::SeedableRng;

/// The random generator used everywhere in locus: ChaCha8, whose stream is fixed by its
/// seed on every platform and version, so a seed reproduces a run bit for bit.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A [`SeededRng`] from a `u64` seed.
pub fn seeded_rng(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}
