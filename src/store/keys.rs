//! The Redis key layout: the deployed service's names, each behind the configured prefix.

use super::Priority;

/// Builds every key and channel name the router uses.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

/// The deployed key names (each behind the prefix, most followed by an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `routing:session:<orchestratorId>`: the orchestrator's daemon session.
    Session,
    /// `routing:sessions:<orchestratorId>`: with several sessions per orchestrator, their ids
    /// scored by when they expire (sorted set, ms).
    Sessions,
    /// `routing:session-records:<orchestratorId>`: those sessions' JSON (hash by session id).
    SessionRecords,
    /// `routing:queue:<orchestratorId>`: messages waiting for the orchestrator, oldest first
    /// (normal priority: the deployed key, which held every queued message).
    Queue,
    /// `routing:queue-high:<orchestratorId>`: high-priority messages waiting, oldest first.
    QueueHigh,
    /// `routing:queue-low:<orchestratorId>`: low-priority messages waiting, oldest first.
    QueueLow,
    /// `routing:delivered:<messageId>`: the marker that a message reached a daemon.
    Delivered,
    /// `routing:inflight:<orchestratorId>`: delivered messages awaiting a receipt (hash by message id).
    Inflight,
    /// `routing:receipts:<orchestratorId>`: receipt deadlines of those messages (sorted set, ms).
    Receipts,
    /// `routing:dead:<orchestratorId>`: messages that were never acknowledged (list, oldest first).
    Dead,
    /// `routing:pending`: orchestrators with a queue, scored by when a router should next look.
    Pending,
    /// `daemon:events:<daemonId>`: the daemon's event list, newest first.
    DaemonEvents,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Session => "routing:session:",
            Key::Sessions => "routing:sessions:",
            Key::SessionRecords => "routing:session-records:",
            Key::Queue => "routing:queue:",
            Key::QueueHigh => "routing:queue-high:",
            Key::QueueLow => "routing:queue-low:",
            Key::Delivered => "routing:delivered:",
            Key::Inflight => "routing:inflight:",
            Key::Receipts => "routing:receipts:",
            Key::Dead => "routing:dead:",
            Key::Pending => "routing:pending",
            Key::DaemonEvents => "daemon:events:",
        }
    }
}

impl Key {
    /// The queue list of one priority level. (No level's name extends another's, so no
    /// orchestrator id can make one orchestrator's key another's.)
    pub fn queue_of(priority: Priority) -> Key {
        match priority {
            Priority::High => Key::QueueHigh,
            Priority::Normal => Key::Queue,
            Priority::Low => Key::QueueLow,
        }
    }
}

impl Keys {
    /// A layout whose keys all start with `prefix` (channels are not prefixed, as in ioredis).
    pub fn new(prefix: &str) -> Self {
        Keys { prefix: prefix.to_owned() }
    }

    /// A key as the three pieces it joins (prefix, name, id), for writing it without building it.
    pub fn parts<'a>(&'a self, key: Key, id: &'a str) -> [&'a [u8]; 3] {
        [self.prefix.as_bytes(), key.name().as_bytes(), id.as_bytes()]
    }

    /// The key `key` of `id`.
    pub fn key(&self, key: Key, id: &str) -> String {
        [self.prefix.as_str(), key.name(), id].concat()
    }

    pub fn session(&self, orchestrator_id: &str) -> String {
        self.key(Key::Session, orchestrator_id)
    }

    pub fn queue(&self, orchestrator_id: &str) -> String {
        self.key(Key::Queue, orchestrator_id)
    }

    /// The orchestrator's queue lists, most important first (high, normal, low).
    pub fn queues(&self, orchestrator_id: &str) -> [String; 3] {
        Priority::LEVELS.map(|level| self.key(Key::queue_of(level), orchestrator_id))
    }

    /// The orchestrator's session set and records (several sessions per orchestrator), in the
    /// order the scripts take them.
    pub fn session_set(&self, orchestrator_id: &str) -> [String; 2] {
        [self.key(Key::Sessions, orchestrator_id), self.key(Key::SessionRecords, orchestrator_id)]
    }

    pub fn delivered(&self, message_id: &str) -> String {
        self.key(Key::Delivered, message_id)
    }

    pub fn inflight(&self, orchestrator_id: &str) -> String {
        self.key(Key::Inflight, orchestrator_id)
    }

    pub fn receipts(&self, orchestrator_id: &str) -> String {
        self.key(Key::Receipts, orchestrator_id)
    }

    pub fn dead(&self, orchestrator_id: &str) -> String {
        self.key(Key::Dead, orchestrator_id)
    }

    pub fn pending(&self) -> String {
        self.key(Key::Pending, "")
    }

    pub fn daemon_events(&self, daemon_id: &str) -> String {
        self.key(Key::DaemonEvents, daemon_id)
    }

    /// The pieces of `daemon:<daemonId>:events`, the daemon's pub/sub channel (not prefixed).
    pub fn daemon_channel_parts(daemon_id: &str) -> [&[u8]; 3] {
        [b"daemon:", daemon_id.as_bytes(), b":events"]
    }

    /// `daemon:<daemonId>:events`: the daemon's pub/sub channel.
    pub fn daemon_channel(&self, daemon_id: &str) -> String {
        String::from_utf8(Self::daemon_channel_parts(daemon_id).concat()).expect("joined from &str")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_deployed_names_behind_the_prefix() {
        let keys = Keys::new("app:");
        assert_eq!(keys.session("orch_1"), "app:routing:session:orch_1");
        assert_eq!(keys.queue("orch_1"), "app:routing:queue:orch_1");
        assert_eq!(
            keys.queues("o"),
            ["app:routing:queue-high:o", "app:routing:queue:o", "app:routing:queue-low:o"].map(String::from)
        );
        assert_eq!(keys.delivered("msg_1"), "app:routing:delivered:msg_1");
        assert_eq!(keys.daemon_events("d1"), "app:daemon:events:d1");
        assert_eq!(keys.daemon_channel("d1"), "daemon:d1:events");
        assert_eq!(keys.inflight("o"), "app:routing:inflight:o");
        assert_eq!(keys.receipts("o"), "app:routing:receipts:o");
        assert_eq!(keys.dead("o"), "app:routing:dead:o");
        assert_eq!(keys.session_set("o"), ["app:routing:sessions:o", "app:routing:session-records:o"].map(String::from));
        assert_eq!(Keys::new("").session("o"), "routing:session:o");
    }
}
