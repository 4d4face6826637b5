//! The `locus` command-line tool: the library's command with the built-in algorithms.

fn main() {
    locus_cli::main_with(Vec::new())
}
