//! Routing many messages in one call: one pipelined round of route scripts for the whole batch,
//! with the same guarantees as routing each message alone.

use super::error::RouterError;
use super::events::{Event, EventKind};
use super::model::Message;
use super::router::{Prepared, RouteOutcome, Router};
use crate::store::{RouteReply, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// One message of a batch and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub message: Message,
    pub orchestrator_id: String,
    /// Queue without looking for a session (the presence service says the orchestrator is offline).
    pub queue_only: bool,
}

impl<S: Store> Router<S> {
    /// Routes every item in one pipelined round; results in input order. Refuses the whole batch,
    /// writing nothing, if any item is invalid (the error names `items[i]`).
    pub async fn route_batch(self: &Arc<Self>, items: Vec<BatchItem>) -> Result<Vec<RouteOutcome>, RouterError> {
        let mut prepared = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            prepared.push(self.prepare(&item.message, &item.orchestrator_id).map_err(|e| e.within(&format!("items[{i}]")))?);
        }
        self.check_open()?;
        Ok(self.route_prepared_batch(&items, &prepared).await)
    }

    /// Routes independent messages together (the `routeMessage` calls of one tick): each invalid
    /// one gets its own error, the rest route as one batch (alone, like `route`, when it is one).
    pub async fn route_each(self: &Arc<Self>, items: Vec<BatchItem>) -> Vec<Result<RouteOutcome, RouterError>> {
        let mut results: Vec<Option<Result<RouteOutcome, RouterError>>> = Vec::with_capacity(items.len());
        let mut valid = Vec::with_capacity(items.len());
        let mut prepared = Vec::with_capacity(items.len());
        for item in items {
            match self.prepare(&item.message, &item.orchestrator_id) {
                Ok(p) => {
                    results.push(None);
                    valid.push(item);
                    prepared.push(p);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        let mut outcomes = match self.check_open() {
            Err(error) => valid.iter().map(|_| Err(error.clone())).collect::<Vec<_>>(),
            Ok(()) if valid.len() == 1 => {
                let item = &valid[0];
                vec![Ok(self.route_prepared(&prepared[0], &item.orchestrator_id, item.queue_only, false).await)]
            }
            Ok(()) => self.route_prepared_batch(&valid, &prepared).await.into_iter().map(Ok).collect(),
        }
        .into_iter();
        results.into_iter().map(|r| r.unwrap_or_else(|| outcomes.next().expect("one outcome per valid item"))).collect()
    }

    /// Routes prepared items in one pipelined round, with retries; outcomes in input order.
    async fn route_prepared_batch(self: &Arc<Self>, items: &[BatchItem], prepared: &[Prepared]) -> Vec<RouteOutcome> {
        if items.is_empty() {
            return Vec::new();
        }
        let retry = &self.config.retry;
        let mut attempt = 1;
        let replies = loop {
            let built: Vec<_> = items
                .iter()
                .zip(prepared)
                .map(|(item, p)| self.build(p, &item.orchestrator_id, self.known_session(&item.orchestrator_id).as_ref()))
                .collect();
            let requests: Vec<_> = items
                .iter()
                .zip(prepared)
                .zip(&built)
                .map(|((item, p), b)| self.request(p, &item.orchestrator_id, b, item.queue_only, attempt > 1))
                .collect();
            match self.bounded(self.store.route_many(&requests)).await {
                Ok(replies) => break replies,
                Err(StoreError(error)) => {
                    for (item, p) in items.iter().zip(prepared) {
                        self.emit(EventKind::MessageRoutingError, || Event::MessageRoutingError {
                            message_id: p.message_id.clone(),
                            orchestrator_id: item.orchestrator_id.clone(),
                            error: error.clone(),
                        });
                    }
                    if attempt >= retry.max_attempts || self.is_closed() {
                        return items
                            .iter()
                            .zip(prepared)
                            .map(|(item, p)| self.fail(&p.message_id, &item.orchestrator_id, error.clone(), attempt))
                            .collect();
                    }
                    tokio::time::sleep(Duration::from_millis(retry.delay_ms(attempt))).await;
                    attempt += 1;
                }
            }
        };
        let mut outcomes = Vec::with_capacity(items.len());
        for ((item, p), reply) in items.iter().zip(prepared).zip(replies) {
            let orchestrator_id = item.orchestrator_id.as_str();
            let outcome = match reply {
                // The session changed under the batch: nothing was written for this item, and
                // every later item of the same orchestrator is stale too, so order holds.
                Ok(RouteReply::Stale { session }) => {
                    self.learn_session(orchestrator_id, &session);
                    self.route_prepared(p, orchestrator_id, item.queue_only, attempt > 1).await
                }
                Ok(reply) => self.settle(p, orchestrator_id, reply, attempt),
                Err(_) => self.route_prepared(p, orchestrator_id, item.queue_only, true).await,
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}
