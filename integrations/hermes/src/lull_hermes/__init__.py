"""lull for Hermes Agent: a Hermes plugin that makes a Hermes gateway lull-aware (docs/hermes.md)."""
