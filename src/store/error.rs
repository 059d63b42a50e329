//! [`StoreError`]: why a store operation failed, as the engine and the caller need to tell it
//! (the operation may have run or not; the server refused it; the store is closed), with what
//! fixes it when the cause is the deployment's (see [`StoreError::refused`]).

use std::fmt;

/// A store operation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The store could not be reached, or the connection failed before the reply came: the
    /// operation may or may not have run.
    Connection(String),
    /// No reply came in the time allowed: the operation may or may not have run.
    Timeout(String),
    /// The server answered with an error: `code` is its first word (`NOPERM`, `NOAUTH`,
    /// `WRONGTYPE`, `ERR`…), `message` the whole error with what fixes it.
    Refused { code: String, message: String },
    /// The store answered something the operation never returns.
    UnexpectedReply(String),
    /// What an operation depends on (a session, a list) changed at every try; it gave up.
    Contended(String),
    /// The store was closed; nothing ran.
    Closed,
    /// The server has the operation's writes, but fewer replicas than `durability` asks for
    /// confirmed them in time: they may be lost with the server.
    NotReplicated { confirmed: u64, wanted: u64, timeout_ms: u64 },
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// What Redis answers without a password that it wants, in words that name this package's options.
const NOAUTH: &str = "the server requires a password: give it in the URL, redis://:password@host, or as redis.password, with redis.username for an ACL user";

impl StoreError {
    /// A server's error reply, as Redis sends it (`CODE words`).
    pub fn from_reply(reply: &str) -> Self {
        let code = reply.split_once(' ').map_or(reply, |(code, _)| code);
        Self::refused(code, reply)
    }

    /// The server's error `code` (`NOPERM`, `ERR`…) shown as `reply`, with what fixes it when the
    /// code says the deployment is at fault: credentials, or an ACL missing a command (Redis's
    /// own words name no option of this package).
    pub fn refused(code: &str, reply: &str) -> Self {
        let message = match code {
            "NOAUTH" => format!("{reply} ({NOAUTH})"),
            "WRONGPASS" => format!("{reply} (check redis.username and redis.password, or the credentials in the URL)"),
            // The scripts' own refusals name the ACL already.
            "NOPERM" if !reply.contains("least-privilege") => {
                format!("{reply} (the router's Redis user needs the README's least-privilege ACL)")
            }
            // What Redis answers a long command sent before authenticating, instead of NOAUTH:
            // an ERR whose words are the only sign.
            "ERR" if reply.contains("unauthenticated multibulk") || reply.contains("unauthenticated bulk") => {
                format!("NOAUTH: {NOAUTH} (Redis answered: {reply})")
            }
            _ => reply.to_owned(),
        };
        StoreError::Refused { code: code.to_owned(), message }
    }

    /// The store answered `what` with something it never returns.
    pub fn unexpected(what: &str, reply: impl fmt::Debug) -> Self {
        StoreError::UnexpectedReply(format!("unexpected reply to {what}: {reply:?}"))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Connection(message)
            | StoreError::Timeout(message)
            | StoreError::UnexpectedReply(message)
            | StoreError::Contended(message)
            | StoreError::Refused { message, .. } => f.write_str(message),
            StoreError::Closed => f.write_str("the router is closed"),
            StoreError::NotReplicated { confirmed, wanted, timeout_ms } => write!(
                f,
                "not replicated: the Redis primary has the writes, but {confirmed} of the {wanted} replicas durability asks for \
                 confirmed them within {timeout_ms} ms (WAIT); they may be lost if the primary fails before they replicate"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_servers_code_and_names_the_fix() {
        let StoreError::Refused { code, message } = StoreError::from_reply("NOPERM User r has no permissions to run the 'lpush' command") else {
            panic!("a refusal");
        };
        assert_eq!(code, "NOPERM");
        assert!(message.ends_with("(the router's Redis user needs the README's least-privilege ACL)"), "{message}");
        let already = "NOPERM the Redis user may not run 'lpush' (as the README's least-privilege ACL grants)";
        assert_eq!(StoreError::from_reply(already).to_string(), already);
        assert!(StoreError::from_reply("NOAUTH Authentication required.").to_string().contains("redis.password"));
        assert!(StoreError::from_reply("ERR Protocol error: unauthenticated multibulk length").to_string().starts_with("NOAUTH: "));
        assert_eq!(StoreError::from_reply("WRONGTYPE Operation against a key").to_string(), "WRONGTYPE Operation against a key");
        assert_eq!(StoreError::from_reply("ERR").to_string(), "ERR");
    }
}
