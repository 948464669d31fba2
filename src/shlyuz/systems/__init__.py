"""Mocked information systems behind the gateway, one module per system, each registered by serviceId."""
