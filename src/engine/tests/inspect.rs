//! What the dashboard reads and does over the in-process store: every orchestrator holding
//! anything, deepest queue first; a queue dropped in one step; dead letters requeued.

use super::super::inspect::overview;
use super::super::model::Priority;
use super::super::time::now_ms;
use super::{harness, message_at};
use crate::store::Store;
use serde_json::json;

#[tokio::test]
async fn the_overview_lists_every_orchestrator_holding_anything_deepest_first_and_a_dropped_queue_leaves_it() {
    let h = harness(json!({}));
    h.register("online", "session-1", "daemon-1").await;
    for (id, priority) in [("h1", Priority::High), ("n1", Priority::Normal), ("n2", Priority::Normal)] {
        h.queue("deep", message_at(id, priority)).await;
    }
    h.queue("shallow", message_at("l1", Priority::Low)).await;

    let rows = overview(&h.router.store, now_ms()).await.expect("an overview").orchestrators;
    let listed: Vec<(&str, u64, bool, u64)> = rows.iter().map(|r| (r.orchestrator_id.as_str(), r.queue.total, r.online, r.sessions)).collect();
    assert_eq!(listed, [("deep", 3, false, 0), ("shallow", 1, false, 0), ("online", 0, true, 1)]);
    assert_eq!((rows[0].queue.high, rows[0].queue.normal, rows[0].queue.low), (1, 2, 0));
    assert!(rows[0].oldest_age_ms.is_some_and(|age| age >= 0));

    assert_eq!(h.router.store.drop_queue("deep", now_ms()).await.expect("a drop"), [1, 2, 0]);
    assert_eq!(h.depth("deep").await, 0);
    let rows = overview(&h.router.store, now_ms()).await.expect("an overview").orchestrators;
    let listed: Vec<&str> = rows.iter().map(|r| r.orchestrator_id.as_str()).collect();
    assert_eq!(listed, ["shallow", "online"]);
    // It is due no look any more (whenever one would come), while the other queue still is.
    let far = now_ms() + 30 * 86_400_000;
    assert_eq!(h.router.store.claim_due(far, far + 1000, 10).await.expect("a claim"), ["shallow"]);
}
