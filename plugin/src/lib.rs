//! Platform-neutral command core; filled in by the plugin issue.
