//! The daemon binary; also the per-container shim when invoked as `berthd shim ...`.

use clap::Parser;
use std::path::PathBuf;

/// `berthd check`: a consistency check of a stopped daemon's store.
#[derive(Parser, Debug)]
#[command(
    name = "berthd check",
    about = "Check the store of a stopped berthd; exit 0 when clean, 1 when problems remain, 2 when it cannot check"
)]
struct CheckFlags {
    /// Remove orphan and corrupt blobs, orphan snapshots and crash leftovers.
    #[arg(long)]
    repair: bool,
    /// Root of persistent state.
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
}

fn check(args: &[String]) -> i32 {
    let flags = CheckFlags::parse_from(
        std::iter::once("berthd check").chain(args.iter().map(String::as_str)),
    );
    let report = match berth_store::Store::check(&flags.data_root, flags.repair) {
        Ok(r) => r,
        Err(e @ berth_store::StoreError::Locked(_)) => {
            eprintln!(
                "berthd check: {e}: a berthd is running on {}; stop it first",
                flags.data_root.display()
            );
            return 2;
        }
        Err(e) => {
            eprintln!("berthd check: {}: {e}", flags.data_root.display());
            return 2;
        }
    };
    for f in &report.findings {
        println!("{f}");
    }
    println!("{}", report.summary());
    if report.is_clean() {
        0
    } else {
        1
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The shim must start before any thread exists: libcontainer clones from it.
    if args.get(1).map(String::as_str) == Some("shim") {
        berth_runtime::shim_main(args[2..].to_vec());
    }
    if args.get(1).map(String::as_str) == Some("check") {
        std::process::exit(check(&args[2..]));
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
