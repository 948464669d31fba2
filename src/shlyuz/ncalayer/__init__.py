"""An NCALayer emulator: the desktop signer's WebSocket protocol (``wss://127.0.0.1:13579``), signing for real with
the test PKI's identities (docs/ncalayer.md).

- :mod:`protocol`  sans-IO: a text frame → a typed request, or the exact error answer; the answer builders
- :mod:`signing`   XMLDSig as NCALayer's signXml makes it, CMS SignedData, getKeyInfo from the certificate
- :mod:`emulator`  which key signs (selected identity, key type, signer filters, cancel mode) and the answers
- :mod:`server`    the aiohttp edge: the WebSocket endpoint (TLS with ``tls/localhost``) and the control port
"""
