"""pbx.acd."""
