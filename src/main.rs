//! The `countersign` command line: run the server, migrate, manage accounts, tokens and
//! the bootstrap token offline, verify the audit log, call a method, regenerate schemas.
//! Each subcommand takes only the flags that apply to it: the database flags on those that
//! open the database, the listen flags on `serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use countersign::app::{self, Extra};
use countersign::client::Outcome;
use countersign::clock::Clock;
use countersign::config::{Config, ConfigError, LogFormat, Overrides};
use countersign::db::{Db, Open};
use countersign::error::RpcError;
use countersign::rpc::Api;
use countersign::{client, logging, offline, server};

#[derive(Parser)]
#[command(name = "countersign", version, about = "A JSON-RPC 2.0 action server for consequential actions.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a command that opens the database finds its configuration and its database.
/// Global to the command's own subcommands (`account create --database-url …`).
#[derive(clap::Args)]
struct DbArgs {
    /// A TOML file merged over the embedded default config.
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB [default: the config's
    /// server.database_url, sqlite://countersign.db in the working directory].
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
}

impl DbArgs {
    /// The configuration, with `--database-url` (and, for `serve`, the listen flags) over it.
    fn load(self, listen: Option<SocketAddr>, public_origin: Option<String>) -> Result<Config, ConfigError> {
        let overrides = Overrides { listen, database_url: self.database_url, public_origin };
        Config::load(self.config.as_deref(), &overrides)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM.
    ///
    /// Takes the port first; then creates and migrates the database when needed and, on a
    /// database without accounts, issues the bootstrap token (once per database).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on, such as 127.0.0.1:8080.
        #[arg(long, env = "COUNTERSIGN_LISTEN", value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// The origin browsers use (https://… marks cookies Secure; others fail the CSRF check).
        #[arg(long, env = "COUNTERSIGN_PUBLIC_ORIGIN", value_name = "ORIGIN")]
        public_origin: Option<String>,
    },
    /// Create the database if it is missing, apply pending migrations, and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Accounts, without a running server.
    ///
    /// Like every offline command, it needs an existing, migrated database (`countersign
    /// migrate` or a server start creates one) and creates nothing itself.
    Account {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Permits (roles held by accounts), without a running server.
    ///
    /// Needs an existing, migrated database; creates nothing else.
    Permit {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: PermitCommand,
    },
    /// API tokens, without a running server.
    ///
    /// Needs an existing, migrated database; creates nothing else.
    Token {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log, without a running server.
    ///
    /// Needs an existing, migrated database; creates nothing.
    Audit {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Show the pending bootstrap token (when it expires, where it was written), or replace it.
    ///
    /// A token is issued once per database, by the first server start without accounts;
    /// later starts keep it. `--rotate` issues a new one on purpose. Needs an existing,
    /// migrated database.
    BootstrapToken {
        #[command(flatten)]
        db: DbArgs,
        /// Issue a new token in place of the pending one (which stops working), print it
        /// and write it to the token file.
        #[arg(long)]
        rotate: bool,
    },
    /// Call one method on a running server: its result on standard output, or its error
    /// on standard error with an exit status that says what kind of failure it was.
    #[command(after_help = client::EXIT_CODES)]
    Call {
        /// The method, e.g. whoami.
        method: String,
        /// Params as a JSON object.
        #[arg(default_value = "{}")]
        params: String,
        /// Call over GET (reads only) instead of POST.
        #[arg(long)]
        get: bool,
        /// Print the result on one line.
        #[arg(long)]
        compact: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Sign in with a password (prompted, never echoed; or one line on standard input),
    /// mint an API token, and save it for `call` and `watch`.
    #[command(after_help = client::EXIT_CODES)]
    Login {
        /// The server's base URL; also the Origin the token is minted from, so it must be
        /// one the server trusts (its public origin).
        #[arg(long, env = "COUNTERSIGN_URL", default_value = client::credentials::DEFAULT_URL)]
        url: String,
        /// The account to sign in as.
        #[arg(long)]
        username: String,
        /// The token's name, as `token_list` shows it.
        #[arg(long, default_value = "countersign login")]
        name: String,
        /// Where to save the token (default: ~/.config/countersign/credentials.json).
        #[arg(long, env = "COUNTERSIGN_CREDENTIALS")]
        credentials: Option<PathBuf>,
    },
    /// Print your notifications as JSON lines as they come, reconnecting and resuming
    /// after the last seq printed whenever the connection drops.
    #[command(after_help = client::EXIT_CODES)]
    Watch {
        /// Start after this seq (default: from now on).
        #[arg(long)]
        after: Option<i64>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Regenerate the JSON Schemas and openrpc.json in DIR.
    Schemas {
        /// Fail (exit 1) if DIR differs from what would be generated; write nothing.
        #[arg(long)]
        check: bool,
        /// The folder to write (or check): the JSON Schemas and openrpc.json.
        #[arg(long, default_value = "schemas", value_name = "DIR")]
        dir: PathBuf,
        /// A TOML file merged over the embedded default config (its rate-limit classes).
        #[arg(long, env = "COUNTERSIGN_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Which server a client command talks to, and as whom.
#[derive(clap::Args)]
struct TargetArgs {
    /// The server's base URL (default: the one `login` saved, else http://127.0.0.1:8080).
    #[arg(long, env = "COUNTERSIGN_URL")]
    url: Option<String>,
    /// An API token (default: the one `login` saved for that URL).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The file `login` saved the token in (default: ~/.config/countersign/credentials.json).
    #[arg(long, env = "COUNTERSIGN_CREDENTIALS")]
    credentials: Option<PathBuf>,
}

impl TargetArgs {
    fn resolve(self) -> anyhow::Result<client::credentials::Target> {
        client::credentials::target(self.url, self.token, self.credentials.as_deref())
    }
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account; the password is read from standard input (one line).
    /// With --admin on an empty database this is the offline bootstrap.
    Create {
        /// The new account's username.
        #[arg(long)]
        username: String,
        /// Its email address, if any.
        #[arg(long)]
        email: Option<String>,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Disable an account: revoke its sessions and tokens and close its sockets.
    Disable {
        /// The account to disable.
        #[arg(long)]
        username: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a disabled account sign in again.
    Enable {
        /// The account to enable.
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum PermitCommand {
    /// Grant a role to an account straight in the database. Unlike permit_grant, any
    /// configured role may be granted here, `keeper` included (service accounts).
    Grant {
        /// The account that receives the permit.
        #[arg(long)]
        username: String,
        /// A configured role (e.g. member, approver, keeper).
        #[arg(long)]
        role: String,
        /// Where it applies (e.g. org:acme/store:berlin); omit for everywhere.
        #[arg(long)]
        scope: Option<String>,
        /// RFC 3339 time it stops granting.
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for an account and print its secret (shown once). The
    /// account's password is read from standard input (one line).
    Create {
        /// The account the token acts as (its password is checked).
        #[arg(long)]
        username: String,
        /// The token's name, as `token_list` shows it.
        #[arg(long)]
        name: String,
        /// Comma-separated methods the token may call (default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
        /// RFC 3339 time it stops working.
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exit 1 and name the first bad seq when it is broken.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("can start the tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // A refused change says why exactly as the API would: the JSON-RPC error object.
            match e.downcast_ref::<RpcError>() {
                Some(refused) => eprintln!("{:#}", refused.to_json(None)),
                None => eprintln!("countersign: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { db, listen, public_origin } => {
            let config = configured(db, listen, public_origin)?;
            server::serve_until_signal(config).await?;
        }
        Command::Migrate { db } => {
            let config = configured(db, None, None)?;
            let db = Db::connect(&config.server.database_url).await?;
            db.migrate().await.with_context(|| format!("cannot migrate the database {}", db.target()))?;
            println!("migrated {}", db.target());
        }
        Command::Account { db, command } => return account(offline_api(db).await?, command).await,
        Command::Permit { db, command: PermitCommand::Grant { username, role, scope, expires_at } } => {
            let api = offline_api(db).await?;
            let permit = offline::grant_permit(&api, &username, &role, scope.as_deref(), expires_at).await?;
            println!("{}", serde_json::to_string_pretty(&permit)?);
        }
        Command::Token { db, command: TokenCommand::Create { username, name, methods, expires_at } } => {
            let password = read_password()?;
            let api = offline_api(db).await?;
            let created = offline::create_token(&api, &username, password, &name, methods, expires_at).await?;
            eprintln!("token {} created; the secret below is shown only once", created.token.id);
            println!("{}", created.secret);
        }
        Command::Audit { db, command: AuditCommand::Verify } => {
            let api = offline_api(db).await?;
            let report = offline::verify_audit(&api).await?;
            match report.first_bad_seq {
                None => println!("ok: {} rows, chain intact", report.checked),
                Some(seq) => {
                    println!("BROKEN: first bad seq {seq} ({} rows checked)", report.checked);
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::BootstrapToken { db, rotate } => return bootstrap_token(offline_api(db).await?, rotate).await,
        Command::Call { method, params, get, compact, target } => {
            logging::init(LogFormat::Text);
            return call(&method, &params, get, compact, target).await;
        }
        Command::Login { url, username, name, credentials } => {
            logging::init(LogFormat::Text);
            return login(url, &username, &name, credentials).await;
        }
        Command::Watch { after, target } => {
            logging::init(LogFormat::Text);
            return Ok(failed(client::watch::watch(&target.resolve()?, after).await));
        }
        Command::Schemas { check, dir, config } => {
            let config = Config::load(config.as_deref(), &Overrides::default())?;
            logging::init(config.log.format);
            return schemas(&config, check, &dir);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration, then logging in its format (a config error is printed plainly).
fn configured(db: DbArgs, listen: Option<SocketAddr>, public_origin: Option<String>) -> anyhow::Result<Config> {
    let config = db.load(listen, public_origin)?;
    logging::init(config.log.format);
    Ok(config)
}

/// `countersign account …`.
async fn account(api: Arc<Api>, command: AccountCommand) -> anyhow::Result<ExitCode> {
    let shown = match command {
        AccountCommand::Create { username, email, admin } => {
            let password = read_password()?;
            let account = offline::create_account(&api, &username, email.as_deref(), password, admin).await?;
            serde_json::to_string_pretty(&account)?
        }
        AccountCommand::Disable { username, reason } => {
            serde_json::to_string_pretty(&offline::disable_account(&api, &username, reason.as_deref()).await?)?
        }
        AccountCommand::Enable { username } => {
            serde_json::to_string_pretty(&offline::enable_account(&api, &username).await?)?
        }
    };
    println!("{shown}");
    Ok(ExitCode::SUCCESS)
}

/// `countersign bootstrap-token [--rotate]`.
async fn bootstrap_token(api: Arc<Api>, rotate: bool) -> anyhow::Result<ExitCode> {
    use countersign::auth::bootstrap::State;
    if rotate {
        let (token, path) = offline::rotate_bootstrap_token(&api).await?;
        eprintln!(
            "a new bootstrap token was issued (the previous one no longer works); also written to {}",
            path.display()
        );
        println!("{token}");
        return Ok(ExitCode::SUCCESS);
    }
    match offline::bootstrap_state(&api).await? {
        State::Done => println!("bootstrapped: an account exists"),
        State::NoToken => {
            println!("no bootstrap token is pending: start the server, or run `countersign bootstrap-token --rotate`")
        }
        State::Issued(pending) => {
            let expired = if pending.expires_at <= api.env.clock.now() { " (expired)" } else { "" };
            println!(
                "a bootstrap token is pending: issued {}, expires {}{expired}, written to {}",
                pending.issued_at.to_rfc3339(),
                pending.expires_at.to_rfc3339(),
                pending.file
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `countersign schemas [--check]`.
fn schemas(config: &Config, check: bool, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bound = app::bind(config, Extra::default())?;
    if check {
        let stale = countersign::schemas::check(dir, &bound)?;
        if !stale.is_empty() {
            eprintln!("{} is out of date; run `countersign schemas` and commit:", dir.display());
            for name in stale {
                eprintln!("  {name}");
            }
            return Ok(ExitCode::FAILURE);
        }
        println!("{} is up to date", dir.display());
    } else {
        let count = countersign::schemas::write(dir, &bound)?;
        println!("wrote {count} files to {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `countersign call`: the result on stdout, or the error on stderr and its exit status.
async fn call(method: &str, params: &str, get: bool, compact: bool, target: TargetArgs) -> anyhow::Result<ExitCode> {
    let Ok(params) = serde_json::from_str::<serde_json::Value>(params) else {
        eprintln!("PARAMS is not JSON: {params}");
        return Ok(Outcome::Usage.into());
    };
    let show = |value: &serde_json::Value| {
        if compact { value.to_string() } else { serde_json::to_string_pretty(value).unwrap_or_default() }
    };
    match client::call::call(&target.resolve()?, method, params, get).await {
        Ok(Ok(result)) => println!("{}", show(&result)),
        Ok(Err(error)) => {
            eprintln!("{}", show(&error));
            return Ok(Outcome::of_error(&error).into());
        }
        Err(failure) => return Ok(failed(failure)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `countersign login`: a token minted with the password, saved for `call` and `watch`.
async fn login(url: String, username: &str, name: &str, credentials: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let Some(path) = credentials.or_else(client::credentials::default_path) else {
        anyhow::bail!("no HOME to save the token under: pass --credentials FILE");
    };
    let password = read_password()?;
    match client::login::mint_token(&url, username, &password, name).await {
        Ok(token) => {
            client::credentials::store(&path, &client::credentials::Saved { url, token })?;
            eprintln!("signed in as {username}; token saved to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => Ok(failed(failure)),
    }
}

/// The API the offline commands change the database through, as a server would, on a
/// database that exists and is migrated: they create nothing.
async fn offline_api(db: DbArgs) -> anyhow::Result<Arc<Api>> {
    let config = configured(db, None, None)?;
    app::assemble(config, Extra::default(), Clock::default(), Open::Existing).await
}

/// A password: prompted for without echo on a terminal, else one line of standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password("password: ")?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reports a client failure on standard error; its exit status.
fn failed(failure: client::Failure) -> ExitCode {
    if failure.outcome != Outcome::Ok {
        eprintln!("countersign: {}", failure.message);
    }
    failure.outcome.into()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand and every flag says what it is for in `--help`.
    #[test]
    fn every_subcommand_and_flag_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        Cli::command().debug_assert();
        let mut missing = Vec::new();
        walk(&Cli::command(), "countersign", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
