"""pbx.store."""
