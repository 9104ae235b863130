"""pbx.ivr."""
