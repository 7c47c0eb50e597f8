//! The `countersign` command line: run the server, migrate, manage accounts and tokens
//! offline, verify the audit log, call a method, regenerate schemas.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use countersign::app::{self, Extra, redact_url};
use countersign::client::Outcome;
use countersign::clock::Clock;
use countersign::config::{Config, Overrides};
use countersign::db::Db;
use countersign::error::RpcError;
use countersign::rpc::Api;
use countersign::{client, offline, server};

#[derive(Parser)]
#[command(name = "countersign", version, about = "A JSON-RPC 2.0 action server for consequential actions.")]
struct Cli {
    /// A TOML file merged over the embedded default config.
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite://FILE or postgres://USER:PASSWORD@HOST/DB.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long, global = true, env = "COUNTERSIGN_LISTEN")]
    listen: Option<SocketAddr>,
    /// The origin browsers use (https://… marks cookies Secure; others fail the CSRF check).
    #[arg(long, global = true, env = "COUNTERSIGN_PUBLIC_ORIGIN")]
    public_origin: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Accounts, without a running server.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Permits (roles held by accounts), without a running server.
    Permit {
        #[command(subcommand)]
        command: PermitCommand,
    },
    /// API tokens, without a running server.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
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
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Disable an account: revoke its sessions and tokens and close its sockets.
    Disable {
        #[arg(long)]
        username: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a disabled account sign in again.
    Enable {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum PermitCommand {
    /// Grant a role to an account straight in the database. Unlike permit_grant, any
    /// configured role may be granted here, `keeper` included (service accounts).
    Grant {
        #[arg(long)]
        username: String,
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
        #[arg(long)]
        username: String,
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
    tracing_subscriber::fmt()
        .with_env_filter(countersign::logging::secret_safe(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // PostgreSQL's notices ("relation already exists, skipping") are not ours to show.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn")),
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
    let overrides = Overrides { listen: cli.listen, database_url: cli.database_url, public_origin: cli.public_origin };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve => server::serve_until_signal(config).await?,
        Command::Migrate => {
            let db = Db::connect(&config.server.database_url).await?;
            db.migrate().await?;
            println!("migrated {}", redact_url(&config.server.database_url));
        }
        Command::Account { command: AccountCommand::Create { username, email, admin } } => {
            let password = read_password()?;
            let api = offline_api(config).await?;
            let account = offline::create_account(&api, &username, email.as_deref(), password, admin).await?;
            println!("{}", serde_json::to_string_pretty(&account)?);
        }
        Command::Account { command: AccountCommand::Disable { username, reason } } => {
            let api = offline_api(config).await?;
            let disabled = offline::disable_account(&api, &username, reason.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&disabled)?);
        }
        Command::Account { command: AccountCommand::Enable { username } } => {
            let api = offline_api(config).await?;
            println!("{}", serde_json::to_string_pretty(&offline::enable_account(&api, &username).await?)?);
        }
        Command::Permit { command: PermitCommand::Grant { username, role, scope, expires_at } } => {
            let api = offline_api(config).await?;
            let permit = offline::grant_permit(&api, &username, &role, scope.as_deref(), expires_at).await?;
            println!("{}", serde_json::to_string_pretty(&permit)?);
        }
        Command::Token { command: TokenCommand::Create { username, name, methods, expires_at } } => {
            let password = read_password()?;
            let api = offline_api(config).await?;
            let created = offline::create_token(&api, &username, password, &name, methods, expires_at).await?;
            eprintln!("token {} created; the secret below is shown only once", created.token.id);
            println!("{}", created.secret);
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let api = offline_api(config).await?;
            let report = offline::verify_audit(&api).await?;
            match report.first_bad_seq {
                None => println!("ok: {} rows, chain intact", report.checked),
                Some(seq) => {
                    println!("BROKEN: first bad seq {seq} ({} rows checked)", report.checked);
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Call { method, params, get, compact, target } => {
            return call(&method, &params, get, compact, target).await;
        }
        Command::Login { url, username, name, credentials } => return login(url, &username, &name, credentials).await,
        Command::Watch { after, target } => return Ok(failed(client::watch::watch(&target.resolve()?, after).await)),
        Command::Schemas { check, dir } => {
            let bound = app::bind(&config, Extra::default())?;
            if check {
                let stale = countersign::schemas::check(&dir, &bound)?;
                if !stale.is_empty() {
                    eprintln!("{} is out of date; run `countersign schemas` and commit:", dir.display());
                    for name in stale {
                        eprintln!("  {name}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
                println!("{} is up to date", dir.display());
            } else {
                let count = countersign::schemas::write(&dir, &bound)?;
                println!("wrote {count} files to {}", dir.display());
            }
        }
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

/// The API the offline commands change the database through, as a server would.
async fn offline_api(config: Config) -> anyhow::Result<Arc<Api>> {
    app::assemble(config, Extra::default(), Clock::default()).await
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
