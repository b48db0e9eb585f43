//! lull-adapters' integration tests, in one test binary so that the large dependency set
//! (serenity, teloxide, slack-morphism, axum) is linked once rather than once per file. Each
//! module is one area, run against the real `lull` binary or the real client crates; the
//! platform modules need their platform's feature.

mod common;

mod api_contract;
mod cli;
#[cfg(feature = "discord")]
mod discord;
#[cfg(feature = "discord")]
mod discord_embed;
mod doctor;
mod fleet;
mod hermes_plugin;
mod hold;
mod install;
mod openclaw_plugin;
mod relay;
mod serve;
#[cfg(feature = "slack")]
mod slack;
#[cfg(feature = "slack")]
mod slack_embed;
#[cfg(feature = "telegram")]
mod telegram;
#[cfg(feature = "telegram")]
mod telegram_embed;
