//! locus-eval
