//! locus-sched
