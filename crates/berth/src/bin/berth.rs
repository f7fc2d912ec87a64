//! The `berth` CLI; everything lives in `berth-cli` so it can be tested as a library.

fn main() {
    std::process::exit(berth_cli::main())
}
