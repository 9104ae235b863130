"""pbx.calls."""
