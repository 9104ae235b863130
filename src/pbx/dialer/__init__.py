"""pbx.dialer."""
