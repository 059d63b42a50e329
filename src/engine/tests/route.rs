//! Routing a message: delivered through the active session, queued for an offline orchestrator,
//! never delivered twice, and the queue cap.

use super::super::events::{DropReason, Event};
use super::super::model::Priority;
use super::super::{BatchItem, RouteStatus};
use super::{harness, message, message_at};
use serde_json::json;

#[tokio::test]
async fn a_message_for_an_orchestrator_with_an_active_session_is_delivered_to_its_daemon() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;

    let outcome = h.route("orch-1", message("m1")).await;

    assert!(outcome.success);
    assert_eq!(outcome.status, RouteStatus::Delivered);
    assert_eq!(outcome.session_id.as_deref(), Some("session-1"));
    let events = h.daemon_events("daemon-1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "message.received");
    assert_eq!(events[0]["orchestratorId"], "orch-1");
    assert_eq!(events[0]["daemonId"], "daemon-1");
    assert_eq!(events[0]["payload"]["messageId"], "m1");
    assert_eq!(events[0]["payload"]["content"], "the text of m1");
    assert!(h.events().contains(&Event::MessageRouted {
        message_id: "m1".into(),
        orchestrator_id: "orch-1".into(),
        session_id: "session-1".into(),
        attempts: 1,
    }));
    assert_eq!(h.depth("orch-1").await, 0);
}

#[tokio::test]
async fn a_message_for_an_orchestrator_without_a_session_is_queued_as_offline() {
    let h = harness(json!({}));

    let outcome = h.route("orch-1", message("m1")).await;

    assert!(outcome.success);
    assert_eq!(outcome.status, RouteStatus::Offline);
    assert_eq!(h.depth("orch-1").await, 1);
    assert_eq!(h.events(), [Event::MessageQueued { message_id: "m1".into(), orchestrator_id: "orch-1".into(), queue_size: 1 }]);
    assert_eq!(h.router.metrics().snapshot().queued, 1);
}

#[tokio::test]
async fn after_its_session_is_unregistered_an_orchestrator_gets_its_messages_queued() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;
    h.router.unregister_session("orch-1", None).await.unwrap();

    let outcome = h.route("orch-1", message("m1")).await;

    assert_eq!(outcome.status, RouteStatus::Offline);
    assert!(h.delivered("daemon-1").await.is_empty());
    assert!(h.events().contains(&Event::SessionUnregistered { orchestrator_id: "orch-1".into(), session_id: None }));
}

#[tokio::test]
async fn a_batch_delivers_to_online_orchestrators_and_queues_for_offline_ones_in_input_order() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;
    let item = |id: &str, orchestrator_id: &str| BatchItem { message: message(id), orchestrator_id: orchestrator_id.into(), queue_only: false };

    let outcomes = h.router.route_batch(vec![item("m1", "orch-1"), item("m2", "orch-2"), item("m3", "orch-1")]).await.unwrap();

    let statuses: Vec<RouteStatus> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [RouteStatus::Delivered, RouteStatus::Offline, RouteStatus::Delivered]);
    assert_eq!(h.delivered("daemon-1").await, ["m1", "m3"]);
    assert_eq!(h.depth("orch-2").await, 1);
}

#[tokio::test]
async fn a_message_id_routed_twice_reaches_the_daemon_once() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;

    let first = h.route("orch-1", message("m1")).await;
    let second = h.route("orch-1", message("m1")).await;

    assert_eq!((first.status, second.status), (RouteStatus::Delivered, RouteStatus::Delivered));
    assert_eq!(second.session_id.as_deref(), Some("session-1"));
    assert_eq!(h.delivered("daemon-1").await, ["m1"]);
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_message_of_the_lowest_priority_to_take_a_new_one() {
    let h = harness(json!({ "offlineQueue": { "maxQueueSize": 3 } }));
    h.queue("orch-1", message_at("low-1", Priority::Low)).await;
    h.queue("orch-1", message_at("normal-1", Priority::Normal)).await;
    h.queue("orch-1", message_at("low-2", Priority::Low)).await;

    let outcome = h.route("orch-1", message_at("normal-2", Priority::Normal)).await;

    assert_eq!(outcome.status, RouteStatus::Offline);
    assert_eq!(h.depth("orch-1").await, 3);
    let events = h.events();
    let dropped = Event::MessageDropped { message_id: "low-1".into(), orchestrator_id: "orch-1".into(), reason: DropReason::QueueFull };
    let queued = Event::MessageQueued { message_id: "normal-2".into(), orchestrator_id: "orch-1".into(), queue_size: 3 };
    assert_eq!(events[events.len() - 2..], [dropped, queued]);
    assert_eq!(h.router.metrics().snapshot().dropped.queue_full, 1);
    h.register("orch-1", "session-1", "daemon-1").await;
    assert_eq!(h.delivered("daemon-1").await, ["normal-1", "normal-2", "low-2"]);
}

#[tokio::test]
async fn a_queue_full_of_higher_priority_messages_refuses_a_low_one_and_reports_it_dropped() {
    let h = harness(json!({ "offlineQueue": { "maxQueueSize": 2 } }));
    h.queue("orch-1", message("normal-1")).await;
    h.queue("orch-1", message("normal-2")).await;

    let outcome = h.route("orch-1", message_at("low-1", Priority::Low)).await;

    assert!(!outcome.success);
    assert_eq!(outcome.status, RouteStatus::Failed);
    assert_eq!(h.depth("orch-1").await, 2);
    assert!(h.events().contains(&Event::MessageDropped {
        message_id: "low-1".into(),
        orchestrator_id: "orch-1".into(),
        reason: DropReason::QueueFull,
    }));
    assert!(h.router.queue(message_at("low-2", Priority::Low), "orch-1").await.is_err());
}

#[tokio::test]
async fn a_closed_router_refuses_every_call() {
    let h = harness(json!({}));
    h.register("orch-1", "session-1", "daemon-1").await;

    h.router.close();

    let item = BatchItem { message: message("m1"), orchestrator_id: "orch-1".into(), queue_only: false };
    assert!(h.router.route_each(vec![item]).await.remove(0).is_err());
    assert!(h.router.queue_depth("orch-1").await.is_err());
    assert!(h.router.read_daemon_events("daemon-1", 10).await.is_err());
}
