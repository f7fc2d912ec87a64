//! The `berth` command tree: a client of the Docker Engine API with Docker's command
//! names, flags, output formats and exit codes.
#![forbid(unsafe_code)]

pub mod client;
pub mod cmd;
pub mod errors;
pub mod format;
pub mod opts;
pub mod ports;
pub mod secopts;
pub mod stream;
pub mod template;
pub mod tty;
pub mod types;

use clap::{Parser, Subcommand};
use client::Client;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long, global = true, value_name = "list")]
    pub host: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show the Berth version information
    Version(cmd::system::VersionArgs),
    /// Display system-wide information
    Info(cmd::system::InfoArgs),
    /// Get real time events from the server
    Events(cmd::events::EventsArgs),
    /// Manage Berth
    #[command(subcommand)]
    System(cmd::system::SystemCmd),
    /// Build an image from a Dockerfile
    Build(cmd::build::BuildArgs),
    /// Download an image from a registry
    Pull(cmd::distribution::PullArgs),
    /// Upload an image to a registry
    Push(cmd::distribution::PushArgs),
    /// Log in to a registry
    Login(cmd::distribution::LoginArgs),
    /// Log out from a registry
    Logout(cmd::distribution::LogoutArgs),
    /// Search registries for images
    Search(cmd::distribution::SearchArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(cmd::image::ImportArgs),
    /// List images
    Images(cmd::image::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(cmd::image_verbs::TagArgs),
    /// Remove one or more images
    Rmi(cmd::image_verbs::RmiArgs),
    /// Show the history of an image
    History(cmd::image_verbs::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(cmd::image_archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(cmd::image_archive::LoadArgs),
    /// Create a new image from a container's changes
    Commit(cmd::image_archive::CommitArgs),
    /// Manage images
    #[command(subcommand)]
    Image(cmd::image_verbs::ImageCmd),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(cmd::run::RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(cmd::run::CreateArgs),
    /// Start one or more stopped containers
    Start(cmd::run::StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(cmd::run::AttachArgs),
    /// List containers
    Ps(cmd::container::PsArgs),
    /// Fetch the logs of a container
    Logs(cmd::container::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(cmd::container::WaitArgs),
    /// Stop one or more running containers
    Stop(cmd::container::StopArgs),
    /// Kill one or more running containers
    Kill(cmd::container::KillArgs),
    /// Restart one or more containers
    Restart(cmd::container::StopArgs),
    /// Remove one or more containers
    Rm(cmd::container::RmArgs),
    /// Return low-level information on Berth objects
    Inspect(cmd::container::InspectArgs),
    /// Execute a command in a running container
    Exec(cmd::exec::ExecArgs),
    /// Pause all processes within one or more containers
    Pause(cmd::lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(cmd::lifecycle::PauseArgs),
    /// Rename a container
    Rename(cmd::lifecycle::RenameArgs),
    /// Display the running processes of a container
    Top(cmd::lifecycle::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(cmd::stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(cmd::update::UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(cmd::port::PortArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(cmd::network::NetworkCmd),
    /// Copy files/folders between a container and the local filesystem
    Cp(cmd::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(cmd::filesystem::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(cmd::filesystem::DiffArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(cmd::container_cmd::ContainerCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(cmd::volume::VolumeCmd),
}

async fn dispatch(client: Client, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Version(a) => cmd::system::version(&client, a).await,
        Cmd::Info(a) => cmd::system::info(&client, a).await,
        Cmd::Events(a) => cmd::events::events(&client, a).await,
        Cmd::System(c) => cmd::system::system(&client, c).await,
        Cmd::Build(a) => cmd::build::build(&client, a).await,
        Cmd::Pull(a) => cmd::distribution::pull(&client, a).await,
        Cmd::Push(a) => cmd::distribution::push(&client, a).await,
        Cmd::Login(a) => cmd::distribution::login(&client, a).await,
        Cmd::Logout(a) => cmd::distribution::logout(&client, a).await,
        Cmd::Search(a) => cmd::distribution::search(&client, a).await,
        Cmd::Import(a) => cmd::image::import(&client, a).await,
        Cmd::Images(a) => cmd::image::images(&client, a).await,
        Cmd::Tag(a) => cmd::image_verbs::tag(&client, a).await,
        Cmd::Rmi(a) => cmd::image_verbs::rmi(&client, a).await,
        Cmd::History(a) => cmd::image_verbs::history(&client, a).await,
        Cmd::Save(a) => cmd::image_archive::save(&client, a).await,
        Cmd::Load(a) => cmd::image_archive::load(&client, a).await,
        Cmd::Commit(a) => cmd::image_archive::commit(&client, a).await,
        Cmd::Image(c) => cmd::image_verbs::image(&client, c).await,
        Cmd::Run(a) => cmd::run::run(&client, a).await,
        Cmd::Create(a) => cmd::run::create(&client, a).await,
        Cmd::Start(a) => cmd::run::start(&client, a).await,
        Cmd::Attach(a) => cmd::run::attach_cmd(&client, a).await,
        Cmd::Ps(a) => cmd::container::ps(&client, a).await,
        Cmd::Logs(a) => cmd::container::logs(&client, a).await,
        Cmd::Wait(a) => cmd::container::wait(&client, a).await,
        Cmd::Stop(a) => cmd::container::stop(&client, a, "stop").await,
        Cmd::Restart(a) => cmd::container::stop(&client, a, "restart").await,
        Cmd::Kill(a) => cmd::container::kill(&client, a).await,
        Cmd::Rm(a) => cmd::container::rm(&client, a).await,
        Cmd::Inspect(a) => cmd::container::inspect(&client, a).await,
        Cmd::Exec(a) => cmd::exec::exec(&client, a).await,
        Cmd::Pause(a) => cmd::lifecycle::pause(&client, a).await,
        Cmd::Unpause(a) => cmd::lifecycle::unpause(&client, a).await,
        Cmd::Rename(a) => cmd::lifecycle::rename(&client, a).await,
        Cmd::Top(a) => cmd::lifecycle::top(&client, a).await,
        Cmd::Stats(a) => cmd::stats::stats(&client, a).await,
        Cmd::Update(a) => cmd::update::update(&client, a).await,
        Cmd::Port(a) => cmd::port::port(&client, a).await,
        Cmd::Network(c) => cmd::network::network(&client, c).await,
        Cmd::Cp(a) => cmd::cp::cp(&client, a).await,
        Cmd::Export(a) => cmd::filesystem::export(&client, a).await,
        Cmd::Diff(a) => cmd::filesystem::diff(&client, a).await,
        Cmd::Container(c) => cmd::container_cmd::container(&client, c).await,
        Cmd::Volume(c) => cmd::volume::volume(&client, c).await,
    }
}

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main() -> i32 {
    main_with(std::env::args_os())
}

pub fn main_with<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return 0;
            }
            // docker: flag errors of run/create exit 125, of other commands 1.
            let mut words = args
                .iter()
                .skip(1)
                .filter(|a| !a.to_string_lossy().starts_with('-'));
            let mut verb = words.next();
            if verb.is_some_and(|v| v == "container") {
                verb = words.next();
            }
            let is_run = verb.is_some_and(|v| v == "run" || v == "create");
            return if is_run { 125 } else { 1 };
        }
    };
    let client = match Client::new(&client::resolve_host(cli.host.as_deref())) {
        Ok(c) => c,
        Err(e) => return errors::report(&e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(async move {
        match dispatch(client, cli.cmd).await {
            Ok(code) => code,
            Err(e) => errors::report(&e),
        }
    });
    // A thread blocked reading stdin must not hold the exit up.
    rt.shutdown_background();
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(argv: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn run_flags_parse_like_docker() {
        let Cmd::Run(r) = parse(&[
            "run",
            "-it",
            "--sig-proxy=false",
            "-h",
            "box",
            "--rm",
            "img",
            "sh",
            "-c",
            "x",
            "--rm",
        ])
        .cmd
        else {
            panic!("not run")
        };
        assert!(r.opts.interactive && r.opts.tty && r.rm && !r.sig_proxy);
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        assert_eq!(r.args, ["img", "sh", "-c", "x", "--rm"]);
        let Cmd::Run(r) = parse(&[
            "-H",
            "unix:///x",
            "run",
            "-d",
            "--detach-keys",
            "ctrl-x",
            "img",
        ])
        .cmd
        else {
            panic!("not run")
        };
        assert!(r.detach && r.sig_proxy);
        assert_eq!(r.detach_keys.as_deref(), Some("ctrl-x"));
        let Cmd::Stop(s) = parse(&["stop", "-t", "1", "-s", "SIGKILL", "a", "b"]).cmd else {
            panic!("not stop")
        };
        assert_eq!(
            (s.time, s.signal.as_deref(), s.containers.len()),
            (Some(1), Some("SIGKILL"), 2)
        );
        let Cmd::Logs(l) = parse(&["logs", "-f", "--tail", "5", "-t", "c"]).cmd else {
            panic!("not logs")
        };
        assert!(l.follow && l.timestamps && l.tail == "5");
        let Cmd::Exec(e) = parse(&["exec", "-it", "c", "sh", "-c", "x", "-d"]).cmd else {
            panic!("not exec")
        };
        assert!(e.interactive && e.tty && !e.detach);
        assert_eq!(e.args, ["c", "sh", "-c", "x", "-d"]);
        let Cmd::Top(t) = parse(&["top", "c", "-eo", "pid,comm"]).cmd else {
            panic!("not top")
        };
        assert_eq!(t.args, ["c", "-eo", "pid,comm"]);
        let Cmd::Rename(r) = parse(&["rename", "a", "b"]).cmd else {
            panic!("not rename")
        };
        assert_eq!((r.old.as_str(), r.new.as_str()), ("a", "b"));
    }

    #[test]
    fn attach_container_and_prune_verbs_parse_like_docker() {
        let Cmd::Attach(a) = parse(&["attach", "c1"]).cmd else {
            panic!("not attach")
        };
        assert!(!a.no_stdin && a.sig_proxy && a.detach_keys.is_none());
        assert_eq!(a.container, "c1");
        let Cmd::Attach(a) = parse(&[
            "attach",
            "--no-stdin",
            "--sig-proxy=false",
            "--detach-keys",
            "ctrl-a",
            "c1",
        ])
        .cmd
        else {
            panic!("not attach")
        };
        assert!(a.no_stdin && !a.sig_proxy);
        assert_eq!(a.detach_keys.as_deref(), Some("ctrl-a"));
        assert!(Cli::try_parse_from(["berth", "attach"]).is_err());
        assert!(Cli::try_parse_from(["berth", "attach", "a", "b"]).is_err());

        use cmd::container_cmd::ContainerCmd as C;
        // The list verb and its aliases take `ps`'s flags.
        for verb in ["ls", "ps", "list"] {
            let Cmd::Container(C::Ls(p)) = parse(&["container", verb, "-a", "-q"]).cmd else {
                panic!("not container {verb}")
            };
            assert!(p.all && p.quiet, "{verb}");
        }
        let Cmd::Container(C::Run(r)) =
            parse(&["container", "run", "--rm", "img", "sh", "-c", "x"]).cmd
        else {
            panic!("not container run")
        };
        assert!(r.rm);
        assert_eq!(r.args, ["img", "sh", "-c", "x"]);
        let Cmd::Container(C::Restart(s)) = parse(&["container", "restart", "-t", "2", "a"]).cmd
        else {
            panic!("not container restart")
        };
        assert_eq!(s.time, Some(2));
        let Cmd::Container(C::Rm(_)) = parse(&["container", "remove", "-f", "a"]).cmd else {
            panic!("not container rm")
        };
        let Cmd::Container(C::Attach(a)) = parse(&["container", "attach", "--no-stdin", "c"]).cmd
        else {
            panic!("not container attach")
        };
        assert!(a.no_stdin);
        for verb in [
            "create", "start", "stop", "kill", "inspect", "logs", "exec", "pause", "unpause",
            "rename", "top", "stats", "update", "port", "wait", "commit", "diff", "export", "cp",
        ] {
            let argv: &[&str] = match verb {
                "rename" | "cp" | "exec" | "create" => &["container", verb, "a", "b"],
                "stats" => &["container", verb, "--no-stream"],
                "update" => &["container", verb, "--cpus", "1", "a"],
                _ => &["container", verb, "a"],
            };
            assert!(
                Cli::try_parse_from(std::iter::once("berth").chain(argv.iter().copied())).is_ok(),
                "container {verb}"
            );
        }
        let Cmd::Container(C::Prune(p)) = parse(&["container", "prune"]).cmd else {
            panic!("not container prune")
        };
        assert!(!p.force && p.filter.is_empty());
        let Cmd::Container(C::Prune(p)) = parse(&[
            "container",
            "prune",
            "-f",
            "--filter",
            "until=1h",
            "--filter",
            "label=a",
        ])
        .cmd
        else {
            panic!("not container prune")
        };
        assert!(p.force);
        assert_eq!(p.filter, ["until=1h", "label=a"]);

        use cmd::system::SystemCmd as S;
        let Cmd::System(S::Prune(p)) = parse(&["system", "prune"]).cmd else {
            panic!("not system prune")
        };
        assert!(!p.all && !p.force && !p.volumes && p.filter.is_empty());
        let Cmd::System(S::Prune(p)) =
            parse(&["system", "prune", "-af", "--volumes", "--filter", "label=x"]).cmd
        else {
            panic!("not system prune")
        };
        assert!(p.all && p.force && p.volumes);
        assert_eq!(p.filter, ["label=x"]);
    }
}
