"""Executable regulations: the chain engine (sans-IO), its trace, and the driver that runs it through the gateway."""
