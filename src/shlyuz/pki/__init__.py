"""shlyuz's test PKI in the style of the National Certification Centre of Kazakhstan (НУЦ РК); see docs/pki.md.

Modules: ``profiles`` (names, OIDs, AUTH/SIGN/TLS profiles), ``subjects`` (subject names and ``parse_subject``),
``ca`` (root, issuing CA, end-entity certificates), ``revocation`` with ``ocsp_request`` and ``_der`` (CRL and
OCSP, sans-IO), ``store`` with ``records`` (the on-disk :class:`~shlyuz.pki.store.Pki`), ``fixture_ids``
(identities for the fixture persons and organisations), ``keygen`` (bulk key generation in a process pool). This package file imports nothing, so that the key-generation
workers start fast.
"""
