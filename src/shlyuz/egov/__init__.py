"""E-government business documents shared by the portal, the workstations and the mocked systems: the signed
Application and Decision (:mod:`shlyuz.egov.documents`) and their verification (:mod:`shlyuz.egov.signing`)."""
