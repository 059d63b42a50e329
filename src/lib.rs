//! Routes chat messages to orchestrator daemons through Redis: the native core of
//! `@neolith/orchestrator-router`.
//!
//! Layers, one direction: [`binding`] (JS ⇄ Rust conversion only) → [`engine`] (routing, queuing,
//! draining, sessions and retries, in pure Rust) → [`store`] (the [`store::Store`] trait and its
//! Redis implementation, one Lua script per atomic operation).

pub mod engine;
pub mod store;

// The binding references N-API symbols that only exist inside a Node process, so unit-test
// binaries (which link the crate outside Node) leave it out.
#[cfg(not(test))]
mod binding;

/// Routing allocates many small strings per message; mimalloc serves them several times faster
/// than glibc's allocator (which led the Node thread's profile at 256 routes in flight).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
