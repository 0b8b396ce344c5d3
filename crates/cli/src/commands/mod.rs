//! One module per group of commands; each command decodes its flags, makes its API calls
//! through the client and prints Docker's output.

pub mod events;
pub mod images;
pub mod inspect;
pub mod system;
pub mod transfer;
pub mod volumes;

use crate::args::{Cli, Command, ImageCommand, VolumeCommand};
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
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => {
            transfer::load(&target, a).await
        }
        Command::Volume(VolumeCommand::Create(a)) => volumes::create(&target, a).await,
        Command::Volume(VolumeCommand::Ls(a)) => volumes::list(&target, a).await,
        Command::Volume(VolumeCommand::Inspect(a)) => volumes::inspect(&target, a).await,
        Command::Volume(VolumeCommand::Rm(a)) => volumes::remove(&target, a).await,
        Command::Volume(VolumeCommand::Prune(a)) => volumes::prune(&target, a).await,
        Command::Events(a) => events::run(&target, a).await,
        Command::Daemon(_) => anyhow::bail!("the daemon is started by the berth binary itself"),
    }
}
