//! locus-data
