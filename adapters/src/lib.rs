//! lull-adapters: the program users run. The control API, the `lull` CLI, the sidecar
//! (`lull serve`), config and profiles, the demo; the chat platforms plug in here.
//!
//! - [`chat`]: the chat kit, what every chat platform shares (public: it is how an adapter is
//!   written, see `docs/adapters.md`);
//! - [`platforms`]: the chat platforms this build has and a config enables (each a
//!   `chat::adapter::ChatAdapter`);
//! - `telegram`: the Telegram adapter (feature `telegram`), translation only;
//! - `discord`: the Discord adapter (feature `discord`), translation only;
//! - `slack`: the Slack adapter (feature `slack`), translation only;
//! - [`relay`]: a host gateway in any language carries `/maintenance` and the notices;
//! - [`fleet`]: `[fleet]`, the lock services replicas restart k at a time through;
//! - [`stack`]: one profile's machinery assembled from its config (embedding starts here);
//! - [`serve`], [`api`], [`cli`], [`client`], [`demo`]: the local surfaces; `hold`: `lull hold`,
//!   a command run as a live run;
//! - `http_server`: how every listener is served (header and body timeouts, a connection cap);
//! - [`exit`]: how a command ends (its status and message); `names`: the session and source
//!   names the command line checks;
//! - [`config`], [`profile`]: where settings and state live; `access`: who may reach the
//!   control socket; `terminal`: output for people.

mod access;
pub mod api;
pub mod chat;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
#[cfg(feature = "discord")]
pub mod discord;
mod doctor;
pub mod exit;
pub mod fleet;
mod hold;
mod http_server;
mod names;
pub mod platforms;
pub mod profile;
pub mod relay;
pub mod serve;
mod service;
#[cfg(feature = "slack")]
pub mod slack;
pub mod stack;
#[cfg(feature = "telegram")]
pub mod telegram;
mod terminal;
