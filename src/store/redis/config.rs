//! Where the store connects, read from the router's `redis` option: one server (a URL, or host,
//! port, db, credentials and TLS), a cluster's nodes, or the Sentinels that name a primary; and
//! URLs as they may be shown.

use super::RedisStore;
use crate::store::keys::Keys;
use crate::store::StoreLimits;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use serde_json::Value as Json;
use std::time::Duration;

/// Where to connect: a URL, or the parts of an options object (a Unix socket's `path`, or host
/// and port).
pub fn connection_info(redis: &Json) -> Result<ConnectionInfo, String> {
    if let Some(url) = redis.get("url").and_then(Json::as_str) {
        return url.into_connection_info().map_err(|e| format!("is not a valid Redis URL ({:?}): {e}", redact_url(url)));
    }
    let text = |name: &str| redis.get(name).and_then(Json::as_str).map(str::to_owned);
    let host = text("host").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match redis.get("port") {
        None | Some(Json::Null) => 6379,
        Some(p) => p
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("port must be an integer from 1 to 65535, got {p}"))? as u16,
    };
    let tls = redis.get("tls").is_some_and(|t| !t.is_null() && t != &Json::Bool(false));
    let addr = if let Some(path) = text("path") {
        if tls {
            return Err("tls is not read with path: a Unix socket is reached without TLS".into());
        }
        ConnectionAddr::Unix(path.into())
    } else if tls {
        ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let info = addr.into_connection_info().map_err(|e| e.to_string())?;
    Ok(info.set_redis_settings(login(redis)?))
}

/// How a connection logs in and which database it selects: `db`, `username` and `password`.
fn login(redis: &Json) -> Result<RedisConnectionInfo, String> {
    let text = |name: &str| redis.get(name).and_then(Json::as_str);
    let mut settings = RedisConnectionInfo::default();
    if let Some(db) = redis.get("db").filter(|d| !d.is_null()) {
        settings = settings.set_db(db.as_i64().filter(|d| *d >= 0).ok_or_else(|| format!("db must be a non-negative integer, got {db}"))?);
    }
    if let Some(username) = text("username") {
        settings = settings.set_username(username);
    }
    if let Some(password) = text("password") {
        settings = settings.set_password(password);
    }
    Ok(settings)
}

/// A URL as it may be shown: its password (user info, or a `password`/`pass` query value) masked.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..].find(['/', '?', '#']).map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, tail) = out.split_at(query + 1);
        let masked: Vec<String> = tail
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if matches!(name, "password" | "pass") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

/// The nodes of a cluster target (`{ cluster: [url, ...], username?, password? }`), or `None`
/// when `redis` names one server.
pub fn cluster_target(redis: &serde_json::Value) -> Option<Result<ClusterTarget, String>> {
    let nodes = redis.get("cluster")?;
    let parse = || {
        let urls = nodes.as_array().filter(|n| !n.is_empty()).ok_or("cluster must be a non-empty array of node URLs")?;
        let nodes = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let url = url.as_str().ok_or_else(|| format!("cluster[{i}] must be a URL"))?;
                redis::IntoConnectionInfo::into_connection_info(url)
                    .map_err(|e| format!("cluster[{i}] is not a valid Redis URL ({:?}): {e}", redact_url(url)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let text = |name: &str| redis.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        Ok(ClusterTarget { nodes, username: text("username"), password: text("password") })
    };
    Some(parse())
}

/// Where a cluster store connects.
pub struct ClusterTarget {
    pub nodes: Vec<ConnectionInfo>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl ClusterTarget {
    /// The store on this cluster, with `keys` (see [`Keys::cluster`]).
    pub fn store(self, keys: Keys, limits: StoreLimits, timeout: Duration) -> Result<RedisStore, String> {
        RedisStore::cluster(self.nodes, self.username.as_deref(), self.password.as_deref(), keys, limits, timeout)
    }
}

/// The Sentinels of a Sentinel target (`{ sentinels: [url, ...], name, username?, password?,
/// sentinelUsername?, sentinelPassword?, db?, tls?, sentinelTls? }`), or `None` when `redis`
/// names no Sentinels. The Sentinels are reached over TLS when their URLs are `rediss://` (all of
/// them or none), trusting `sentinelTls.ca` when given; the primary when `tls` is set.
pub fn sentinel_target(redis: &Json) -> Option<Result<SentinelTarget, String>> {
    let sentinels = redis.get("sentinels")?;
    let parse = || {
        let text = |name: &str| redis.get(name).and_then(Json::as_str).map(str::to_owned);
        let fallback = Login { username: text("sentinelUsername"), password: text("sentinelPassword") };
        let urls = sentinels.as_array().filter(|s| !s.is_empty()).ok_or("sentinels must be a non-empty array of Sentinel URLs")?;
        let mut addresses = Vec::with_capacity(urls.len());
        let mut shared: Option<Login> = None;
        for (i, url) in urls.iter().enumerate() {
            let url = url.as_str().ok_or_else(|| format!("sentinels[{i}] must be a URL"))?;
            let info = url
                .into_connection_info()
                .map_err(|e| format!("sentinels[{i}] is not a valid Redis URL ({:?}): {e}", redact_url(url)))?;
            let tls = match info.addr() {
                ConnectionAddr::Tcp(..) => false,
                ConnectionAddr::TcpTls { .. } => true,
                _ => return Err(format!("sentinels[{i}] must be a redis:// or rediss:// URL, got {:?}", redact_url(url))),
            };
            if i > 0 && tls != matches!(addresses[0], ConnectionAddr::TcpTls { .. }) {
                return Err(format!("sentinels[{i}] must be {} like sentinels[0]: the router reaches every Sentinel the same way", if tls { "redis://" } else { "rediss://" }));
            }
            // Credentials in a Sentinel's URL are its own; sentinelUsername and sentinelPassword
            // stand for every Sentinel whose URL gives none. The router logs in to every Sentinel
            // the same way (as ioredis does), so they must agree.
            let settings = info.redis_settings();
            let own = match settings.password() {
                Some(password) => Login { username: settings.username().map(str::to_owned), password: Some(password.to_owned()) },
                None => fallback.clone(),
            };
            match &shared {
                Some(first) if *first != own => {
                    return Err(format!("sentinels[{i}] logs in with other credentials than sentinels[0]: the router logs in to every Sentinel with the same ones"));
                }
                _ => shared = Some(own),
            }
            addresses.push(info.addr().clone());
        }
        let sentinel_tls = tls_option(redis, "sentinelTls")?;
        let over_tls = matches!(addresses[0], ConnectionAddr::TcpTls { .. });
        if sentinel_tls.is_some() && !over_tls {
            return Err("sentinelTls is read only with rediss:// Sentinel URLs (sentinels[0] is redis://)".into());
        }
        let name = text("name").filter(|n| !n.is_empty()).ok_or("name must name the primary the Sentinels watch (their `sentinel monitor` name)")?;
        Ok(SentinelTarget {
            sentinels: addresses,
            sentinel_login: shared.unwrap_or_default(),
            sentinel_tls: if over_tls { Some(sentinel_tls.unwrap_or_default()) } else { None },
            name,
            node: login(redis)?,
            node_tls: tls_option(redis, "tls")?,
        })
    };
    Some(parse())
}

/// The TLS option `name` of `redis`: absent, `null` or `false` for none, `true` for the system's
/// trusted roots, `{ ca }` (PEM) for those CAs.
fn tls_option(redis: &Json, name: &str) -> Result<Option<Tls>, String> {
    match redis.get(name) {
        None | Some(Json::Null) | Some(Json::Bool(false)) => Ok(None),
        Some(Json::Bool(true)) => Ok(Some(Tls::default())),
        Some(Json::Object(options)) => match options.get("ca") {
            None | Some(Json::Null) => Ok(Some(Tls::default())),
            Some(Json::String(ca)) => Ok(Some(Tls { ca: Some(ca.clone()) })),
            Some(other) => Err(format!("{name}.ca must be PEM text, got {other}")),
        },
        Some(other) => Err(format!("{name} must be true, false or {{ ca }}, got {other}")),
    }
}

/// How the router logs in to a server: a username and a password, either of them absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Login {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// TLS to a server: the CAs it trusts (PEM), else the system's trusted roots.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    pub ca: Option<String>,
}

/// Where a Sentinel store connects: the Sentinels to ask and how, the name of the primary they
/// watch, and how to reach and log in to that primary.
pub struct SentinelTarget {
    /// Every Sentinel's address: all `redis://`, or all `rediss://`.
    pub sentinels: Vec<ConnectionAddr>,
    pub sentinel_login: Login,
    /// The Sentinels are reached over TLS (their URLs are `rediss://`).
    pub sentinel_tls: Option<Tls>,
    pub name: String,
    pub node: RedisConnectionInfo,
    /// The primary is reached over TLS.
    pub node_tls: Option<Tls>,
}
