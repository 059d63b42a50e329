//! The Redis key layout: the deployed service's names, each behind the configured prefix.
//!
//! On a Redis Cluster every key of one orchestrator carries its id as a hash tag
//! (`routing:queue:{orch_1}`, `routing:delivered:{orch_1}:msg_1`), so that each step touches one
//! slot; the index of orchestrators due a look stays one key, and a daemon's event list keeps its
//! deployed name (see `super::redis`'s cluster steps for how a delivery crosses the two slots).

use super::Priority;

/// Builds every key and channel name the router uses.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// Per-orchestrator keys carry the orchestrator id as a hash tag (Redis Cluster).
    cluster: bool,
}

/// A key as the pieces it joins, for writing it without building it (unused pieces are empty).
pub type KeyParts<'a> = [&'a [u8]; 6];

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
    /// `routing:pending` (its deployed name): the due index, orchestrators with a queue scored by
    /// when a router should next look.
    DueIndex,
    /// `daemon:events:<daemonId>`: the daemon's event list, newest first.
    DaemonEvents,
    /// Cluster only, `routing:due:{<orchestratorId>}`: when the orchestrator is due a look, in
    /// its own slot (a sorted set whose one member is the orchestrator), copied into `Pending`.
    Due,
    /// Cluster only, `routing:outbox:{<orchestratorId>}:<daemonId>`: events a step delivered to
    /// the daemon, each behind its sequence number, until they are moved into its list.
    Outbox,
    /// Cluster only, `routing:outbox-seq:{<orchestratorId>}`: the last sequence number given.
    OutboxSeq,
    /// Cluster only, `routing:pushed:{<daemon list key>}`: per orchestrator, the last sequence
    /// number moved into that daemon list (a hash in the list's slot).
    Pushed,
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
            Key::DueIndex => "routing:pending",
            Key::DaemonEvents => "daemon:events:",
            Key::Due => "routing:due:",
            Key::Outbox => "routing:outbox:",
            Key::OutboxSeq => "routing:outbox-seq:",
            Key::Pushed => "routing:pushed:",
        }
    }
}

impl Key {
    /// The kinds of key whose presence means the store holds something of an orchestrator: a
    /// session, a queue, a message awaiting its receipt, a dead letter.
    pub const HELD: [Key; 7] = [Key::Session, Key::Sessions, Key::QueueHigh, Key::Queue, Key::QueueLow, Key::Receipts, Key::Dead];

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
        Keys { prefix: prefix.to_owned(), cluster: false }
    }

    /// The layout on a Redis Cluster: per-orchestrator keys carry the id as a hash tag. The prefix
    /// must hold no brace, which would make its own hash tag.
    pub fn cluster(prefix: &str) -> Result<Self, String> {
        if prefix.contains(['{', '}']) {
            return Err(format!("{prefix:?} must not contain '{{' or '}}' on a Redis Cluster (it would be taken for a hash tag)"));
        }
        Ok(Keys { prefix: prefix.to_owned(), cluster: true })
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// A key as the pieces it joins (prefix, name and id; on a cluster, the id of an
    /// orchestrator's key in braces).
    pub fn parts<'a>(&'a self, key: Key, id: &'a str) -> KeyParts<'a> {
        let tagged = self.cluster && !matches!(key, Key::DueIndex | Key::DaemonEvents);
        let (open, close): (&[u8], &[u8]) = if tagged { (b"{", b"}") } else { (b"", b"") };
        [self.prefix.as_bytes(), key.name().as_bytes(), open, id.as_bytes(), close, b""]
    }

    /// The key `key` of `id` (see [`Keys::parts`]).
    pub fn key(&self, key: Key, id: &str) -> String {
        join(&self.parts(key, id))
    }

    /// A SCAN pattern matching every key of kind `key` (whatever its id), and only those: the
    /// prefix and name as written (glob characters escaped), then any id.
    pub fn pattern(&self, key: Key) -> String {
        let [prefix, name, open, ..] = self.parts(key, "");
        let mut out = glob_escaped(&String::from_utf8_lossy(&[prefix, name].concat()));
        out.push_str(std::str::from_utf8(open).unwrap_or_default());
        out.push('*');
        out
    }

    /// One SCAN pattern matching the keys of every kind in `kinds` (all `routing:` keys), so that
    /// one walk of the keyspace finds them all: the first three characters of each kind's name
    /// after `routing:`, as classes (`routing:[dqrs][eu][aces]*` for sessions, queues, receipts and
    /// dead letters). It matches a few keys of other kinds too, which [`Keys::orchestrator_of`]
    /// leaves out, but not the delivered markers, one per message delivered (`routing:del…`).
    pub fn scan_pattern(&self, kinds: &[Key]) -> String {
        let mut pattern = glob_escaped(&format!("{}routing:", self.prefix));
        let names: Vec<&[u8]> = kinds.iter().map(|kind| &kind.name().as_bytes()["routing:".len()..]).collect();
        for position in 0..3 {
            let mut class: Vec<u8> = names.iter().filter_map(|name| name.get(position).copied()).collect();
            class.sort_unstable();
            class.dedup();
            match class.as_slice() {
                [one] => pattern.push(char::from(*one)),
                many => pattern.push_str(&format!("[{}]", String::from_utf8_lossy(many))),
            }
        }
        pattern.push('*');
        pattern
    }

    /// The orchestrator a key names, if the key is of one of `kinds`.
    pub fn orchestrator_of<'a>(&self, kinds: &[Key], name: &'a str) -> Option<&'a str> {
        kinds.iter().find_map(|kind| self.parse(*kind, name))
    }

    /// The delivered marker of a message sent to an orchestrator (on a cluster, in the
    /// orchestrator's slot).
    pub fn marker_parts<'a>(&'a self, orchestrator_id: &'a str, message_id: &'a str) -> KeyParts<'a> {
        if self.cluster {
            [self.prefix.as_bytes(), Key::Delivered.name().as_bytes(), b"{", orchestrator_id.as_bytes(), b"}:", message_id.as_bytes()]
        } else {
            self.parts(Key::Delivered, message_id)
        }
    }

    /// The list a step pushes an orchestrator's events for a daemon into: the daemon's event list
    /// on one server; on a cluster, the orchestrator's outbox for that daemon (see [`Key::Outbox`]).
    pub fn target_parts<'a>(&'a self, orchestrator_id: &'a str, daemon_id: &'a str) -> KeyParts<'a> {
        if self.cluster {
            [self.prefix.as_bytes(), Key::Outbox.name().as_bytes(), b"{", orchestrator_id.as_bytes(), b"}:", daemon_id.as_bytes()]
        } else {
            self.parts(Key::DaemonEvents, daemon_id)
        }
    }

    pub fn target(&self, orchestrator_id: &str, daemon_id: &str) -> String {
        join(&self.target_parts(orchestrator_id, daemon_id))
    }

    /// The index key a step files the orchestrator in: `routing:pending` on one server; on a
    /// cluster, the orchestrator's own [`Key::Due`], which the router copies into `routing:pending`.
    pub fn index_parts<'a>(&'a self, orchestrator_id: &'a str) -> KeyParts<'a> {
        if self.cluster { self.parts(Key::Due, orchestrator_id) } else { self.parts(Key::DueIndex, "") }
    }

    pub fn index(&self, orchestrator_id: &str) -> String {
        join(&self.index_parts(orchestrator_id))
    }

    /// Cluster: the sorted set in the index's slot that holds the version of each orchestrator's
    /// due time copied into the index (`routing:pending-versions:{routing:pending}`).
    pub fn due_versions(&self) -> String {
        [self.prefix.as_str(), "routing:pending-versions:{", &self.due_index(), "}"].concat()
    }

    /// Cluster: the key naming the router that sweeps, in the index's slot (so that the sweep
    /// depends on no other master than the index's).
    pub fn sweep_lock(&self) -> String {
        [self.prefix.as_str(), "routing:pending-sweep:{", &self.due_index(), "}"].concat()
    }

    /// Cluster: the hash in a daemon list's slot that remembers what was moved into it.
    pub fn pushed(&self, daemon_id: &str) -> String {
        [self.prefix.as_str(), Key::Pushed.name(), "{", &self.daemon_events(daemon_id), "}"].concat()
    }

    /// The orchestrator and daemon of an outbox key (cluster), as [`Keys::target`] built it.
    pub fn parse_outbox<'a>(&self, key: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = key.strip_prefix(self.prefix.as_str())?.strip_prefix(Key::Outbox.name())?.strip_prefix('{')?;
        rest.split_once("}:")
    }

    /// The orchestrator of a key of kind `key` (cluster: with its hash tag), or `None`.
    pub fn parse<'a>(&self, key: Key, name: &'a str) -> Option<&'a str> {
        let rest = name.strip_prefix(self.prefix.as_str())?.strip_prefix(key.name())?;
        if self.cluster { rest.strip_prefix('{')?.strip_suffix('}') } else { Some(rest) }
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

    pub fn delivered(&self, orchestrator_id: &str, message_id: &str) -> String {
        join(&self.marker_parts(orchestrator_id, message_id))
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

    /// The due index routers claim backlogs from.
    pub fn due_index(&self) -> String {
        self.key(Key::DueIndex, "")
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

/// The key the pieces make.
fn join(parts: &KeyParts<'_>) -> String {
    String::from_utf8(parts.concat()).expect("joined from &str")
}

/// Why an id cannot be part of a key on a Redis Cluster, if it cannot: a brace would make (or
/// break) the hash tag that keeps an orchestrator's keys in one slot.
pub fn cluster_id_problem(id: &str) -> Option<String> {
    id.contains(['{', '}'])
        .then(|| format!("{id:?} cannot be used on a Redis Cluster: ids there must not contain '{{' or '}}' (they would change the key's hash tag)"))
}

/// `text` with the characters SCAN's glob patterns give a meaning escaped.
fn glob_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        assert_eq!(keys.delivered("orch_1", "msg_1"), "app:routing:delivered:msg_1");
        assert_eq!(keys.target("orch_1", "d1"), "app:daemon:events:d1");
        assert_eq!(keys.index("orch_1"), "app:routing:pending");
        assert_eq!(keys.daemon_events("d1"), "app:daemon:events:d1");
        assert_eq!(keys.daemon_channel("d1"), "daemon:d1:events");
        assert_eq!(keys.inflight("o"), "app:routing:inflight:o");
        assert_eq!(keys.receipts("o"), "app:routing:receipts:o");
        assert_eq!(keys.dead("o"), "app:routing:dead:o");
        assert_eq!(keys.session_set("o"), ["app:routing:sessions:o", "app:routing:session-records:o"].map(String::from));
        assert_eq!(Keys::new("").session("o"), "routing:session:o");
    }

    #[test]
    fn on_a_cluster_every_key_of_an_orchestrator_shares_its_hash_tag() {
        let keys = Keys::cluster("app:").unwrap();
        assert_eq!(keys.session("orch_1"), "app:routing:session:{orch_1}");
        assert_eq!(keys.queues("o"), ["app:routing:queue-high:{o}", "app:routing:queue:{o}", "app:routing:queue-low:{o}"].map(String::from));
        assert_eq!(keys.delivered("o", "m1"), "app:routing:delivered:{o}:m1");
        assert_eq!(keys.target("o", "d1"), "app:routing:outbox:{o}:d1");
        assert_eq!(keys.index("o"), "app:routing:due:{o}");
        assert_eq!(keys.key(Key::OutboxSeq, "o"), "app:routing:outbox-seq:{o}");
        // What stays one key, and what keeps the deployed name.
        assert_eq!(keys.due_index(), "app:routing:pending");
        assert_eq!(keys.due_versions(), "app:routing:pending-versions:{app:routing:pending}");
        assert_eq!(keys.sweep_lock(), "app:routing:pending-sweep:{app:routing:pending}");
        assert_eq!(keys.daemon_events("d1"), "app:daemon:events:d1");
        assert_eq!(keys.daemon_channel("d1"), "daemon:d1:events");
        // In the daemon list's slot: its whole name is the hash tag.
        assert_eq!(keys.pushed("d1"), "app:routing:pushed:{app:daemon:events:d1}");
        assert_eq!(keys.parse_outbox("app:routing:outbox:{o:x}:d:1"), Some(("o:x", "d:1")));
        assert_eq!(keys.parse(Key::Due, "app:routing:due:{o}"), Some("o"));
        assert_eq!(keys.parse(Key::Queue, "app:routing:queue:{o}"), Some("o"));
        assert!(Keys::cluster("a{b}:").is_err());
        assert!(cluster_id_problem("a}b").is_some());
        assert!(cluster_id_problem("orch_1").is_none());
    }

    #[test]
    fn scan_patterns_match_a_prefix_only_as_written() {
        assert_eq!(Keys::new("app:*?[x]\\:").pattern(Key::Queue), "app:\\*\\?\\[x\\]\\\\:routing:queue:*");
        assert_eq!(Keys::new("plain:").pattern(Key::Queue), "plain:routing:queue:*");
        assert_eq!(Keys::cluster("app:").unwrap().pattern(Key::Due), "app:routing:due:{*");
    }

    #[test]
    fn one_scan_pattern_finds_every_kind_asked_for_and_leaves_out_the_delivered_markers() {
        let queues = Priority::LEVELS.map(Key::queue_of);
        assert_eq!(Keys::new("a*:").scan_pattern(&queues), "a\\*:routing:que*");
        let held = Keys::new("app:").scan_pattern(&Key::HELD);
        assert_eq!(held, "app:routing:[dqrs][eu][aces]*");
        // What the pattern's classes let through, by the three characters after `routing:`.
        let classes = ["dqrs", "eu", "aces"];
        let matched = |name: &str| name.strip_prefix("app:routing:").is_some_and(|rest| rest.bytes().zip(classes).all(|(c, class)| class.as_bytes().contains(&c)));
        let keys = Keys::new("app:");
        for kind in Key::HELD {
            assert!(matched(&keys.key(kind, "o")), "{kind:?} is scanned");
        }
        for kind in [Key::Delivered, Key::Inflight, Key::DueIndex, Key::Outbox, Key::OutboxSeq, Key::Pushed] {
            assert!(!matched(&keys.key(kind, "o")), "{kind:?} is not scanned");
        }
    }

    #[test]
    fn the_orchestrator_of_a_key_is_read_by_its_exact_kind() {
        for keys in [Keys::new("app:"), Keys::cluster("app:").unwrap()] {
            for kind in Key::HELD {
                assert_eq!(keys.orchestrator_of(&Key::HELD, &keys.key(kind, "o:1")), Some("o:1"), "{kind:?}");
            }
            for kind in [Key::SessionRecords, Key::Inflight, Key::Due, Key::OutboxSeq] {
                assert_eq!(keys.orchestrator_of(&Key::HELD, &keys.key(kind, "o:1")), None, "{kind:?}");
            }
            assert_eq!(keys.orchestrator_of(&Key::HELD, &keys.delivered("o", "m")), None);
            assert_eq!(keys.orchestrator_of(&Key::HELD, "other:routing:queue:o"), None);
        }
    }
}
