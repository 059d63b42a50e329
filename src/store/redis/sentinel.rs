//! The primary of a Sentinel target: asked of the Sentinels on first use, and asked again once it
//! may have moved (a connection to it failed, it answered READONLY, or the routes' socket closed),
//! so that every connection the store makes goes to the primary the Sentinels name now.

use super::config::SentinelTarget;
use crate::store::pipe::PipeTarget;
use crate::store::{StoreError, StoreResult};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, TlsCertificates, TlsMode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The primary as the Sentinels last named it (shared: every route asks for it).
pub(super) struct Found {
    /// A client for the primary (its address, credentials and database).
    pub client: redis::Client,
    /// Where the routes' socket connects to reach it.
    pub target: PipeTarget,
    /// Counts the primaries found: a connection made for another one is stale.
    pub epoch: u64,
}

/// The primary last found, and whether it may still be the primary.
struct Known {
    found: Arc<Found>,
    /// How many times the routes' socket had closed when it was found; `None` once a failure
    /// said it may have moved.
    closures: Option<u64>,
}

/// The Sentinels of a target, and the primary they named.
pub(super) struct Primary {
    /// Asked one lookup at a time: concurrent callers wait for the lookup under way. `None` once
    /// the store closed (the client's connections to the Sentinels go with it).
    sentinels: tokio::sync::Mutex<Option<SentinelClient>>,
    name: String,
    known: Mutex<Option<Known>>,
    /// How many primaries were found so far.
    epochs: std::sync::atomic::AtomicU64,
    /// The bound of one lookup.
    timeout: Duration,
    closed: std::sync::atomic::AtomicBool,
}

impl Primary {
    /// The primary of `target`, found on first use; each lookup is bounded by `timeout`.
    pub fn new(target: SentinelTarget, timeout: Duration) -> Result<Self, String> {
        let SentinelTarget { sentinels, sentinel_login, sentinel_tls, name, node, node_tls } = target;
        let certificates = |ca: String| TlsCertificates { client_tls: None, root_cert: Some(ca.into_bytes()) };
        let mut builder = SentinelClientBuilder::new(sentinels, name.as_str(), SentinelServerType::Master).map_err(|e| e.to_string())?;
        if let Some(username) = sentinel_login.username {
            builder = builder.set_client_to_sentinel_username(username);
        }
        if let Some(password) = sentinel_login.password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if let Some(ca) = sentinel_tls.and_then(|tls| tls.ca) {
            builder = builder.set_client_to_sentinel_certificates(certificates(ca));
        }
        builder = builder.set_client_to_redis_db(node.db());
        if let Some(username) = node.username() {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = node.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(tls) = node_tls {
            builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
            if let Some(ca) = tls.ca {
                builder = builder.set_client_to_redis_certificates(certificates(ca));
            }
        }
        let sentinels = builder.build().map_err(|e| e.to_string())?;
        Ok(Primary {
            sentinels: tokio::sync::Mutex::new(Some(sentinels)),
            name,
            known: Mutex::new(None),
            epochs: 0.into(),
            timeout,
            closed: false.into(),
        })
    }

    /// The primary: the one found before while it may still be (no failure was met since, and the
    /// routes' socket has closed `closures` times, as when it was found), else the one the
    /// Sentinels name now, checked to answer as a primary.
    pub async fn current(&self, closures: u64) -> StoreResult<Arc<Found>> {
        if let Some(found) = self.known(closures) {
            return Ok(found);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another caller may have found it while this one waited for the lock.
        if let Some(found) = self.known(closures) {
            return Ok(found);
        }
        let Some(client) = sentinels.as_mut() else { return Err(StoreError::Closed) };
        let asked = self.ask(client).await;
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            // Closed during the lookup: what close() could not take, it takes now.
            sentinels.take();
            return Err(StoreError::Closed);
        }
        let client = asked?;
        let target = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                PipeTarget { host: Some(host.clone()), port: Some(*port), path: None }
            }
            other => return Err(self.not_found(&format!("the Sentinels named an address the router cannot reach: {other}"))),
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = match known.as_ref() {
            // The same primary again (the failure was passing): connections made for it stay good.
            Some(previous) if previous.found.target == target => previous.found.epoch,
            _ => self.epochs.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1,
        };
        let found = Arc::new(Found { client, target, epoch });
        *known = Some(Known { found: Arc::clone(&found), closures: Some(closures) });
        Ok(found)
    }

    /// The primary the Sentinels name now, checked with ROLE, within the lookup's bound.
    async fn ask(&self, sentinels: &mut SentinelClient) -> StoreResult<redis::Client> {
        match tokio::time::timeout(self.timeout, sentinels.async_get_client()).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => Err(match StoreError::from(error) {
                // A refusal (NOAUTH, NOPERM…) says what to fix; either side may have made it.
                StoreError::Refused { code, message } => {
                    let sentinels = if matches!(code.as_str(), "NOAUTH" | "WRONGPASS") {
                        " (the Sentinels' own password is redis.sentinelPassword)"
                    } else {
                        ""
                    };
                    let message = format!("the Sentinels or the primary they name for {:?} refused the router: {message}{sentinels}", self.name);
                    StoreError::Refused { code, message }
                }
                other => self.not_found(&other.to_string()),
            }),
            Err(_) => Err(self.not_found(&format!("no answer within {} ms", self.timeout.as_millis()))),
        }
    }

    fn known(&self, closures: u64) -> Option<Arc<Found>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.as_ref().filter(|known| known.closures == Some(closures)).map(|known| Arc::clone(&known.found))
    }

    /// The routes' socket was moved to `found` (which counted a closure): `found` stays the
    /// primary while the socket has closed `closures` times, unless a failure was met meanwhile.
    pub fn seen(&self, found: &Arc<Found>, closures: u64) {
        if let Some(known) = self.known.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            if Arc::ptr_eq(&known.found, found) && known.closures.is_some() {
                known.closures = Some(closures);
            }
        }
    }

    /// The primary may have moved: the next use asks the Sentinels again. The last one found is
    /// kept, so that finding it again keeps the connections made for it.
    pub fn lost(&self) {
        if let Some(known) = self.known.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            known.closures = None;
        }
    }

    /// The store closed: the connections to the Sentinels and the primary's client go now (a
    /// lookup under way lets them go when it ends).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        self.known.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Ok(mut sentinels) = self.sentinels.try_lock() {
            sentinels.take();
        }
    }

    fn not_found(&self, why: &str) -> StoreError {
        StoreError::Connection(format!("no Sentinel named a reachable primary for {:?}: {why}", self.name))
    }
}
