//! The chat kit: everything a chat adapter does that is not about its platform.
//!
//! A platform adapter (`telegram/`, and the ones to come) only translates: a platform event
//! becomes an [`Invocation`](lull_plugin::Invocation), the plugin answers with a
//! [`Reply`](lull_plugin::Reply), and the reply becomes a platform message. Around that, every
//! adapter needs the same machinery, and it lives here once:
//!
//! - [`adapter`]: the contract a platform implements (its config section as a
//!   [`ChatAdapter`](adapter::ChatAdapter), lull in its client as a
//!   [`MountedLull`](adapter::MountedLull));
//! - [`at_most_once`]: each inbound event is handled at most once, across restarts and redeliveries;
//! - [`acknowledge`]: an event is acknowledged to the platform only after it was handled, so a
//!   kill -9 leads to a redelivery, never to a loss;
//! - [`inbox`], [`verifier`] and [`webhook_server`]: a webhook that checks who posted before it
//!   parses anything, on a listener that stops gracefully;
//! - [`supervisor`]: the connection's life — identity check, retries, notices, a bounded stop;
//! - [`outbox`]: delivering the durable notices to one platform;
//! - [`click`]: answering a click on a prompt's button and editing the prompt;
//! - [`deadline`]: answering within a platform's deadline, or acknowledging and following up;
//! - [`rate_limit`]: a direct reply sits out a short rate limit;
//! - [`render`]: the reply's markdown subset as spans, and cutting to a platform's limit;
//! - [`settings`]: reading a config section — secrets from the environment, URLs, addresses,
//!   ids — with errors that name the key;
//!
//! `docs/adapters.md` lists what a new platform implements, in the order a reader meets it.

pub mod acknowledge;
pub mod adapter;
pub mod at_most_once;
pub mod click;
pub mod deadline;
pub mod inbox;
pub mod outbox;
pub mod rate_limit;
pub mod render;
pub mod settings;
pub mod supervisor;
pub mod verifier;
pub mod webhook_server;
