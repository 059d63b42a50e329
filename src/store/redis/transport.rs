//! How commands reach Redis: the store's own connection (redis-rs's connection manager to one
//! server or to the primary the Sentinels name, or its cluster client), or for routes the
//! [`Pipe`] whose bytes Node's socket carries; and the one way a round of script calls survives a
//! server that lost its scripts or functions, or refuses functions.

use super::calls::{Calls, Head, Invocation};
use super::scripts::{Function, RouteScript};
use super::sentinel::{Found, Primary};
use super::RedisStore;
use crate::store::pipe::Pipe;
use crate::store::{Durability, RouteRequest, StoreError, StoreResult};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

/// Where the store connects: one server, the primary Sentinels name, or a cluster.
// One per store, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Client {
    Single(redis::Client),
    Sentinel(Primary),
    Cluster(redis::cluster::ClusterClient),
}

/// What a connection was made for: how many times the routes' socket had closed, and (Sentinel)
/// which primary it reaches (see [`Found::epoch`]). A connection made for another mark is stale.
pub(super) type Mark = (u64, u64);

/// The store's own connection (to one server, or to every master of a cluster).
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a redis::Pipeline, offset: usize, count: usize) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    /// A Redis error as the router reports it: a server's error by its code (with what fixes
    /// it), else a timeout or a failed connection (a TLS refusal named as such: rustls says only
    /// `invalid peer certificate: <reason>`, inside an I/O error).
    fn from(error: redis::RedisError) -> Self {
        let text = error.to_string();
        if let Some(code) = error.code() {
            return StoreError::refused(code, &text);
        }
        match error.kind() {
            redis::ErrorKind::AuthenticationFailed => StoreError::refused("WRONGPASS", &text),
            redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => StoreError::UnexpectedReply(text),
            _ if error.is_timeout() => StoreError::Timeout(text),
            _ if text.contains("invalid peer certificate") => StoreError::Connection(format!(
                "TLS certificate verification failed ({text}): the server's certificate must be valid for the host and \
                 signed by a CA the router trusts (tls.ca when given, else the system's root certificates)"
            )),
            _ => StoreError::Connection(text),
        }
    }
}

/// A round of calls to one script, and where they go.
enum Round<'a> {
    /// Through the pipe, packed; the script as a function (FCALL) while `store` may call
    /// functions, else by SHA (`script`, whose `source` the pipe loads itself).
    Piped {
        store: &'a RedisStore,
        pipe: &'a Pipe,
        script: &'a Script,
        source: &'static str,
        function: Option<&'a Function>,
        calls: Vec<Vec<u8>>,
        confirm: Option<Durability>,
    },
    /// On the store's own connection, as one pipeline.
    Direct { store: &'a RedisStore, connection: Connection, script: &'a Script, calls: &'a [redis::Cmd], confirm: Option<Durability> },
}

/// The replies of calls sent with a WAIT after them (`durability`; its reply last): as they are
/// when enough replicas confirmed the writes, else each call that ran fails as not replicated
/// (or with the WAIT's own refusal).
fn confirmed(mut replies: Vec<StoreResult<Value>>, durability: Durability) -> Vec<StoreResult<Value>> {
    let shortfall = match replies.pop() {
        Some(Ok(Value::Int(n))) if n >= 0 && n as u64 >= durability.replicas => return replies,
        Some(Ok(Value::Int(n))) => {
            StoreError::NotReplicated { confirmed: n.max(0) as u64, wanted: durability.replicas, timeout_ms: durability.timeout_ms }
        }
        Some(Err(StoreError::Refused { code, message })) => {
            StoreError::Refused { code, message: format!("WAIT, which confirms each write for durability, was refused: {message}") }
        }
        Some(Err(error)) => error,
        Some(Ok(other)) => StoreError::unexpected("WAIT", other),
        None => StoreError::UnexpectedReply("no reply to WAIT".into()),
    };
    replies.into_iter().map(|reply| reply.and(Err(shortfall.clone()))).collect()
}

/// The WAIT that confirms a connection's writes so far.
fn wait(durability: Durability) -> redis::Cmd {
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(durability.replicas).arg(durability.timeout_ms);
    cmd
}

/// Whether a reply says the server is no longer the primary (it was made a replica in a
/// failover): the store should find the primary again.
fn demoted(reply: &StoreResult<Value>) -> bool {
    matches!(reply, Err(StoreError::Refused { code, .. }) if code == "READONLY")
}

/// Why a call did not run, when it can run once that is mended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotRun {
    /// NOSCRIPT: the server lost the script (it restarted, or its script cache was flushed).
    Script,
    /// The server has no such function (it restarted without persistence, or its functions were
    /// flushed, or none was loaded yet).
    Function,
    /// The server does not take FCALL from this user: it is older than Redis 7, or the user may
    /// not run FCALL.
    Fcall,
}

impl NotRun {
    fn of(reply: &StoreResult<Value>) -> Option<NotRun> {
        let Err(StoreError::Refused { code, message }) = reply else { return None };
        match code.as_str() {
            "NOSCRIPT" => Some(NotRun::Script),
            "ERR" if message.contains("Function not found") => Some(NotRun::Function),
            "ERR" if message.to_ascii_lowercase().contains("unknown command 'fcall'") => Some(NotRun::Fcall),
            "NOPERM" if message.contains("run the 'fcall' command") => Some(NotRun::Fcall),
            _ => None,
        }
    }
}

impl Round<'_> {
    /// Sends the round and, for the calls Redis did not run (see [`NotRun`]), mends what stopped
    /// them (loads the script or the function, or turns to EVALSHA for good) and sends those calls
    /// again: only those, since the others ran and sending them twice could queue a message
    /// twice. The outer error is a connection failure (nothing is known of any call), the inner
    /// ones are each call's own.
    async fn run(mut self) -> StoreResult<Vec<StoreResult<Value>>> {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut replies = self.send(&all).await?;
        if replies.iter().any(demoted) {
            self.store().primary_moved();
        }
        // Each turn mends one cause: FCALL refused or its function not loadable (then EVALSHA),
        // then NOSCRIPT.
        for _ in 0..3 {
            let not_run: Vec<(usize, NotRun)> = replies.iter().enumerate().filter_map(|(i, reply)| Some((i, NotRun::of(reply)?))).collect();
            if not_run.is_empty() {
                break;
            }
            let mut scripts = not_run.iter().any(|(_, why)| *why == NotRun::Fcall);
            if not_run.iter().any(|(_, why)| *why == NotRun::Function) && !self.load_function().await? {
                scripts = true;
            }
            if scripts {
                self.use_scripts();
            }
            if not_run.iter().any(|(_, why)| *why == NotRun::Script) {
                self.load().await?;
            }
            let again: Vec<usize> = not_run.iter().map(|(i, _)| *i).collect();
            for (i, reply) in again.iter().zip(self.send(&again).await?) {
                replies[*i] = reply;
            }
        }
        Ok(replies)
    }

    fn len(&self) -> usize {
        match self {
            Round::Piped { calls, .. } => calls.len(),
            Round::Direct { calls, .. } => calls.len(),
        }
    }

    fn store(&self) -> &RedisStore {
        match self {
            Round::Piped { store, .. } | Round::Direct { store, .. } => store,
        }
    }

    /// Sends the calls `which`, in one round trip; with `confirm`, a WAIT after them on the same
    /// connection (see [`confirmed`]).
    async fn send(&mut self, which: &[usize]) -> StoreResult<Vec<StoreResult<Value>>> {
        let replies = match self {
            Round::Piped { pipe, calls, confirm, .. } => {
                let wait = confirm.map(|durability| wait(durability).get_packed_command());
                let packed: Vec<&[u8]> = which.iter().map(|&i| calls[i].as_slice()).chain(wait.as_deref()).collect();
                piped(pipe, &packed).await?
            }
            Round::Direct { store, connection, calls, confirm, .. } => {
                let mut pipeline = redis::pipe();
                // Each command's own error comes back in its place (NOSCRIPT included).
                pipeline.ignore_errors();
                for &i in which {
                    pipeline.add_command(calls[i].clone());
                }
                if let Some(durability) = confirm {
                    pipeline.add_command(wait(*durability));
                }
                let replies: Vec<redis::RedisResult<Value>> = store.checked(pipeline.query_async(connection).await)?;
                replies.into_iter().map(|reply| reply.map_err(StoreError::from)).collect()
            }
        };
        Ok(match self.confirm() {
            Some(durability) => confirmed(replies, durability),
            None => replies,
        })
    }

    fn confirm(&self) -> Option<Durability> {
        match self {
            Round::Piped { confirm, .. } | Round::Direct { confirm, .. } => *confirm,
        }
    }

    /// Loads the round's script.
    async fn load(&mut self) -> StoreResult<()> {
        match self {
            Round::Piped { pipe, source, .. } => {
                let load = redis::cmd("SCRIPT").arg("LOAD").arg(*source).get_packed_command();
                match piped(pipe, &[&load]).await?.pop() {
                    Some(Err(StoreError::Refused { code, message })) => {
                        Err(StoreError::Refused { code, message: format!("could not load the route script: {message}") })
                    }
                    _ => Ok(()),
                }
            }
            Round::Direct { store, connection, script, .. } => store.checked(script.prepare_invoke().load_async(connection).await).map(drop),
        }
    }

    /// Loads the round's function: whether it is there now (loaded, or by another router first).
    /// A server that does not let it be loaded (older than Redis 7, or a user without FUNCTION
    /// LOAD) answers false; any other refusal is the round's error.
    async fn load_function(&mut self) -> StoreResult<bool> {
        let Round::Piped { pipe, function: Some(function), .. } = self else { return Ok(false) };
        let load = redis::cmd("FUNCTION").arg("LOAD").arg(&function.library).get_packed_command();
        match piped(pipe, &[&load]).await?.pop() {
            Some(Err(StoreError::Refused { message, .. })) if message.contains("already exists") => Ok(true),
            Some(Err(StoreError::Refused { code, message }))
                if code == "NOPERM" || message.to_ascii_lowercase().contains("unknown command") || message.contains("unknown subcommand") =>
            {
                Ok(false)
            }
            Some(Err(StoreError::Refused { code, message })) => {
                Err(StoreError::Refused { code, message: format!("could not load the route function {}: {message}", function.name) })
            }
            Some(Err(error)) => Err(error),
            Some(Ok(_)) => Ok(true),
            None => Err(StoreError::UnexpectedReply("no reply to FUNCTION LOAD".into())),
        }
    }

    /// From now on the round's store calls the script by SHA, and so do the round's calls.
    fn use_scripts(&mut self) {
        if let Round::Piped { store, script, function, calls, .. } = self {
            if function.take().is_some() {
                store.functions.store(false, std::sync::atomic::Ordering::Relaxed);
                let head = Head::Script(script.get_hash());
                for call in calls.iter_mut() {
                    *call = head.replacing(call);
                }
            }
        }
    }
}

/// Sends packed commands through the pipe: each command's reply, or (the outer error) the
/// connection's failure, when nothing is known of any of them.
async fn piped(pipe: &Pipe, packed: &[&[u8]]) -> StoreResult<Vec<StoreResult<Value>>> {
    let mut replies = Vec::with_capacity(packed.len());
    for reply in pipe.send(packed) {
        match reply.await {
            Err(error @ (StoreError::Connection(_) | StoreError::Closed)) => return Err(error),
            other => replies.push(other),
        }
    }
    Ok(replies)
}

impl RedisStore {
    /// The shared connection, created (without waiting for it) on first use.
    pub(super) async fn connection(&self) -> StoreResult<Connection> {
        self.connection_in(&self.connection).await
    }

    /// On one server, the connection of registrations and heartbeats: their own, so that a
    /// heartbeat waits behind no drain work queued on the shared one (on a cluster, the shared
    /// one).
    async fn session_connection(&self) -> StoreResult<Connection> {
        match self.client {
            Client::Single(_) | Client::Sentinel(_) => self.connection_in(&self.session_connection).await,
            Client::Cluster(_) => self.connection().await,
        }
    }

    /// The connection kept in `slot`, created (without waiting for it) on first use.
    async fn connection_in(&self, slot: &std::sync::Mutex<Option<(Connection, Mark)>>) -> StoreResult<Connection> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        // When the pipe's connection closed since this one was made (Redis restarted, say), this
        // one is likely cut too: connect afresh instead of failing the next request on it. So too
        // when the Sentinels named another primary since.
        // (Read after the lookup: moving the pipe to a new primary counts a closure.)
        let primary = self.primary().await?;
        let closures = self.pipe.as_ref().map_or(0, |pipe| pipe.closures());
        let mark = (closures, primary.as_ref().map_or(0, |found| found.epoch));
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((connection, seen)) = slot.as_ref() {
            if *seen == mark {
                return Ok(connection.clone());
            }
        }
        // Reconnection is tried once per failing request: the engine's own retries own backoff.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = match (&self.client, primary) {
            (Client::Single(client), _) => Connection::Single(ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(StoreError::from)?),
            (Client::Sentinel(_), Some(found)) => {
                Connection::Single(ConnectionManager::new_lazy_with_config(found.client.clone(), config).map_err(StoreError::from)?)
            }
            (Client::Sentinel(_), None) => unreachable!("a Sentinel store always has a primary here"),
            (Client::Cluster(client), _) => Connection::Cluster(
                client.get_pending_async_connection_with_config(
                    redis::cluster::ClusterConfig::new().set_connection_timeout(self.timeout).set_response_timeout(self.timeout),
                ),
            ),
        };
        *slot = Some((connection.clone(), mark));
        Ok(connection)
    }

    /// On a Sentinel target, the primary the Sentinels name (see [`Primary::current`]), with the
    /// routes' socket pointed at it; `None` on any other target.
    async fn primary(&self) -> StoreResult<Option<std::sync::Arc<Found>>> {
        let Client::Sentinel(primary) = &self.client else { return Ok(None) };
        let found = primary.current(self.pipe.as_ref().map_or(0, |pipe| pipe.closures())).await?;
        if let Some(pipe) = &self.pipe {
            if let Some(closures) = pipe.retarget(&found.target, "the Redis primary moved (a Sentinel failover)") {
                // The closure the move counted is this lookup's own doing, not a sign to look again.
                primary.seen(&found, closures);
            }
        }
        Ok(Some(found))
    }

    /// The primary may have moved (a failure met on it, or it answered READONLY): on a Sentinel
    /// target, the next request asks the Sentinels again.
    pub(super) fn primary_moved(&self) {
        if let Client::Sentinel(primary) = &self.client {
            primary.lost();
        }
    }

    /// Runs route calls of `kind` in one round (one per slice; a slice holds one request unless
    /// `kind` is the batch script), through the pipe when there is one (see [`Round::run`]).
    pub(super) async fn eval_routes(&self, calls: &[&[RouteRequest<'_>]], kind: RouteScript) -> StoreResult<Vec<StoreResult<Value>>> {
        let builder: Calls<'_> = self.calls();
        let (script, source) = self.scripts.route(kind);
        match &self.pipe {
            Some(pipe) => {
                // Sentinel: the socket must reach the primary the Sentinels name before it writes.
                self.primary().await?;
                let function = self.scripts.route_function(kind).filter(|_| self.functions.load(std::sync::atomic::Ordering::Relaxed));
                let head = function.map_or(Head::Script(script.get_hash()), |function| Head::Function(&function.name));
                let calls = calls.iter().map(|requests| builder.route_packed(head, requests, kind)).collect();
                Round::Piped { store: self, pipe, script, source, function, calls, confirm: self.limits.durability }.run().await
            }
            None => {
                let commands: Vec<redis::Cmd> = calls.iter().map(|requests| builder.route_cmd(requests, kind, None)).collect();
                self.eval_commands(script, &commands).await
            }
        }
    }

    /// Runs EVALSHA commands of `script` as one pipeline on the store's own connection (see
    /// [`Round::run`]); they write, and are confirmed as `durability` asks.
    pub(super) async fn eval_commands(&self, script: &Script, commands: &[redis::Cmd]) -> StoreResult<Vec<StoreResult<Value>>> {
        Round::Direct { store: self, connection: self.connection().await?, script, calls: commands, confirm: self.limits.durability }.run().await
    }

    /// Runs one script call on the store's own connection: a read, or bookkeeping that needs no
    /// replica's confirmation (drain claims; the cluster's, where durability is refused).
    pub(super) async fn run(&self, invocation: &Invocation) -> StoreResult<Value> {
        self.invoke(self.connection().await?, invocation, None).await
    }

    /// Runs one script call that writes on the store's own connection, confirmed as
    /// `durability` asks.
    pub(super) async fn write(&self, invocation: &Invocation) -> StoreResult<Value> {
        self.invoke(self.connection().await?, invocation, self.limits.durability).await
    }

    /// Runs a registration's or a heartbeat's script call (see [`RedisStore::session_connection`]),
    /// confirmed as `durability` asks.
    pub(super) async fn write_session_step(&self, invocation: &Invocation) -> StoreResult<Value> {
        self.invoke(self.session_connection().await?, invocation, self.limits.durability).await
    }

    async fn invoke(&self, connection: Connection, invocation: &Invocation, confirm: Option<Durability>) -> StoreResult<Value> {
        let calls = [invocation.cmd()];
        let mut replies = Round::Direct { store: self, connection, script: invocation.script(), calls: &calls, confirm }.run().await?;
        replies.pop().ok_or_else(|| StoreError::UnexpectedReply("no reply to a script call".into()))?
    }

    /// Forgets both connections: the next request connects afresh.
    pub(super) fn drop_connections(&self) {
        self.connection.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.session_connection.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Passes a result through; on a connection failure, drops the connections (the failure is
    /// likely the server's, which both share) so that the next request connects afresh instead of
    /// awaiting the failed attempt (the manager caches it). On a Sentinel target, a failure, a
    /// timeout or READONLY also has the primary found again.
    pub(super) fn checked<T>(&self, result: redis::RedisResult<T>) -> StoreResult<T> {
        result.map_err(|error| {
            // Redis closes a connection after a protocol error (such as a long command sent
            // before authenticating), so it is dropped too.
            let protocol = error.to_string().contains("Protocol error");
            let failed = protocol || error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped();
            if failed {
                self.drop_connections();
            }
            if failed || error.is_timeout() || error.code() == Some("READONLY") {
                self.primary_moved();
            }
            error.into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Durability = Durability { replicas: 1, timeout_ms: 100 };

    #[test]
    fn writes_count_once_enough_replicas_confirm_them() {
        let replies = || vec![Ok(Value::Int(1)), Err(StoreError::from_reply("NOSCRIPT No matching script"))];
        let confirmed_by = |wait: StoreResult<Value>| confirmed(replies().into_iter().chain([wait]).collect(), ONE);
        // Confirmed: the replies as they were (the call that did not run stays as it was).
        assert_eq!(confirmed_by(Ok(Value::Int(2))), replies());
        // Not confirmed: what ran fails as not replicated; what did not run keeps its own error.
        let short = confirmed_by(Ok(Value::Int(0)));
        assert_eq!(short[0], Err(StoreError::NotReplicated { confirmed: 0, wanted: 1, timeout_ms: 100 }));
        assert_eq!(short[1], replies()[1]);
        // WAIT refused: its refusal, named, takes the place of what ran.
        let refused = confirmed_by(Err(StoreError::from_reply("NOPERM this user has no permissions to run the 'wait' command")));
        let Err(StoreError::Refused { code, message }) = &refused[0] else { panic!("{refused:?}") };
        assert_eq!(code, "NOPERM");
        assert!(message.starts_with("WAIT, which confirms each write for durability, was refused: NOPERM"), "{message}");
    }
}
