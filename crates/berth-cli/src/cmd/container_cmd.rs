//! `berth container <verb>`: docker's container management command. Every verb reuses the
//! top-level command's arguments and handler, so `berth container ls` is `berth ps`.

use crate::client::Client;
use crate::cmd;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// Attach local standard input, output, and error streams to a running container
    Attach(cmd::run::AttachArgs),
    /// Create a new image from a container's changes
    Commit(cmd::image_archive::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cmd::cp::CpArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(cmd::run::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(cmd::filesystem::DiffArgs),
    /// Execute a command in a running container
    Exec(cmd::exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(cmd::filesystem::ExportArgs),
    /// Display detailed information on one or more containers
    Inspect(cmd::container::InspectArgs),
    /// Kill one or more running containers
    Kill(cmd::container::KillArgs),
    /// Fetch the logs of a container
    Logs(cmd::container::LogsArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(cmd::container::PsArgs),
    /// Pause all processes within one or more containers
    Pause(cmd::lifecycle::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(cmd::port::PortArgs),
    /// Remove all stopped containers
    Prune(cmd::prune::ContainerPruneArgs),
    /// Rename a container
    Rename(cmd::lifecycle::RenameArgs),
    /// Restart one or more containers
    Restart(cmd::container::StopArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(cmd::container::RmArgs),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(cmd::run::RunArgs),
    /// Start one or more stopped containers
    Start(cmd::run::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(cmd::stats::StatsArgs),
    /// Stop one or more running containers
    Stop(cmd::container::StopArgs),
    /// Display the running processes of a container
    Top(cmd::lifecycle::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(cmd::lifecycle::PauseArgs),
    /// Update configuration of one or more containers
    Update(cmd::update::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(cmd::container::WaitArgs),
}

pub async fn container(client: &Client, c: ContainerCmd) -> anyhow::Result<i32> {
    match c {
        ContainerCmd::Attach(a) => cmd::run::attach_cmd(client, a).await,
        ContainerCmd::Commit(a) => cmd::image_archive::commit(client, a).await,
        ContainerCmd::Cp(a) => cmd::cp::cp(client, a).await,
        ContainerCmd::Create(a) => cmd::run::create(client, a).await,
        ContainerCmd::Diff(a) => cmd::filesystem::diff(client, a).await,
        ContainerCmd::Exec(a) => cmd::exec::exec(client, a).await,
        ContainerCmd::Export(a) => cmd::filesystem::export(client, a).await,
        // `container inspect` looks up containers only, as `inspect --type container`.
        ContainerCmd::Inspect(mut a) => {
            a.kind = Some(cmd::container::ObjectType::Container);
            cmd::container::inspect(client, a).await
        }
        ContainerCmd::Kill(a) => cmd::container::kill(client, a).await,
        ContainerCmd::Logs(a) => cmd::container::logs(client, a).await,
        ContainerCmd::Ls(a) => cmd::container::ps(client, a).await,
        ContainerCmd::Pause(a) => cmd::lifecycle::pause(client, a).await,
        ContainerCmd::Port(a) => cmd::port::port(client, a).await,
        ContainerCmd::Prune(a) => cmd::prune::container_prune(client, a).await,
        ContainerCmd::Rename(a) => cmd::lifecycle::rename(client, a).await,
        ContainerCmd::Restart(a) => cmd::container::stop(client, a, "restart").await,
        ContainerCmd::Rm(a) => cmd::container::rm(client, a).await,
        ContainerCmd::Run(a) => cmd::run::run(client, a).await,
        ContainerCmd::Start(a) => cmd::run::start(client, a).await,
        ContainerCmd::Stats(a) => cmd::stats::stats(client, a).await,
        ContainerCmd::Stop(a) => cmd::container::stop(client, a, "stop").await,
        ContainerCmd::Top(a) => cmd::lifecycle::top(client, a).await,
        ContainerCmd::Unpause(a) => cmd::lifecycle::unpause(client, a).await,
        ContainerCmd::Update(a) => cmd::update::update(client, a).await,
        ContainerCmd::Wait(a) => cmd::container::wait(client, a).await,
    }
}
