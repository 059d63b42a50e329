//! Draining a queue into the daemon's event list: when a session registers or beats, on demand,
//! and behind a backlog; high priority first, oldest first within a level, each message once.

use super::super::events::Event;
use super::super::model::Priority;
use super::super::{DrainSummary, RouteStatus};
use super::{harness, message, message_at};
use serde_json::json;

#[tokio::test]
async fn registering_a_session_drains_the_queue_high_priority_first_and_oldest_first_within_a_level() {
    let h = harness(json!({}));
    for (id, priority) in [
        ("normal-1", Priority::Normal),
        ("low-1", Priority::Low),
        ("high-1", Priority::High),
        ("normal-2", Priority::Normal),
        ("high-2", Priority::High),
        ("low-2", Priority::Low),
    ] {
        assert_eq!(h.route("orch-1", message_at(id, priority)).await.status, RouteStatus::Offline);
    }

    h.register("orch-1", "session-1", "daemon-1").await;

    let order = ["high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"];
    assert_eq!(h.delivered("daemon-1").await, order);
    assert_eq!(h.depth("orch-1").await, 0);
    let routed: Vec<String> = h
        .events()
        .into_iter()
        .filter_map(|event| match event {
            Event::MessageRouted { message_id, .. } => Some(message_id),
            _ => None,
        })
        .collect();
    assert_eq!(routed, order);
    let events = h.events();
    assert!(events.contains(&Event::QueueProcessingStarted { orchestrator_id: "orch-1".into(), queue_size: 6 }));
    assert!(events.contains(&Event::QueueProcessingCompleted { orchestrator_id: "orch-1".into(), processed: 6, dropped: 0, deferred: None }));
    assert_eq!(h.router.metrics().snapshot().drained, 6);
}

#[tokio::test]
async fn processing_the_queue_delivers_what_was_queued_and_says_what_it_did() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;
    h.queue("orch-1", message("m1")).await;
    h.queue("orch-1", message("m2")).await;
    assert!(h.delivered("daemon-1").await.is_empty());

    let summary = h.router.drain_now("orch-1").await.unwrap();

    assert_eq!(summary, DrainSummary { processed: 2, dropped: 0, remaining: 0, deferred: None });
    assert_eq!(h.delivered("daemon-1").await, ["m1", "m2"]);
}

#[tokio::test]
async fn a_heartbeat_drains_messages_queued_while_the_session_was_active() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;
    h.queue("orch-1", message("m1")).await;

    h.router.touch_session("orch-1", None).await.unwrap();

    // In the background: a heartbeat never waits for a drain.
    h.wait_for(1, |event| matches!(event, Event::QueueProcessingCompleted { .. })).await;
    assert_eq!(h.delivered("daemon-1").await, ["m1"]);
    assert_eq!(h.depth("orch-1").await, 0);
}

#[tokio::test]
async fn a_message_routed_behind_a_backlog_waits_and_is_delivered_after_it() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;
    h.queue("orch-1", message("m1")).await;

    let outcome = h.route("orch-1", message("m2")).await;

    assert_eq!(outcome.status, RouteStatus::Pending);
    h.wait_for(1, |event| matches!(event, Event::MessageRouted { message_id, .. } if message_id == "m2")).await;
    assert_eq!(h.delivered("daemon-1").await, ["m1", "m2"]);
}

#[tokio::test]
async fn a_message_queued_twice_reaches_the_daemon_once_when_the_queue_drains() {
    let h = harness(json!({}));
    h.queue("orch-1", message("m1")).await;
    h.queue("orch-1", message("m1")).await;
    assert_eq!(h.depth("orch-1").await, 2);

    h.register("orch-1", "session-1", "daemon-1").await;

    assert_eq!(h.delivered("daemon-1").await, ["m1"]);
    assert_eq!(h.depth("orch-1").await, 0);
}
