"""The egov.kz portal inside shlyuz: registration and login (IIN + password, IIN/BIN + password, EDS), the service
catalogue, signed applications sent over the SHEP async channel as participant ``egov-portal``, and the personal
cabinet. Contract: docs/portal.md. HTTP routes: :data:`shlyuz.portal.api.ROUTES`; the participant:
:class:`shlyuz.portal.participant.PortalParticipant`."""
