//! The server configuration: built-in defaults, then a TOML file
//! (`--config`), then environment variables and flags. `nuage config
//! example` prints it from the struct's own defaults and the documentation
//! table below; a test keeps the two in step.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data: PathBuf,
    pub listen: String,
    pub database_url: Option<String>,
    pub https: bool,
    pub trust_forwarded_for: bool,
    pub log_format: LogFormat,
    pub body_limit_bytes: usize,
    pub database: DatabaseConfig,
    pub admin: AdminConfig,
    pub auth: AuthSection,
    pub connections: ConnectionsConfig,
    pub documents: DocumentsConfig,
}

/// Time bounds of the document service's requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    pub find_budget_secs: u64,
    pub changes_search_secs: u64,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            find_budget_secs: nuage_docs::DEFAULT_FIND_BUDGET.as_secs(),
            changes_search_secs: nuage_docs::DEFAULT_CHANGES_SEARCH.as_secs(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    pub header_timeout_secs: u64,
    pub body_deadline_secs: u64,
    /// Bytes of large request bodies held at once, across instances.
    pub large_bodies_memory_bytes: u64,
    /// The least a large body must keep up once its grace is over; 0: no
    /// minimum.
    pub large_body_min_bytes_per_sec: u64,
    pub large_body_grace_secs: u64,
    /// 0: from the process's file limit.
    pub max: usize,
    /// 0: an eighth of `max` (no limit with `trust_forwarded_for`).
    pub max_per_address: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        let d = nuage_web::listen::Limits::default();
        ConnectionsConfig {
            header_timeout_secs: d.header_timeout.as_secs(),
            body_deadline_secs: d.body_deadline.as_secs(),
            large_bodies_memory_bytes: nuage_docs::share::DEFAULT_BODY_BUDGET,
            large_body_min_bytes_per_sec: nuage_docs::share::DEFAULT_MIN_BODY_RATE.bytes_per_sec,
            large_body_grace_secs: nuage_docs::share::DEFAULT_MIN_BODY_RATE.grace.as_secs(),
            max: 0,
            max_per_address: 0,
        }
    }
}

impl ConnectionsConfig {
    /// The rate a large body must keep up while its instance waits on it.
    pub fn min_body_rate(&self) -> nuage_docs::MinBodyRate {
        nuage_docs::MinBodyRate {
            bytes_per_sec: self.large_body_min_bytes_per_sec,
            grace: std::time::Duration::from_secs(self.large_body_grace_secs),
        }
    }

    pub fn to_limits(&self) -> nuage_web::listen::Limits {
        use std::time::Duration;
        nuage_web::listen::Limits {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_deadline: Duration::from_secs(self.body_deadline_secs.max(1)),
            connections: (self.max > 0).then_some(self.max),
            per_address: (self.max_per_address > 0).then_some(self.max_per_address),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: String,
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    pub throttle_free_failures: i64,
    pub throttle_free_failures_instance: i64,
    pub throttle_base_ms: u64,
    pub throttle_max_secs: u64,
    pub session_idle_days: u64,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    pub onboarding_ttl_hours: u64,
    pub credential_cache_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("./nuage-data"),
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            https: false,
            trust_forwarded_for: false,
            log_format: LogFormat::Text,
            body_limit_bytes: nuage_web::DEFAULT_BODY_LIMIT,
            database: DatabaseConfig::default(),
            admin: AdminConfig::default(),
            auth: AuthSection::default(),
            connections: ConnectionsConfig::default(),
            documents: DocumentsConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { max_connections: 8 }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:8081".into(),
            secret: None,
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        let d = nuage_auth::AuthConfig::default();
        AuthSection {
            throttle_free_failures: d.throttle_free_failures,
            throttle_free_failures_instance: d.throttle_free_failures_instance,
            throttle_base_ms: d.throttle_base.as_millis() as u64,
            throttle_max_secs: d.throttle_max.as_secs(),
            session_idle_days: d.session_idle.as_secs() / 86_400,
            access_token_ttl_secs: d.access_token_ttl.as_secs(),
            refresh_token_ttl_days: d.refresh_token_ttl.as_secs() / 86_400,
            onboarding_ttl_hours: d.onboarding_ttl.as_secs() / 3_600,
            credential_cache_secs: d.cache_ttl.as_secs(),
        }
    }
}

impl AuthSection {
    pub fn to_auth_config(&self) -> nuage_auth::AuthConfig {
        use std::time::Duration;
        nuage_auth::AuthConfig {
            throttle_free_failures: self.throttle_free_failures,
            throttle_free_failures_instance: self.throttle_free_failures_instance,
            throttle_base: Duration::from_millis(self.throttle_base_ms),
            throttle_max: Duration::from_secs(self.throttle_max_secs),
            session_idle: Duration::from_secs(self.session_idle_days * 86_400),
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_days * 86_400),
            onboarding_ttl: Duration::from_secs(self.onboarding_ttl_hours * 3_600),
            cache_ttl: Duration::from_secs(self.credential_cache_secs),
        }
    }
}

/// One line of documentation per key (dotted path), and for keys without a
/// default an example value, shown commented out.
const DOCS: &[(&str, &str, Option<&str>)] = &[
    (
        "data",
        "Folder for the SQLite database, blobs and the admin secret. Env NUAGE_DATA, flag --data.",
        None,
    ),
    (
        "listen",
        "Address of the public listener. Env NUAGE_LISTEN, flag --listen.",
        None,
    ),
    (
        "database_url",
        "postgres://USER@HOST/DB selects PostgreSQL; default is SQLite in the data folder. Env DATABASE_URL.",
        Some("\"postgres://nuage@127.0.0.1:5432/nuage\""),
    ),
    (
        "https",
        "Set when users reach nuage over HTTPS (directly or via a proxy): cookies become Secure.",
        None,
    ),
    (
        "trust_forwarded_for",
        "Take the client address from X-Forwarded-For (only behind a proxy that sets it).",
        None,
    ),
    (
        "log_format",
        "\"text\" for people, \"json\" for log collectors. Level: env RUST_LOG (default info).",
        None,
    ),
    (
        "body_limit_bytes",
        "Largest body accepted by the JSON and form APIs.",
        None,
    ),
    (
        "database.max_connections",
        "Connections in the pool (SQLite serialises writes; PostgreSQL likes more).",
        None,
    ),
    (
        "admin.listen",
        "Address of the admin API (keep it on loopback). Env NUAGE_ADMIN_LISTEN.",
        None,
    ),
    (
        "admin.secret",
        "Bearer secret of the admin API. Env NUAGE_ADMIN_SECRET; default: generated into DATA/admin-secret.",
        Some("\"change-me\""),
    ),
    (
        "connections.header_timeout_secs",
        "A request's line and headers must arrive within this; the connection is closed otherwise.",
        None,
    ),
    (
        "connections.body_deadline_secs",
        "A request's whole body must arrive within this (counted from the server's first read of it: not while a large request waits for its instance's turn).",
        None,
    ),
    (
        "connections.large_bodies_memory_bytes",
        "Memory that bodies over 64 KiB (big batches and documents) may hold at once, all instances together; a body holds what it has sent (and a MiB ahead), and gets a 503 if the memory is spent.",
        None,
    ),
    (
        "connections.large_body_min_bytes_per_sec",
        "A body over 64 KiB holds its instance's one turn for large requests while it arrives: while another large request of the instance waits, after large_body_grace_secs it must keep up this average and never pause longer than the grace, or get a 408 and give the turn back. 0: no minimum.",
        None,
    ),
    (
        "connections.large_body_grace_secs",
        "How long a body over 64 KiB may arrive at any rate before large_body_min_bytes_per_sec counts, and the longest pause it may make after that.",
        None,
    ),
    (
        "connections.max",
        "Connections served at once; 0: three quarters of the process's open-files limit.",
        None,
    ),
    (
        "connections.max_per_address",
        "Connections from one client address at once; 0: an eighth of the maximum (no limit with trust_forwarded_for).",
        None,
    ),
    (
        "documents.find_budget_secs",
        "How long one _find may read before it is refused with CouchDB's timeout error (and advice to add an index); at most 300. It also bounds the rows a caller limited to some documents makes the server read for nothing. 0: refuse any _find that reads a row.",
        None,
    ),
    (
        "documents.changes_search_secs",
        "How long a one-shot _changes feed that has found nothing the caller may see keeps reading on, 10,000 changes at a time, before it answers empty with last_seq where it stopped (a one-shot replicator then stops early); at most 300. 0: answer after the first 10,000.",
        None,
    ),
    (
        "auth.throttle_free_failures",
        "Wrong passphrases from one address before delays start.",
        None,
    ),
    (
        "auth.throttle_free_failures_instance",
        "Wrong passphrases on one instance, from any address, before delays start.",
        None,
    ),
    (
        "auth.throttle_base_ms",
        "First delay after the free failures; each further failure doubles it.",
        None,
    ),
    (
        "auth.throttle_max_secs",
        "Longest delay: nobody is locked out for good.",
        None,
    ),
    (
        "auth.session_idle_days",
        "A login session ends after this many days unused.",
        None,
    ),
    (
        "auth.access_token_ttl_secs",
        "Lifetime of OAuth access tokens.",
        None,
    ),
    (
        "auth.refresh_token_ttl_days",
        "Lifetime of OAuth refresh tokens (each use rotates them).",
        None,
    ),
    (
        "auth.onboarding_ttl_hours",
        "How long an onboarding link stays valid.",
        None,
    ),
    (
        "auth.credential_cache_secs",
        "How long a checked credential is trusted from memory; bounds how late another server process sees a revocation.",
        None,
    ),
];

/// `nuage config example`: the defaults as TOML, each key with its comment.
pub fn example() -> String {
    let value =
        toml::Value::try_from(Config::default()).unwrap_or(toml::Value::Table(Default::default()));
    let mut out =
        String::from("# nuage configuration. Every key is optional; shown with its default.\n");
    let table = value.as_table().cloned().unwrap_or_default();
    let mut sections = Vec::new();
    for (path, doc, example) in DOCS {
        let (section, key) = match path.split_once('.') {
            Some((s, k)) => (Some(s), k),
            None => (None, *path),
        };
        if let Some(s) = section {
            if !sections.contains(&s) {
                sections.push(s);
                out.push_str(&format!("\n[{s}]\n"));
            }
        } else {
            out.push('\n');
        }
        let current = match section {
            Some(s) => table.get(s).and_then(|t| t.get(key)),
            None => table.get(key),
        };
        out.push_str(&format!("# {doc}\n"));
        match (current, example) {
            (Some(v), _) => out.push_str(&format!("{key} = {v}\n")),
            (None, Some(ex)) => out.push_str(&format!("# {key} = {ex}\n")),
            (None, None) => out.push_str(&format!("# {key} =\n")),
        }
    }
    out
}

pub fn load_file(path: &std::path::Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the config file {} is not valid: {e}; compare it with `nuage config example`",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let Some(t) = v.as_table() {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_table() {
                    keys(&path, v, out);
                } else {
                    out.push(path);
                }
            }
        }
    }

    #[test]
    fn every_key_is_documented_and_every_doc_names_a_key() {
        let value = toml::Value::try_from(Config::default()).unwrap();
        let mut found = Vec::new();
        keys("", &value, &mut found);
        let documented: Vec<&str> = DOCS.iter().map(|d| d.0).collect();
        for k in &found {
            assert!(
                documented.contains(&k.as_str()),
                "config key {k} has no documentation line"
            );
        }
        for (path, _, example) in DOCS {
            assert!(
                found.iter().any(|k| k == path) || example.is_some(),
                "documented key {path} is not in the config"
            );
        }
    }

    #[test]
    fn the_example_parses_back_to_the_defaults() {
        let text = example();
        let parsed: Config = toml::from_str(&text).expect("example parses");
        assert_eq!(parsed.listen, Config::default().listen);
        assert_eq!(
            parsed.auth.throttle_base_ms,
            Config::default().auth.throttle_base_ms
        );
        assert!(text.contains("# database_url = \"postgres://"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
    }
}
