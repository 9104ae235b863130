"""RFC 3261 SIP core, sans-I/O: messages, transactions, dialogs, registrar, endpoint."""
