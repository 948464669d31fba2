"""Record and replay of SHEP traffic (docs/record-replay.md).

Sans-IO: :mod:`.format` (the versioned JSONL fixture format), :mod:`.xmldiff` (exclusive C14N, masks, differences
by XPath), :mod:`.refresh` (fresh identifiers and re-signing), :mod:`.match` (finding the recorded exchange for a
request), :mod:`.junit`. I/O at the edges: :mod:`.proxy` (``shlyuz record``), :mod:`.runner` (``shlyuz replay``),
:mod:`.serve` (``shlyuz replay --serve``).
"""
