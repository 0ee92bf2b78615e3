"""Channel adapters: translate platform payloads to `InboundMessage` and send `OutboundMessage`."""
