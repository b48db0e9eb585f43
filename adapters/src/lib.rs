//! Platform adapters, the control API and the CLI; filled in by the binary and platform issues.
