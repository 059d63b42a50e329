//! Delivery receipts: a delivery not acknowledged by its deadline is delivered again, then
//! dead-lettered after `retry.maxAttempts` deliveries; acknowledging ends the wait; dead letters
//! can be put back in the queue.

use super::super::events::Event;
use super::{harness, message, Harness};
use serde_json::{json, Value};

/// How long a delivery waits for its receipt (the backoff after it is 1 ms).
const RECEIPT_TIMEOUT_MS: i64 = 100;

/// A router with receipts on, short deadlines, three deliveries at most, and a ticker that looks
/// for overdue receipts every 5 ms; with a session of `orch-1` on `daemon-1`.
async fn with_receipts() -> Harness {
    let h = harness(json!({
        "deliveryReceipts": { "enabled": true },
        "deliveryTimeoutMs": RECEIPT_TIMEOUT_MS,
        "retry": { "maxAttempts": 3, "initialDelayMs": 1, "backoffMultiplier": 1, "maxDelayMs": 1 },
        "drainIntervalMs": 5,
    }));
    h.register("orch-1", "session-1", "daemon-1").await;
    h
}

fn redelivered(id: &str) -> impl Fn(&Event) -> bool + '_ {
    move |event| matches!(event, Event::MessageRedelivered { message_id, .. } if message_id == id)
}

fn dead_lettered(id: &str) -> impl Fn(&Event) -> bool + '_ {
    move |event| matches!(event, Event::MessageDeadLettered { message_id, .. } if message_id == id)
}

fn routed(id: &str) -> impl Fn(&Event) -> bool + '_ {
    move |event| matches!(event, Event::MessageRouted { message_id, .. } if message_id == id)
}

/// The daemon events that carry message `id`.
fn events_of<'a>(events: &'a [Value], id: &'a str) -> impl Iterator<Item = &'a Value> {
    events.iter().filter(move |event| event["payload"]["messageId"] == id)
}

#[tokio::test]
async fn a_delivery_not_acknowledged_by_its_deadline_is_delivered_again_with_the_same_event_id() {
    let h = with_receipts().await;
    h.route("orch-1", message("m1")).await;

    let again = h.wait_for(1, redelivered("m1")).await;

    // The deadline counts from before the route's store step, so allow for the step's time.
    let first = h.wait_for(1, routed("m1")).await;
    assert!(again[0].timestamp - first[0].timestamp >= RECEIPT_TIMEOUT_MS / 2, "redelivered before its deadline");
    assert_eq!(
        again[0].event,
        Event::MessageRedelivered { message_id: "m1".into(), orchestrator_id: "orch-1".into(), session_id: "session-1".into(), attempts: 2 }
    );
    let events = h.daemon_events("daemon-1").await;
    let ids: Vec<&Value> = events_of(&events, "m1").map(|event| &event["id"]).collect();
    assert!(ids.len() >= 2 && ids.iter().all(|id| *id == ids[0]), "{events:#?}");
}

#[tokio::test]
async fn a_delivery_never_acknowledged_is_dead_lettered_after_max_attempts() {
    let h = with_receipts().await;
    h.route("orch-1", message("m1")).await;

    let dead = h.wait_for(1, dead_lettered("m1")).await;

    let error = format!("not acknowledged within {RECEIPT_TIMEOUT_MS} ms");
    assert_eq!(dead[0].event, Event::MessageDeadLettered { message_id: "m1".into(), orchestrator_id: "orch-1".into(), attempts: 3, error: error.clone() });
    let attempts: Vec<u32> = h
        .wait_for(2, redelivered("m1"))
        .await
        .into_iter()
        .map(|stamped| match stamped.event {
            Event::MessageRedelivered { attempts, .. } => attempts,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(attempts, [2, 3]);
    assert_eq!(events_of(&h.daemon_events("daemon-1").await, "m1").count(), 3);
    let letters = h.router.dead_letters("orch-1").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].item.message_id.as_str(), letters[0].attempts, letters[0].last_error.as_str()), ("m1", 3, error.as_str()));
    assert!(h.events().iter().any(|event| matches!(event, Event::MessageRoutingFailed { message_id, .. } if message_id == "m1")));
    let metrics = h.router.metrics().snapshot();
    assert_eq!((metrics.redeliveries, metrics.dead_lettered), (2, 1));
}

#[tokio::test]
async fn an_acknowledged_delivery_is_neither_delivered_again_nor_dead_lettered() {
    let h = with_receipts().await;
    h.route("orch-1", message("m1")).await;
    h.route("orch-1", message("m2")).await;

    assert_eq!(h.router.acknowledge("orch-1", vec!["m1".into()]).await.unwrap(), 1);

    assert!(h.events().contains(&Event::MessageAcknowledged { message_id: "m1".into(), orchestrator_id: "orch-1".into() }));
    // m2, delivered with it, has been through every deadline m1 would have had.
    h.wait_for(1, dead_lettered("m2")).await;
    assert!(!h.events().iter().any(|event| redelivered("m1")(event) || dead_lettered("m1")(event)));
    assert_eq!(events_of(&h.daemon_events("daemon-1").await, "m1").count(), 1);
    let letters = h.router.dead_letters("orch-1").await.unwrap();
    assert_eq!(letters.iter().map(|l| l.item.message_id.as_str()).collect::<Vec<_>>(), ["m2"]);
    assert_eq!(h.router.acknowledge("orch-1", vec!["m1".into()]).await.unwrap(), 0, "acknowledged once only");
}

#[tokio::test]
async fn requeued_dead_letters_are_delivered_again_in_their_order_and_await_a_receipt_anew() {
    let h = with_receipts().await;
    h.route("orch-1", message("m1")).await;
    h.route("orch-1", message("m2")).await;
    h.wait_for(1, dead_lettered("m2")).await;
    h.wait_for(1, dead_lettered("m1")).await;

    assert_eq!(h.router.requeue_dead_letters("orch-1").await.unwrap(), 2);

    assert!(h.router.dead_letters("orch-1").await.unwrap().is_empty());
    let delivered = h.delivered("daemon-1").await;
    assert_eq!(delivered[delivered.len() - 2..], ["m1", "m2"]);
    assert_eq!(h.wait_for(2, routed("m1")).await.len(), 2);
    assert_eq!(h.router.acknowledge("orch-1", vec!["m1".into(), "m2".into()]).await.unwrap(), 2);
    assert_eq!(h.depth("orch-1").await, 0);
}
