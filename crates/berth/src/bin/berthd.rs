//! The daemon binary; also the per-container shim when invoked as `berthd shim ...`.

use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The shim must start before any thread exists: libcontainer clones from it.
    if args.get(1).map(String::as_str) == Some("shim") {
        berth_runtime::shim_main(args[2..].to_vec());
    }
    let flags = berth::daemon::Flags::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(berth::daemon::run(flags)) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}
