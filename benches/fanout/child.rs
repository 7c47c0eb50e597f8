//! The bench process's side of the client process: starts it, reads its answers, tells
//! it to go on (see [`proto`](super::proto) for the exchange).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::proto;

/// How long the bench process waits for any one answer of the client.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// A running client process. Dropping it kills the process.
pub struct Client {
    process: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Client {
    /// Starts this executable as the client process of the plan in `plan_path`.
    pub fn spawn(plan_path: &Path) -> anyhow::Result<Client> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut process = Command::new(exe)
            .arg(plan_path)
            .env(proto::ROLE_ENV, proto::ROLE_CLIENT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the client process")?;
        let stdin = process.stdin.take().context("the client has no stdin")?;
        let stdout = BufReader::new(process.stdout.take().context("the client has no stdout")?).lines();
        Ok(Client { process, stdin, stdout })
    }

    /// Waits for the client's `tag` line and decodes it; other lines are passed through.
    pub async fn expect<T: DeserializeOwned>(&mut self, tag: &str) -> anyhow::Result<T> {
        loop {
            let line = tokio::time::timeout(ANSWER_TIMEOUT, self.stdout.next_line())
                .await
                .with_context(|| format!("the client sent no `{tag}` within {ANSWER_TIMEOUT:?}"))??;
            let Some(line) = line else {
                let status = self.process.wait().await?;
                bail!("the client process ended ({status}) before sending `{tag}`; its error is above");
            };
            match line.strip_prefix(tag).and_then(|rest| rest.strip_prefix(' ')) {
                Some(json) => return serde_json::from_str(json).with_context(|| format!("bad `{tag}` line: {line}")),
                None => eprintln!("  client stdout: {line}"),
            }
        }
    }

    /// Lets the client start its rounds.
    pub async fn go(&mut self) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{}\n", proto::GO).as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// Waits for the client to exit, which closes its sockets; fails unless it succeeded.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        let status = tokio::time::timeout(ANSWER_TIMEOUT, self.process.wait()).await??;
        anyhow::ensure!(status.success(), "the client process failed: {status}");
        Ok(())
    }
}
