"""The only asyncio and socket code: transports, the ticker and the pump."""
