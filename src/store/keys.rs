//! The Redis key layout: the deployed service's names, each behind the configured prefix.

/// Builds every key and channel name the router uses.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// A layout whose keys all start with `prefix` (channels are not prefixed, as in ioredis).
    pub fn new(prefix: &str) -> Self {
        Keys { prefix: prefix.to_owned() }
    }

    /// `routing:session:<orchestratorId>`: the orchestrator's daemon session.
    pub fn session(&self, orchestrator_id: &str) -> String {
        format!("{}routing:session:{orchestrator_id}", self.prefix)
    }

    /// `routing:queue:<orchestratorId>`: messages waiting for the orchestrator, oldest first.
    pub fn queue(&self, orchestrator_id: &str) -> String {
        format!("{}routing:queue:{orchestrator_id}", self.prefix)
    }

    /// `routing:delivered:<messageId>`: the marker that a message reached a daemon.
    pub fn delivered(&self, message_id: &str) -> String {
        format!("{}routing:delivered:{message_id}", self.prefix)
    }

    /// `routing:inflight:<orchestratorId>`: delivered messages awaiting a receipt (hash by message id).
    pub fn inflight(&self, orchestrator_id: &str) -> String {
        format!("{}routing:inflight:{orchestrator_id}", self.prefix)
    }

    /// `routing:receipts:<orchestratorId>`: receipt deadlines of those messages (sorted set, ms).
    pub fn receipts(&self, orchestrator_id: &str) -> String {
        format!("{}routing:receipts:{orchestrator_id}", self.prefix)
    }

    /// `routing:dead:<orchestratorId>`: messages that were never acknowledged (list, oldest first).
    pub fn dead(&self, orchestrator_id: &str) -> String {
        format!("{}routing:dead:{orchestrator_id}", self.prefix)
    }

    /// `routing:pending`: orchestrators with a queue, scored by when a router should next look.
    pub fn pending(&self) -> String {
        format!("{}routing:pending", self.prefix)
    }

    /// `daemon:events:<daemonId>`: the daemon's event list, newest first.
    pub fn daemon_events(&self, daemon_id: &str) -> String {
        format!("{}daemon:events:{daemon_id}", self.prefix)
    }

    /// `daemon:<daemonId>:events`: the daemon's pub/sub channel.
    pub fn daemon_channel(&self, daemon_id: &str) -> String {
        format!("daemon:{daemon_id}:events")
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
        assert_eq!(keys.delivered("msg_1"), "app:routing:delivered:msg_1");
        assert_eq!(keys.daemon_events("d1"), "app:daemon:events:d1");
        assert_eq!(keys.daemon_channel("d1"), "daemon:d1:events");
        assert_eq!(keys.inflight("o"), "app:routing:inflight:o");
        assert_eq!(keys.receipts("o"), "app:routing:receipts:o");
        assert_eq!(keys.dead("o"), "app:routing:dead:o");
        assert_eq!(Keys::new("").session("o"), "routing:session:o");
    }
}
