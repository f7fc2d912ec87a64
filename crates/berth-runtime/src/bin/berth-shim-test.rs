//! The shim entry point alone, so the integration tests can run a real shim without
//! berthd; berthd calls the same function for `berthd shim`.

fn main() {
    berth_runtime::shim_main(std::env::args().skip(1).collect())
}
