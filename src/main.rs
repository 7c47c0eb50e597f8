//! The `countersign` command line: run the server, migrate, regenerate schemas.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use countersign::config::{Config, Overrides};
use countersign::db::Db;
use countersign::server::{self, Extra, redact_url};

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
    /// Regenerate the JSON Schemas and openrpc.json in DIR.
    Schemas {
        /// Fail (exit 1) if DIR differs from what would be generated; write nothing.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("can start the tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("countersign: {e:#}");
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
        Command::Schemas { check, dir } => {
            let registry = server::registry(&config, Extra::default())?;
            if check {
                let stale = countersign::schemas::check(&dir, &registry)?;
                if !stale.is_empty() {
                    eprintln!("{} is out of date; run `countersign schemas` and commit:", dir.display());
                    for name in stale {
                        eprintln!("  {name}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
                println!("{} is up to date", dir.display());
            } else {
                let count = countersign::schemas::write(&dir, &registry)?;
                println!("wrote {count} files to {}", dir.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
