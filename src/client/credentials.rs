//! Where `countersign login` keeps the token it minted, for `call` and `watch` to use: a
//! JSON file `{url, token}` readable only by its owner (mode 0600, in a 0700 folder).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A server and a token for it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Saved {
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Saved {{ url: {:?}, token: <redacted> }}", self.url)
    }
}

/// `$XDG_CONFIG_HOME/countersign/credentials.json`, else `~/.config/countersign/…`.
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("countersign").join("credentials.json"))
}

/// The saved credentials at `path`, if there are any.
pub fn load(path: &Path) -> anyhow::Result<Option<Saved>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `saved` to `path`, readable by its owner only (replacing what was there).
pub fn store(path: &Path, saved: &Saved) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An existing file keeps its old mode on open: set it again.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(serde_json::to_string_pretty(saved)?.as_bytes())?;
    Ok(())
}

/// The server a command talks to, and the token it calls with.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
}

/// Where the server is when nothing says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The target of a command: `--url` / `--token` (or their variables) first, then what
/// `login` saved at `file` (its token only for the URL it was minted for).
pub fn target(url: Option<String>, token: Option<String>, file: Option<&Path>) -> anyhow::Result<Target> {
    let saved = match file.map(Path::to_path_buf).or_else(default_path) {
        Some(path) => load(&path)?,
        None => None,
    };
    let url = url.or_else(|| saved.as_ref().map(|s| s.url.clone())).unwrap_or_else(|| DEFAULT_URL.to_owned());
    let saved_token = saved.filter(|s| super::base(&s.url) == super::base(&url)).map(|s| s.token);
    Ok(Target { url, token: token.or(saved_token) })
}
