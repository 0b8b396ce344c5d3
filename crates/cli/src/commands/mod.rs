//! One module per group of commands; each command decodes its flags, makes its API calls
//! through the client and prints Docker's output.

pub mod bootstrap;
pub mod build;
pub mod containers;
pub mod cp;
pub mod create;
pub mod df;
pub mod events;
pub mod hostdns;
pub mod images;
pub mod inspect;
pub mod login;
pub mod networks;
pub mod pull;
pub mod run;
pub mod stats;
pub mod system;
pub mod transfer;
pub mod volumes;

use crate::args::{
    BuilderCommand, Cli, Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand,
    VolumeCommand,
};
use crate::autostart::Target;
use anyhow::Result;

/// Runs a parsed command line (anything but `daemon`, which the caller handles).
pub async fn run(cli: Cli) -> Result<()> {
    let target = Target {
        explicit: cli.host.is_some(),
        host: cli
            .host
            .unwrap_or_else(|| crate::args::default_host_for(&cli.root)),
        root: cli.root,
    };
    match cli.command {
        Command::Version(a) => system::version(&target, a).await,
        Command::Info(a) => system::info(&target, a).await,
        Command::System(SystemCommand::Info(a)) => system::info(&target, a).await,
        Command::System(SystemCommand::Df(a)) => df::df(&target, a).await,
        Command::System(SystemCommand::Prune(a)) => system::prune(&target, a).await,
        Command::System(SystemCommand::InstallDns(a)) => hostdns::install(&a),
        Command::System(SystemCommand::UninstallDns(a)) => hostdns::uninstall(&a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&target, a).await,
        Command::Image(ImageCommand::Inspect(a)) => inspect::image(&target, a).await,
        Command::Inspect(a) => inspect::any(&target, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            images::history(&target, a).await
        }
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&target, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&target, a).await,
        Command::Image(ImageCommand::Prune(a)) => images::prune(&target, a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            transfer::import(&target, a).await
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => {
            transfer::save(&target, a).await
        }
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => {
            build::build(&target, a).await
        }
        Command::Builder(BuilderCommand::Prune(a)) => build::prune(&target, a).await,
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::pull(&target, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => pull::push(&target, a).await,
        Command::Search(a) => pull::search(&target, a).await,
        Command::Login(a) => login::login(&target, a).await,
        Command::Logout(a) => login::logout(a).await,
        Command::Image(ImageCommand::Bootstrap(a)) => bootstrap::bootstrap(&target, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => {
            transfer::load(&target, a).await
        }
        Command::Volume(VolumeCommand::Create(a)) => volumes::create(&target, a).await,
        Command::Volume(VolumeCommand::Ls(a)) => volumes::list(&target, a).await,
        Command::Volume(VolumeCommand::Inspect(a)) => volumes::inspect(&target, a).await,
        Command::Volume(VolumeCommand::Rm(a)) => volumes::remove(&target, a).await,
        Command::Volume(VolumeCommand::Prune(a)) => volumes::prune(&target, a).await,
        Command::Network(NetworkCommand::Create(a)) => networks::create(&target, a).await,
        Command::Network(NetworkCommand::Ls(a)) => networks::list(&target, a).await,
        Command::Network(NetworkCommand::Inspect(a)) => networks::inspect(&target, a).await,
        Command::Network(NetworkCommand::Rm(a)) => networks::remove(&target, a).await,
        Command::Network(NetworkCommand::Connect(a)) => networks::connect(&target, a).await,
        Command::Network(NetworkCommand::Disconnect(a)) => networks::disconnect(&target, a).await,
        Command::Network(NetworkCommand::Prune(a)) => networks::prune(&target, a).await,
        Command::Events(a) => events::run(&target, a).await,
        Command::Container(c) => container(&target, c).await,
        Command::Run(a) => run::run(&target, a).await,
        Command::Create(a) => run::create(&target, a).await,
        Command::Start(a) => run::start(&target, a).await,
        Command::Attach(a) => run::attach(&target, a).await,
        Command::Exec(a) => run::exec(&target, a).await,
        Command::Ps(a) => containers::ps(&target, a).await,
        Command::Stop(a) => containers::stop(&target, a).await,
        Command::Kill(a) => containers::kill(&target, a).await,
        Command::Restart(a) => containers::restart(&target, a).await,
        Command::Rm(a) => containers::rm(&target, a).await,
        Command::Logs(a) => containers::logs(&target, a).await,
        Command::Wait(a) => containers::wait(&target, a).await,
        Command::Top(a) => containers::top(&target, a).await,
        Command::Stats(a) => stats::run(&target, a).await,
        Command::Cp(a) => cp::run(&target, a).await,
        Command::Diff(a) => containers::diff(&target, a).await,
        Command::Commit(a) => containers::commit(&target, a).await,
        Command::Export(a) => containers::export(&target, a).await,
        Command::Rename(a) => containers::rename(&target, a).await,
        Command::Pause(a) => containers::pause(&target, a).await,
        Command::Unpause(a) => containers::unpause(&target, a).await,
        Command::Port(a) => containers::port(&target, a).await,
        Command::Update(a) => containers::update(&target, a).await,
        Command::Daemon(_) | Command::Registry(_) => {
            anyhow::bail!("servers are started by the berth binary itself")
        }
    }
}

/// `container <sub>`: the same commands under the management group.
async fn container(target: &Target, c: ContainerCommand) -> Result<()> {
    match c {
        ContainerCommand::Attach(a) => run::attach(target, a).await,
        ContainerCommand::Commit(a) => containers::commit(target, a).await,
        ContainerCommand::Cp(a) => cp::run(target, a).await,
        ContainerCommand::Create(a) => run::create(target, a).await,
        ContainerCommand::Diff(a) => containers::diff(target, a).await,
        ContainerCommand::Exec(a) => run::exec(target, a).await,
        ContainerCommand::Export(a) => containers::export(target, a).await,
        ContainerCommand::Inspect(a) => containers::inspect(target, a).await,
        ContainerCommand::Kill(a) => containers::kill(target, a).await,
        ContainerCommand::Logs(a) => containers::logs(target, a).await,
        ContainerCommand::Ls(a) => containers::ps(target, a).await,
        ContainerCommand::Pause(a) => containers::pause(target, a).await,
        ContainerCommand::Port(a) => containers::port(target, a).await,
        ContainerCommand::Prune(a) => containers::prune(target, a).await,
        ContainerCommand::Rename(a) => containers::rename(target, a).await,
        ContainerCommand::Restart(a) => containers::restart(target, a).await,
        ContainerCommand::Rm(a) => containers::rm(target, a).await,
        ContainerCommand::Run(a) => run::run(target, a).await,
        ContainerCommand::Start(a) => run::start(target, a).await,
        ContainerCommand::Stats(a) => stats::run(target, a).await,
        ContainerCommand::Stop(a) => containers::stop(target, a).await,
        ContainerCommand::Top(a) => containers::top(target, a).await,
        ContainerCommand::Unpause(a) => containers::unpause(target, a).await,
        ContainerCommand::Update(a) => containers::update(target, a).await,
        ContainerCommand::Wait(a) => containers::wait(target, a).await,
    }
}
