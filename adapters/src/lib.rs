//! lull-adapters: the program users run. The control API, the `lull` CLI, the sidecar
//! (`lull serve`), config and profiles, the demo; the chat platforms plug in here.

pub mod api;
pub mod backoff;
pub mod chats;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod outbox;
pub mod profile;
pub mod serve;
pub mod stack;
#[cfg(feature = "telegram")]
pub mod telegram;
