//! Configuration from the environment (docs/protocol.md §10): every key of the embedded
//! default can be set as `COUNTERSIGN_<SECTION>__<KEY>` (a table test walks them all), the
//! layers win in order, the command line's own variables are left alone, and every error
//! names the file, variable or flag a bad value came from. The loader is given its
//! environment, so the test runner's own cannot disturb these tests; the last tests run the
//! binary to show the process's real environment is read.

use std::path::Path;

use countersign::config::{Config, ConfigError, DEFAULT_TOML, Overrides};
use serde_json::Value as Json;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_env(None, &Overrides::default(), env(pairs))
}

fn load_err(pairs: &[(&str, &str)]) -> String {
    load_env(pairs).expect_err("the configuration is refused").to_string()
}

fn json(config: &Config) -> Json {
    serde_json::to_value(config).unwrap()
}

fn at<'a>(json: &'a Json, path: &[String]) -> &'a Json {
    path.iter().fold(json, |json, key| &json[key.as_str()])
}

/// Every leaf of a TOML table: its path and value.
fn leaves(table: &toml::Table, path: &[String], out: &mut Vec<(Vec<String>, toml::Value)>) {
    for (key, value) in table {
        let mut path = path.to_vec();
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => leaves(inner, &path, out),
            leaf => out.push((path, leaf.clone())),
        }
    }
}

/// A valid value for the leaf at `path` that differs from the default `value`; `None` for
/// the keys no other value is valid for.
fn another(path: &[String], value: &toml::Value) -> Option<toml::Value> {
    let key = path.join(".");
    let strings = |items: &[&str]| toml::Value::Array(items.iter().map(|s| toml::Value::String((*s).into())).collect());
    Some(match value {
        _ if ["roles.admin.grants", "roles.keeper.web_grantable", "kinds.purchase.executor.type"].contains(&&*key) => {
            return None;
        }
        toml::Value::Integer(n) => toml::Value::Integer(n + 1),
        toml::Value::Boolean(b) => toml::Value::Boolean(!b),
        toml::Value::Array(items) if items.len() > 1 => toml::Value::Array(items.iter().rev().cloned().collect()),
        toml::Value::Array(items) if items.len() == 1 => toml::Value::Array(Vec::new()),
        toml::Value::Array(_) => match path.last().unwrap().as_str() {
            "allowed_origins" => strings(&["http://localhost:5173"]),
            "trusted_proxies" => strings(&["10.0.0.0/8"]),
            other => panic!("no other value for the empty array {key} ({other}): add one here"),
        },
        toml::Value::String(s) => toml::Value::String(match key.as_str() {
            "server.listen" => "127.0.0.1:9".into(),
            "server.database_url" => "postgres://user@db.example/countersign".into(),
            "auth.signup" => "open".into(),
            "log.format" => "json".into(),
            _ if path.last().is_some_and(|k| k == "description") => format!("{s}, changed"),
            _ => panic!("no other value for the string {key}: add one here"),
        }),
        other => panic!("no other value for {key} = {other}: add one here"),
    })
}

/// `COUNTERSIGN_SERVER__MAX_CONNECTIONS` for `server.max_connections`.
fn variable(path: &[String]) -> String {
    format!("COUNTERSIGN_{}", path.join("__").to_uppercase())
}

#[test]
fn every_key_of_the_default_can_be_set_from_the_environment() {
    let default_table: toml::Table = DEFAULT_TOML.parse().unwrap();
    let mut all = Vec::new();
    leaves(&default_table, &[], &mut all);
    assert!(all.len() > 60, "the walk found every leaf ({})", all.len());
    let default = json(&Config::embedded());
    for (path, value) in &all {
        let name = variable(path);
        let Some(new) = another(path, value) else {
            // No other value is valid: setting one is refused, naming the variable.
            let wrong = match value {
                toml::Value::Boolean(b) => (!b).to_string(),
                _ => r#"["view:audit"]"#.to_owned(),
            };
            let err = load_err(&[(&name, &wrong)]);
            assert!(err.starts_with(&format!("environment {name}: key `")), "{name}: {err}");
            continue;
        };
        let config = load_env(&[(&name, &new.to_string())]).unwrap_or_else(|e| panic!("{name}={new}: {e}"));
        let loaded = json(&config);
        let mut expected = serde_json::to_value(&new).unwrap();
        if path.join(".") == "server.allowed_origins" {
            // The public origin's localhost twin is added to the configured ones.
            expected.as_array_mut().unwrap().push("http://localhost:8080".into());
        }
        assert_eq!(at(&loaded, path), &expected, "{name}={new}");
        assert_ne!(at(&loaded, path), at(&default, path), "{name} changed the value");
    }
}

#[test]
fn values_are_read_as_toml_and_bare_words_are_strings() {
    let config = load_env(&[
        ("COUNTERSIGN_AUTH__SIGNUP", "open"),
        ("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "10"),
        ("COUNTERSIGN_KINDS__REFUND__POLICY__ENABLED", "true"),
        ("COUNTERSIGN_SERVER__LISTEN", "0.0.0.0:8443"),
        ("COUNTERSIGN_SERVER__DATABASE_URL", "sqlite:///var/lib/countersign/db.sqlite"),
        ("COUNTERSIGN_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8", "192.168.0.1"]"#),
        ("COUNTERSIGN_KINDS__DISCOUNT__POLICY", "{ enabled = true, approvals_required = 2 }"),
        ("COUNTERSIGN_LOG__FORMAT", r#""json""#),
        // Keys the default leaves out can be set too.
        ("COUNTERSIGN_AUTH__BOOTSTRAP_TOKEN_FILE", "/var/lib/countersign/bootstrap-token"),
        ("COUNTERSIGN_KINDS__REFUND__POLICY__LIMITS__MAX_AMOUNT", r#""250.00""#),
        (
            "COUNTERSIGN_KINDS__PURCHASE__EXECUTOR",
            r#"{ type = "webhook", url = "https://hooks.example/buy", secret = "0123456789abcdef-s3cr3t" }"#,
        ),
    ])
    .unwrap();
    let token_file = config.auth.bootstrap_token_file.as_deref();
    assert_eq!(token_file, Some(Path::new("/var/lib/countersign/bootstrap-token")));
    assert!(config.kinds["refund"].policy.limits.max_amount.is_some());
    let webhook = config.kinds["purchase"].executor.webhook().expect("a webhook from the environment");
    assert_eq!(webhook.url, "https://hooks.example/buy");
    assert!(!serde_json::to_string(&config).unwrap().contains("s3cr3t"), "a serialized config has no secret");
    assert_eq!(config.auth.signup, countersign::config::Signup::Open);
    assert_eq!(config.server.max_connections, 10);
    assert!(config.kinds["refund"].policy.enabled);
    assert!(config.kinds["refund"].policy.requires_confirmation, "the rest of the policy is kept");
    assert_eq!(config.server.listen.port(), 8443);
    assert_eq!(config.server.database_url, "sqlite:///var/lib/countersign/db.sqlite");
    assert_eq!(config.server.trusted_proxies.len(), 2);
    let discount = &config.kinds["discount"].policy;
    assert!(discount.enabled && discount.approvals_required == 2);
    assert_eq!(config.log.format, countersign::config::LogFormat::Json);
}

#[test]
fn a_role_and_a_kind_can_be_added_from_the_environment() {
    let config = load_env(&[
        ("COUNTERSIGN_ROLES__AUDITOR__DESCRIPTION", "Reads the log"),
        ("COUNTERSIGN_ROLES__AUDITOR__WEB_GRANTABLE", "true"),
        ("COUNTERSIGN_ROLES__AUDITOR__GRANTS", r#"["view:audit", "approve:*"]"#),
        ("COUNTERSIGN_KINDS__PAYOUT__DESCRIPTION", "Payouts"),
        ("COUNTERSIGN_RESOURCES__INVOICES", r#"["view", "send"]"#),
        ("COUNTERSIGN_ROLES__CLERK__DESCRIPTION", "Sends invoices"),
        ("COUNTERSIGN_ROLES__CLERK__WEB_GRANTABLE", "false"),
        ("COUNTERSIGN_ROLES__CLERK__GRANTS", r#"["send:invoices", "create:payout"]"#),
    ])
    .unwrap();
    assert_eq!(config.roles["auditor"].grants, ["view:audit", "approve:*"]);
    assert!(config.kinds.contains_key("payout"));
    assert!(config.vocabulary().check("send", "invoices").is_ok());
    assert!(config.vocabulary().check("approve", "payout").is_ok(), "a kind added gets the kind verbs");
}

#[test]
fn the_layers_win_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("countersign.toml");
    std::fs::write(&file, "[server]\nmax_connections = 5\nmax_connections_per_ip = 6\nbody_timeout_s = 7\n").unwrap();
    let vars = env(&[
        ("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "50"),
        ("COUNTERSIGN_SERVER__LISTEN", "127.0.0.1:7000"),
        ("COUNTERSIGN_SERVER__DATABASE_URL", "sqlite://env.db"),
        ("COUNTERSIGN_SERVER__PUBLIC_ORIGIN", "https://env.example"),
    ]);
    let config = Config::load_with_env(Some(&file), &Overrides::default(), vars.clone()).unwrap();
    assert_eq!(config.server.max_connections, 50, "the environment wins over the file");
    assert_eq!(config.server.max_connections_per_ip, 6, "the file wins over the default");
    assert_eq!(config.server.header_timeout_s, 10, "the default stays where nothing is set");
    assert_eq!(config.server.listen.port(), 7000);
    assert_eq!(config.server.database_url, "sqlite://env.db");
    assert_eq!(config.server.public_origin, "https://env.example");
    let overrides = Overrides {
        listen: Some("127.0.0.1:7001".parse().unwrap()),
        database_url: Some("sqlite://flag.db".into()),
        public_origin: Some("https://flag.example".into()),
    };
    let config = Config::load_with_env(Some(&file), &overrides, vars).unwrap();
    assert_eq!(config.server.listen.port(), 7001, "the command line wins over the environment");
    assert_eq!(config.server.database_url, "sqlite://flag.db");
    assert_eq!(config.server.public_origin, "https://flag.example");
}

#[test]
fn the_command_lines_own_variables_are_left_alone() {
    let config = load_env(&[
        ("COUNTERSIGN_CONFIG", "/no/such/file.toml"),
        ("COUNTERSIGN_LISTEN", "not an address"),
        ("COUNTERSIGN_PUBLIC_ORIGIN", "nonsense"),
        ("COUNTERSIGN_URL", "http://127.0.0.1:1"),
        ("COUNTERSIGN_TOKEN", "cst_secret"),
        ("COUNTERSIGN_CREDENTIALS", "/tmp/x.json"),
        ("COUNTERSIGN_TEST_PG_URL", "postgres://x"),
        ("COUNTERSIGN_REQUIRE_PG", "1"),
        ("COUNTERSIGN_BIN", "/bin/countersign"),
        ("DATABASE_URL", "mysql://ignored-without-the-override"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(json(&config), json(&Config::embedded()), "none of them is a configuration key");
}

#[test]
fn an_unknown_key_is_refused_naming_the_variable() {
    let err = load_err(&[("COUNTERSIGN_SERVER__NO_SUCH", "1")]);
    assert!(
        err.starts_with("environment COUNTERSIGN_SERVER__NO_SUCH: key `server.no_such`: unknown field `no_such`"),
        "{err}"
    );
    let err = load_err(&[("COUNTERSIGN_SERVR__LISTEN", "127.0.0.1:1")]);
    assert!(err.starts_with("environment COUNTERSIGN_SERVR__LISTEN: key `servr`: unknown field `servr`"), "{err}");
    let err = load_err(&[("COUNTERSIGN_KINDS__REFUND__POLICY__ENABLD", "true")]);
    assert!(err.contains("environment COUNTERSIGN_KINDS__REFUND__POLICY__ENABLD: key `kinds.refund.policy.enabld`"));
    let err = load_err(&[("COUNTERSIGN_AUTH_SIGNUP", "open")]);
    assert_eq!(
        err,
        "environment COUNTERSIGN_AUTH_SIGNUP: not a configuration key; levels are joined by __: COUNTERSIGN_AUTH__SIGNUP"
    );
    let err = load_err(&[("COUNTERSIGN_SERVER____LISTEN", "127.0.0.1:1")]);
    assert!(err.starts_with("environment COUNTERSIGN_SERVER____LISTEN: not a configuration key"), "{err}");
}

#[test]
fn a_bad_value_names_its_variable_key_and_reason() {
    let err = load_err(&[("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "ten")]);
    assert_eq!(
        err,
        "environment COUNTERSIGN_SERVER__MAX_CONNECTIONS: key `server.max_connections`: \
         invalid type: found string \"ten\", expected usize"
    );
    let err = load_err(&[("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "0")]);
    assert_eq!(
        err,
        "environment COUNTERSIGN_SERVER__MAX_CONNECTIONS: key `server.max_connections`: must be at least 1"
    );
    let err = load_err(&[("COUNTERSIGN_AUTH__SIGNUP", "maybe")]);
    assert!(err.starts_with("environment COUNTERSIGN_AUTH__SIGNUP: key `auth.signup`: unknown variant `maybe`"));
    let err = load_err(&[("COUNTERSIGN_SERVER__ALLOWED_ORIGINS", r#"["https://ok.example", "http://x/app"]"#)]);
    assert!(err.starts_with("environment COUNTERSIGN_SERVER__ALLOWED_ORIGINS: key `server.allowed_origins[1]`"));
    let err = load_err(&[("COUNTERSIGN_WEBSOCKET__IDLE_TIMEOUT_S", "5")]);
    assert!(err.starts_with("environment COUNTERSIGN_WEBSOCKET__IDLE_TIMEOUT_S: key `websocket`"), "{err}");
    let err = load_err(&[("COUNTERSIGN_RATE_LIMITS__READ__BURST", "0")]);
    assert!(err.starts_with("environment COUNTERSIGN_RATE_LIMITS__READ__BURST: key `rate_limits.read`"), "{err}");
}

#[test]
fn a_bad_command_line_value_names_its_variable_or_flag() {
    let mysql = Overrides { database_url: Some("mysql://x".into()), ..Default::default() };
    let from_env = Config::load_with_env(None, &mysql, env(&[("DATABASE_URL", "mysql://x")]));
    assert_eq!(
        from_env.unwrap_err().to_string(),
        "environment DATABASE_URL: key `server.database_url`: must start with sqlite: or postgres:"
    );
    let from_flag = Config::load_with_env(None, &mysql, env(&[("DATABASE_URL", "sqlite://other.db")]));
    assert!(from_flag.unwrap_err().to_string().starts_with("--database-url: key `server.database_url`"));
    let origin = Overrides { public_origin: Some("https://x.example/app".into()), ..Default::default() };
    let err = Config::load_with_env(None, &origin, env(&[("COUNTERSIGN_PUBLIC_ORIGIN", "https://x.example/app")]));
    assert!(
        err.unwrap_err().to_string().starts_with("environment COUNTERSIGN_PUBLIC_ORIGIN: key `server.public_origin`")
    );
    let err = Config::load_with_env(None, &origin, []).unwrap_err().to_string();
    assert!(err.starts_with("--public-origin: key `server.public_origin`"), "{err}");
}

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let file = dir.join("countersign.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_bad_file_value_names_the_file_even_with_the_environment_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "[server]\nmax_connections = \"many\"\n");
    let vars = env(&[("COUNTERSIGN_SERVER__BODY_TIMEOUT_S", "5")]);
    let err = Config::load_with_env(Some(&file), &Overrides::default(), vars).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "config {}: key `server.max_connections`: invalid type: found string \"many\", expected usize",
            file.display()
        )
    );
    let file = write(dir.path(), "[server]\nno_such = 1\n");
    let err = Config::load_with_env(Some(&file), &Overrides::default(), []).unwrap_err().to_string();
    assert!(err.starts_with(&format!("config {}: key `server.no_such`: unknown field", file.display())), "{err}");
    // The environment fixes what the file got wrong: the variable wins.
    let file = write(dir.path(), "[server]\nmax_connections = 0\n");
    let vars = env(&[("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "3")]);
    assert_eq!(Config::load_with_env(Some(&file), &Overrides::default(), vars).unwrap().server.max_connections, 3);
}

#[test]
fn grants_of_unknown_verbs_or_resources_are_refused() {
    let role = |grants: &str| format!("[roles.pilot]\ndescription = \"x\"\nweb_grantable = true\ngrants = {grants}\n");
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let file = write(dir.path(), text);
        Config::load_with_env(Some(&file), &Overrides::default(), []).map_err(|e| e.to_string())
    };
    let err = load(&role(r#"["view:audit", "fly:rocket"]"#)).unwrap_err();
    assert!(err.contains("key `roles.pilot.grants[1]`: `fly:rocket`: unknown resource `rocket`"), "{err}");
    assert!(err.contains("known resources: *, audit, cancel_order,") && err.contains("module.status"), "{err}");
    let err = load(&role(r#"["aprove:purchase"]"#)).unwrap_err();
    assert!(err.contains("roles.pilot.grants[0]`: `aprove:purchase`: unknown verb `aprove` on `purchase`"), "{err}");
    assert!(err.contains("approve, cancel-any"), "{err}");
    let err = load(&role(r#"["manage:*"]"#)).unwrap_err();
    assert!(err.contains("unknown verb `manage` on `*`"), "{err}");
    let err = load(&role(r#"["view-any:policies"]"#)).unwrap_err();
    assert!(err.contains("unknown verb `view-any` on `policies`; its verbs: manage"), "{err}");
    assert!(load(&role(r#"["manage:policies", "edit-own:module.status", "retry-own:*"]"#)).is_ok());
    // A resource declared for applications may be granted.
    let declared = format!("[resources]\nrocket = [\"fly\"]\n{}", role(r#"["fly:rocket"]"#));
    assert!(load(&declared).unwrap().vocabulary().check("fly", "rocket").is_ok());
    let err = load("[resources]\npurchase = [\"buy\"]\n").unwrap_err();
    assert!(err.contains("key `resources.purchase`"), "{err}");
    let err = load("[resources]\nrocket = [\"Fly\"]\n").unwrap_err();
    assert!(err.contains("key `resources.rocket[0]`"), "{err}");
    // Taking a verb away from a resource breaks a default role: the layer that did it is named.
    let err = load("[resources]\nmodules = [\"view\", \"edit\"]\n").unwrap_err();
    let file = dir.path().join("countersign.toml");
    let expected =
        format!("config {}: key `roles.standard.grants[1]`: `edit-own:modules`: unknown verb", file.display());
    assert!(err.starts_with(&expected), "{err}");
    let err = load_err(&[("COUNTERSIGN_RESOURCES__MODULES", r#"["view"]"#)]);
    assert!(err.starts_with("environment COUNTERSIGN_RESOURCES__MODULES: key `roles.principal.grants"), "{err}");
    let err = load_err(&[("COUNTERSIGN_ROLES__MEMBER__GRANTS", r#"["create:*", "aprove:*"]"#)]);
    assert!(
        err.starts_with("environment COUNTERSIGN_ROLES__MEMBER__GRANTS: key `roles.member.grants[1]`: `aprove:*`"),
        "{err}"
    );
}

/// The binary reads its own environment, and a bad value stops it naming the variable.
#[test]
fn the_binary_names_the_variable_of_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_countersign"));
        command.arg("migrate").current_dir(dir.path()).env_clear().env("PATH", std::env::var("PATH").unwrap());
        command.envs(vars.iter().copied());
        let output = command.output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (ok, stderr) = run(&[("COUNTERSIGN_SERVER__MAX_CONNECTIONS", "ten")]);
    assert!(!ok && stderr.contains("environment COUNTERSIGN_SERVER__MAX_CONNECTIONS: key `server.max_connections`"));
    let (ok, stderr) = run(&[("DATABASE_URL", "mysql://db.example/x")]);
    assert!(!ok && stderr.contains("environment DATABASE_URL: key `server.database_url`"), "{stderr}");
    assert!(!stderr.contains("embedded default"), "{stderr}");
    let (ok, stderr) = run(&[("COUNTERSIGN_ROLES__MEMBER__GRANTS", r#"["fly:rocket"]"#)]);
    assert!(!ok && stderr.contains("roles.member.grants[0]") && stderr.contains("unknown resource"), "{stderr}");
}
