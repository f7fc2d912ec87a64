//! Links `berthd` and `berth` as position-dependent executables.
//!
//! Every container has its own shim, which is `berthd` re-executed. A PIE binary of this
//! size has ~700 KiB of `.data.rel.ro` that the loader must relocate, so each shim would
//! dirty (and privately own) those pages; linked at a fixed address they stay clean and
//! shared, which is most of a shim's memory. Docker's, containerd's and runc's Go binaries
//! are position-dependent too.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
