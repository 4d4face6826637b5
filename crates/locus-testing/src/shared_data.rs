//! Where tests find the real data sets (MNIST, MNIST-1D).
//!
//! `$LOCUS_DATA/<name>` when `LOCUS_DATA` is set, otherwise `../shared/data/<name>` beside
//! the workspace checkout. Under CI (`CI` set to anything but `false`/`0`) a missing
//! directory is a test failure, never a silent skip.

use std::path::PathBuf;

/// Whether we are running under CI.
pub fn under_ci() -> bool {
    std::env::var("CI")
        .map(|v| !(v.is_empty() || v == "false" || v == "0"))
        .unwrap_or(false)
}

/// The directory of the named data set (`"mnist"`, `"mnist1d"`), if present.
///
/// # Panics
/// Under CI, when the directory does not exist: data-dependent tests must fail there.
pub fn shared_data_dir(name: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("LOCUS_DATA") {
        Some(root) => PathBuf::from(root).join(name),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data")
            .join(name),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !under_ci(),
        "data set {name:?} not found at {}: CI must have ../shared/data beside the checkout \
         (or LOCUS_DATA set)",
        dir.display()
    );
    eprintln!(
        "skipping: data set {name:?} not found at {} (set LOCUS_DATA)",
        dir.display()
    );
    None
}
