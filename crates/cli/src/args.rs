//! The command line, declared with clap. Names, flags and defaults copy Docker's so scripts and
//! habits carry over; only the global options differ (`--root` exists because the CLI can start
//! its own daemon).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

mod container;
mod network;
pub use container::*;
pub use network::*;

/// Default daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// The socket a daemon on `root` listens on when no host is given: the system socket for the
/// default root, `<root>/berth.sock` for any other, so two roots never fight over one socket
/// and a CLI given only `--root` finds (or starts) the daemon of that root.
pub fn default_host_for(root: &std::path::Path) -> String {
    if root == std::path::Path::new(DEFAULT_ROOT) {
        DEFAULT_HOST.to_string()
    } else {
        format!("unix://{}", root.join("berth.sock").display())
    }
}

/// `berth [OPTIONS] COMMAND`.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine in one binary",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to (`unix:///path/to.sock`)
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// State root of the daemon the CLI starts when none is running
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,
    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the Berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCommand),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Return low-level information on Berth objects
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Search a registry for images
    Search(SearchArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Run the daemon
    Daemon(DaemonArgs),
    /// Run an OCI distribution registry
    #[command(subcommand)]
    Registry(RegistryCommand),
}

/// `berth registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve an OCI distribution registry (auth, TLS, online garbage collection)
    Serve(RegistryServeArgs),
}

/// Options of `berth registry serve`; handed to the binary, which runs the server.
#[derive(Debug, Clone, Args)]
pub struct RegistryServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "HOST:PORT")]
    pub addr: String,
    /// Where blobs, manifests and uploads are kept
    #[arg(long, default_value = "/var/lib/berth-registry", value_name = "DIR")]
    pub root: PathBuf,
    /// Accounts, as an htpasswd file with bcrypt hashes (`htpasswd -B`); without it pushes are
    /// refused
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Per-repository rules: a JSON list of {"account","repository","actions"} (default: every
    /// account may do everything)
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// Let anyone pull, even with accounts
    #[arg(long)]
    pub anonymous_pull: bool,
    /// TLS certificate (PEM); with --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// `self-signed`: make a certificate once under the root and print how to trust it
    #[arg(long, value_name = "MODE", value_parser = ["self-signed"], conflicts_with = "tls_cert")]
    pub tls: Option<String>,
    /// Require client certificates signed by this CA (PEM; mutual TLS)
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Hand out bearer tokens at /token instead of checking passwords on each request
    #[arg(long)]
    pub token: bool,
    /// The token realm URL to advertise (default: this server's /token)
    #[arg(long, value_name = "URL", requires = "token")]
    pub token_realm: Option<String>,
    /// Seconds a token is valid
    #[arg(
        long,
        default_value_t = 300,
        value_name = "SECONDS",
        requires = "token"
    )]
    pub token_ttl: u64,
    /// Refuse every write
    #[arg(long)]
    pub read_only: bool,
    /// Seconds between garbage collections (0: never)
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub gc_interval: u64,
    /// Seconds an unreferenced blob is kept for a push still in flight
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub gc_grace: u64,
    /// Log level (error, warn, info, debug, trace)
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

/// `berth volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

/// `volume create`.
#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Volume name (generated when omitted)
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

/// `volume ls`.
#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_parser = filter_arg)]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a template)
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (unix seconds, RFC 3339 or a duration like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_parser = filter_arg)]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
}

/// `volume inspect`.
#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Volumes to inspect
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `volume rm`.
#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Volumes to remove
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `volume prune`.
#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_parser = filter_arg)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Make a Debian base image from the archive's signed packages (debootstrap)
    Bootstrap(BootstrapArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", alias = "rmi")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
}

/// Options of `berth daemon`; handed to the binary's daemon entry point.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Root directory of persistent state
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,
    /// Socket to listen on [default: unix:///run/berth/berth.sock, or ROOT/berth.sock when
    /// --root is not the default]
    #[arg(long, env = "BERTH_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// Log level: error, warn, info, debug or trace
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Snapshotter for unpacked images
    #[arg(long, default_value = "overlay2", value_parser = ["overlay2", "copy"])]
    pub snapshotter: String,
    /// Linux bridge of the default `bridge` network (Docker's `docker0`).
    #[arg(long, default_value = "berth0", value_name = "NAME")]
    pub bridge: String,
    /// Subnet of the default network, e.g. 172.17.0.0/16 (default: the first free pool).
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,
    /// Where the host resolver for container names (`web.berth`) listens; `none` disables it.
    #[arg(long, default_value = "127.0.0.153:53", value_name = "ADDR:PORT")]
    pub dns_listen: String,
    /// Suffix of container names on the host (`web.berth`).
    #[arg(long, default_value = "berth", value_name = "DOMAIN")]
    pub dns_suffix: String,
    /// Largest build context (uncompressed bytes) a build may send.
    #[arg(long, default_value_t = 8 << 30, value_name = "BYTES")]
    pub build_context_limit: u64,
    /// Bytes of layers the build cache keeps; the least recently used go first.
    #[arg(long, default_value_t = 10 << 30, value_name = "BYTES")]
    pub build_cache_max: u64,
    /// A registry (host[:port], or a CIDR its address is in) that may be spoken to in plain
    /// HTTP; repeatable (loopback registries always may).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]|CIDR", value_parser = insecure_registry)]
    pub insecure_registries: Vec<String>,
    /// A registry (host[:port], `docker.io` for Docker Hub) never contacted: pulls and pushes
    /// of its names fail at once (mirrors are still used); repeatable, like the `blocked`
    /// setting of containers-registries.conf.
    #[arg(long = "blocked-registry", value_name = "HOST[:PORT]")]
    pub blocked_registries: Vec<String>,
    /// A registry mirror (`http://127.0.0.1:5000`) Docker Hub's images are pulled from first;
    /// repeatable, tried in order.
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// A directory of per-registry certificates (`<dir>/<host[:port]>/ca.crt`, `client.cert`,
    /// `client.key`); repeatable (default: /etc/berth/certs.d, then /etc/docker/certs.d).
    #[arg(long = "registry-certs-dir", value_name = "DIR")]
    pub registry_certs_dirs: Vec<std::path::PathBuf>,
    /// Layers one pull downloads at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_concurrent_downloads: usize,
    /// Layers one push uploads at once.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_concurrent_uploads: usize,
    /// Tool for the NAT and filter rules: auto (nftables, or iptables where `nft` is absent),
    /// nftables or iptables.
    #[arg(long, default_value = "auto", value_parser = ["auto", "nftables", "iptables"])]
    pub firewall: String,
}

impl DaemonArgs {
    /// The socket to serve: `--host`, or the root's default.
    pub fn host_or_default(&self) -> String {
        self.host
            .clone()
            .unwrap_or_else(|| default_host_for(&self.root))
    }
}

/// `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// Checks a `--filter` value's shape at parse time, as Docker does.
fn filter_arg(s: &str) -> Result<String, String> {
    if s.contains('=') {
        Ok(s.to_string())
    } else {
        Err("bad format of filter (expected name=value)".to_string())
    }
}

/// `images` / `image ls`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_parser = filter_arg)]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a template)
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only images matching this reference
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// Top-level `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' for JSON)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of this type
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Objects to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a template)
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(
        short = 'H',
        long,
        default_value = "true",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Image
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// `pull [OPTIONS] NAME[:TAG|@DIGEST]`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// The image
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

/// `search [OPTIONS] TERM`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long)]
    pub limit: Option<usize>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// What to search for (`host[:port]/text` for a private registry)
    #[arg(value_name = "TERM")]
    pub term: String,
}

/// `push [OPTIONS] NAME[:TAG]`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The image
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
}

/// `login [OPTIONS] [SERVER]`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: a password in argv is visible to every user)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (Docker Hub when absent)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `logout [SERVER]`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when absent)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// New reference
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// `rmi` / `image rm`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    /// Images to remove
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// `image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_parser = filter_arg)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Tarball to import, or `-` for STDIN
    #[arg(value_name = "file|-")]
    pub source: String,
    /// Name for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `build [OPTIONS] PATH | URL | -`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the name:tag format (several allowed)
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; `-` reads it from stdin)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables (NAME=value, or NAME to take it from the environment)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image (key=value)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Set target platform for build
    #[arg(long)]
    pub platform: Option<String>,
    /// Secret to expose to the build (id=mysecret,src=/local/secret)
    #[arg(long)]
    pub secret: Vec<String>,
    /// Type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Remove intermediate containers after a successful build (always done)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Build context: a directory, a tar archive, or `-` for stdin
    pub context: String,
}

/// `image bootstrap [--suite S] [--include P,...] [--variant V] [--mirror URL] NAME[:TAG]`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Debian suite to install
    #[arg(long, default_value = "bookworm")]
    pub suite: String,
    /// Packages to add to the variant's set (comma-separated, or the flag repeated)
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<String>,
    /// debootstrap's variant (minbase: essential packages and apt)
    #[arg(long, default_value = "minbase")]
    pub variant: String,
    /// Mirror to install from (default: the one apt is configured with on this host)
    #[arg(long)]
    pub mirror: Option<String>,
    /// Keyring that signs the archive (default: Debian's, from debian-archive-keyring)
    #[arg(long)]
    pub keyring: Option<PathBuf>,
    /// Print only the import's output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Name of the image
    #[arg(value_name = "NAME[:TAG]")]
    pub reference: String,
}

/// `builder ...`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `builder prune`.
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just intermediate steps
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. `until=24h`)
    #[arg(long = "filter")]
    pub filters: Vec<String>,
    /// Amount of disk space to keep for cache (bytes, or with a unit: 512mb, 2gb)
    #[arg(long)]
    pub keep_storage: Option<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// An `--insecure-registry` value, refused at start when malformed; a scheme in front is
/// dropped with a warning, as Docker does.
fn insecure_registry(value: &str) -> Result<String, String> {
    let bare = berth_registry::auth::normalize_insecure(value)?;
    if bare != value {
        eprintln!("WARNING: insecure registry {value} should not contain a scheme; using {bare}");
    }
    Ok(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn image_ls_with_filters() {
        let cli = parse(&[
            "image",
            "ls",
            "-a",
            "--filter",
            "dangling=true",
            "-f",
            "label=a=b",
        ]);
        let Command::Image(ImageCommand::Ls(a)) = cli.command else {
            panic!("{cli:?}")
        };
        assert!(a.all);
        assert_eq!(a.filter, ["dangling=true", "label=a=b"]);
        let cli = parse(&["image", "list", "-q", "busybox"]);
        let Command::Image(ImageCommand::Ls(a)) = cli.command else {
            panic!()
        };
        assert!(a.quiet);
        assert_eq!(a.reference.as_deref(), Some("busybox"));
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        assert!(Cli::try_parse_from(["berth", "images", "--filter", "bogus"]).is_err());
    }

    #[test]
    fn history_human_flag() {
        let Command::History(h) = parse(&["history", "busybox"]).command else {
            panic!()
        };
        assert!(h.human);
        let Command::History(h) = parse(&["history", "--human=false", "busybox"]).command else {
            panic!()
        };
        assert!(!h.human);
        let Command::History(h) = parse(&["history", "-H", "busybox"]).command else {
            panic!()
        };
        assert!(h.human);
    }

    #[test]
    fn global_host_and_rmi_aliases() {
        let cli = parse(&[
            "-H",
            "unix:///tmp/x.sock",
            "image",
            "remove",
            "-f",
            "a",
            "b",
        ]);
        assert_eq!(cli.host.as_deref(), Some("unix:///tmp/x.sock"));
        let Command::Image(ImageCommand::Rm(r)) = cli.command else {
            panic!()
        };
        assert!(r.force);
        assert_eq!(r.names, ["a", "b"]);
    }

    #[test]
    fn import_changes_repeat() {
        let cli = parse(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "--change",
            "ENV A=1",
            "-m",
            "hi",
            "-",
            "foo:1",
        ]);
        let Command::Import(i) = cli.command else {
            panic!()
        };
        assert_eq!(i.change, ["CMD [\"sh\"]", "ENV A=1"]);
        assert_eq!(i.message.as_deref(), Some("hi"));
        assert_eq!(i.source, "-");
        assert_eq!(i.reference.as_deref(), Some("foo:1"));
    }

    #[test]
    fn daemon_args() {
        let Command::Daemon(d) = parse(&[
            "daemon",
            "--root",
            "/tmp/r",
            "--host",
            "unix:///tmp/r/s.sock",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(d.root, PathBuf::from("/tmp/r"));
        assert_eq!(d.snapshotter, "overlay2");
        assert_eq!(d.log_level, "info");
        assert!(Cli::try_parse_from(["berth", "daemon", "--snapshotter", "zfs"]).is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// `berth system …`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Make <container>.berth resolve on this host (NSS module, nsswitch.conf, systemd-resolved)
    InstallDns(HostDnsArgs),
    /// Undo install-dns
    UninstallDns(HostDnsArgs),
}

/// `berth system install-dns` / `uninstall-dns`: where the host's name service files are
/// (the defaults are the system's; the flags exist for packaging and tests).
#[derive(Debug, clap::Args)]
pub struct HostDnsArgs {
    /// The NSS module to install (default: libnss_berth.so.2 next to this binary)
    #[arg(long, value_name = "FILE")]
    pub module: Option<std::path::PathBuf>,
    /// Directory glibc loads NSS modules from (default: the one holding libnss_files.so.2)
    #[arg(long, value_name = "DIR")]
    pub lib_dir: Option<std::path::PathBuf>,
    /// The name service switch configuration
    #[arg(long, value_name = "FILE", default_value = "/etc/nsswitch.conf")]
    pub nsswitch: std::path::PathBuf,
}

/// `berth system df`.
#[derive(Debug, clap::Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template ('json' for JSON)
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth system prune`.
#[derive(Debug, clap::Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    pub filter: Vec<String>,
}
