//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  storage failure, or anything not classed below
  2  the command line is wrong
  3  invalid input (an argument, a row of a file, the configuration file)
  4  not found (application, mapping, key manager, API, keys)
  5  conflict (the name or the mapping exists, the mapping is not active)
  6  forbidden (not the caller's application, the gate is shut, a policy refuses)
  7  the key manager refused (unknown client, secret not proven, client not usable)
  8  the key manager is unavailable: try again later
  9  some items failed (an import refused: nothing stored; a re-check that could not check
     every mapping; a token the gateway refuses)

Secrets are never read from the command line: --secret-stdin, --secret-env VAR, or a prompt
without echo on a terminal. No output ever contains one.";

/// Operate keyprov: key managers, applications, mapped OAuth2 clients, re-checks, bulk import
/// and export, and the audit trail.
#[derive(Debug, Parser)]
#[command(name = "keyprov", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The native configuration file (key managers and global switches).
    #[arg(
        long,
        global = true,
        env = "KEYPROV_CONFIG",
        default_value = "keyprov.toml"
    )]
    pub config: PathBuf,
    /// Where mappings are stored: an SQLite file (a path, or sqlite:PATH) or
    /// postgres://user@host/db (add ?schema=NAME for a schema other than keyprov).
    #[arg(
        long,
        global = true,
        env = "KEYPROV_STORE",
        default_value = "keyprov.db"
    )]
    pub store: String,
    /// Who acts, recorded on every change: admin:NAME, user:NAME or service:NAME. Default:
    /// admin:$USER.
    // Its id is not `actor`: `audit list --actor` filters by actor, and a global argument
    // would fill a subcommand's argument of the same id.
    #[arg(
        id = "as",
        long = "as",
        global = true,
        env = "KEYPROV_ACTOR",
        value_name = "ACTOR"
    )]
    pub actor: Option<String>,
    /// The request id the audit trail records this command's changes under (default: a new
    /// random one for each run).
    #[arg(long, global = true, env = "KEYPROV_REQUEST_ID")]
    pub request_id: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable tables.
    Table,
    /// One JSON document on standard output.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The configured key managers, with the gate and validation decision for each.
    #[command(name = "key-managers", alias = "kms", subcommand)]
    KeyManagers(KeyManagersCommand),
    /// Applications: create, list, delete.
    #[command(name = "apps", alias = "applications", subcommand)]
    Apps(AppsCommand),
    /// Map an OAuth2 client created at a key manager to an application's keys.
    Map(MapArgs),
    /// An application's keys (mappings).
    Keys(AppArg),
    /// Remove a mapping (the client at the key manager is left untouched).
    Unmap(UnmapArgs),
    /// Obtain a client_credentials token through an application's mapped client.
    Token(TokenArgs),
    /// Re-check mappings against their key managers (ACTIVE, SUSPENDED or ORPHANED).
    Recheck(RecheckArgs),
    /// Explain, step by step, whether the gateway accepts a token for an API and key type.
    Explain(ExplainArgs),
    /// Import mappings from a CSV or JSON Lines file: all or nothing.
    Import(ImportArgs),
    /// Export every mapping in the import format (no secrets).
    Export(ExportArgs),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `key-managers ...`
#[derive(Debug, Subcommand)]
pub enum KeyManagersCommand {
    /// List them, with the gate and validation decision explained.
    List,
}

/// `apps ...`
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an application.
    Create {
        /// Its name, unique per owner.
        name: String,
        /// The user who owns it.
        #[arg(long)]
        owner: String,
        /// The organization (tenant).
        #[arg(long, default_value = "carbon.super")]
        organization: String,
    },
    /// List applications: one owner's, or every one.
    List {
        /// Only this user's applications.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Delete an application with its mappings and subscriptions.
    Delete(AppArg),
}

/// An application, by id, or by name (with `--owner` when several owners use the name).
#[derive(Debug, Args)]
pub struct AppArg {
    /// The application's id or name.
    pub app: String,
    /// The owner, to find the application by name.
    #[arg(long)]
    pub owner: Option<String>,
}

/// Where a secret comes from.
#[derive(Debug, Args)]
pub struct SecretSource {
    /// Read the consumer secret from the first line of standard input.
    #[arg(long, conflicts_with = "secret_env")]
    pub secret_stdin: bool,
    /// Read the consumer secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
}

/// An application's keys of one key type at one key manager.
#[derive(Debug, Args)]
pub struct KeysOf {
    /// The application.
    #[command(flatten)]
    pub app: AppArg,
    /// The key manager, by name.
    #[arg(long)]
    pub key_manager: String,
    /// PRODUCTION or SANDBOX.
    #[arg(long)]
    pub key_type: String,
}

/// `map`
#[derive(Debug, Args)]
pub struct MapArgs {
    /// Which keys.
    #[command(flatten)]
    pub keys: KeysOf,
    /// The client id at the key manager.
    // Generated client ids may start with '-'.
    #[arg(long, allow_hyphen_values = true)]
    pub consumer_key: String,
    /// Where the secret comes from.
    #[command(flatten)]
    pub secret: SecretSource,
    /// Map without a secret (when the key manager allows it).
    #[arg(long, conflicts_with_all = ["secret_stdin", "secret_env"])]
    pub no_secret: bool,
}

/// `unmap`
#[derive(Debug, Args)]
pub struct UnmapArgs {
    /// The application.
    #[command(flatten)]
    pub app: AppArg,
    /// The mapping's id (see `keyprov keys`).
    pub mapping: String,
}

/// `token`
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Which keys.
    #[command(flatten)]
    pub keys: KeysOf,
    /// Scopes to ask for.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Where the secret comes from.
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `recheck`
#[derive(Debug, Args)]
pub struct RecheckArgs {
    /// One mapping's id; or --all.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub mapping: Option<String>,
    /// Every mapping.
    #[arg(long)]
    pub all: bool,
    /// Only the mappings of this key manager (by id).
    #[arg(long, requires = "all")]
    pub key_manager: Option<String>,
    /// How many key-manager calls at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// `explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The API's id.
    #[arg(long)]
    pub api: String,
    /// PRODUCTION or SANDBOX.
    #[arg(long)]
    pub key_type: String,
    /// Read the token from this environment variable (default: standard input).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
}

/// A file format of import and export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated, with a header line.
    Csv,
    /// One JSON object a line.
    Jsonl,
}

/// `import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (`-` for standard input).
    pub file: PathBuf,
    /// The format (default: from the file's extension, `.jsonl` or `.csv`).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Run every check and store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The organization of the applications created.
    #[arg(long, default_value = "carbon.super")]
    pub organization: String,
    /// How many key-manager validations at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// `export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file (default: standard output).
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// The format (default: from the file's extension, else CSV).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
}

/// `audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the records, oldest first.
    List(AuditListArgs),
    /// Delete the records older than a time; by default, the configuration's
    /// `[audit] retention_days`.
    Prune {
        /// An RFC 3339 time (2026-01-31T00:00:00Z) or an age (90d, 12h).
        #[arg(long)]
        older_than: Option<String>,
    },
}

/// `audit list`
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only this application (id or name).
    #[arg(long)]
    pub application: Option<String>,
    /// Only this key manager.
    #[arg(long)]
    pub key_manager: Option<String>,
    /// Only this actor (admin:NAME, user:NAME, service:NAME).
    #[arg(long)]
    pub actor: Option<String>,
    /// From this time: RFC 3339, or an age (90d, 12h, 30m).
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time: RFC 3339, or an age.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_key_may_start_with_a_hyphen() {
        let cli = Cli::try_parse_from([
            "keyprov",
            "map",
            "PizzaApp",
            "--key-manager",
            "IS",
            "--key-type",
            "PRODUCTION",
            "--consumer-key",
            "-STEEXcjvnbMQ",
            "--secret-stdin",
        ])
        .unwrap();
        let Command::Map(map) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(map.consumer_key, "-STEEXcjvnbMQ");
        assert!(map.secret.secret_stdin);
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
