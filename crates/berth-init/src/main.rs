//! `berth-init`, mounted into `--init` containers as `/sbin/docker-init`.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(berth_init::main_with_args(args));
}
