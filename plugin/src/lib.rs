//! lull-plugin: the platform-neutral command core.
pub mod command;
