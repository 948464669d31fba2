"""shlyuz: a simulator of Kazakhstan's e-government message flows (SHEP v10 gateway and mocked systems)."""

__version__ = "0.1.0"
