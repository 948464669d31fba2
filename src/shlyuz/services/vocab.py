"""Closed vocabularies of a service definition: channels, information systems, checks, actors, forms.

Each value is what goes in the YAML; the chain engine maps a :class:`Check` to the real check it runs and a
:class:`System` to the mocked information system it calls.
"""

from __future__ import annotations

import enum


class ChannelId(str, enum.Enum):
    PROVIDER = "provider"  # application straight to the provider (its office or district department)
    STATE_CORP = "state-corp"  # the State Corporation "Government for Citizens" (ЦОН / Мемлекеттік корпорация)
    PORTAL = "portal"  # the e-government portal www.egov.kz (and www.elicense.kz for annex 4)


class System(str, enum.Enum):
    """Who or what a chain item touches."""

    PORTAL = "portal"  # www.egov.kz / www.elicense.kz, incl. the personal cabinet
    PKI = "pki"  # the EDS certificate checks (validity, revocation list, IIN match)
    SHEP = "shep"  # ЭҮШ / ШЭП, the e-government gateway
    GBDFL = "gbdfl"  # ЖТ МДҚ / ГБД ФЛ
    ENIS = "enis"  # БНАЖ / ЕНИС, notarial powers of attorney
    ESOBES = "esobes"  # «Е-собес» АЖ
    ELICENSING = "elicensing"  # «Е-лицензиялау» МДҚ
    ARM_RSHEP = "arm-rshep"  # АЭҮШ АЖО / АРМ РШЭП, the regional gateway workstation
    ARM_CON = "arm-con"  # МК ЫАЖ АЖО / АРМ ИИС ЦОН, the State Corporation's workstation
    SC_IS = "sc-is"  # "Мемлекеттік корпорацияның ақпараттық жүйесі" (unnamed SC information system, annex 7)
    AIS_UNNAMED = "ais-unnamed"  # "автоматтандырылған ақпараттық жүйе" (annex 3, not named)
    ELECTRONIC_QUEUE = "electronic-queue"  # the SC hall's electronic queue
    PROVIDER = "provider"  # people at the provider (human work)
    STATE_CORP = "state-corp"  # people at the State Corporation
    APPLICANT = "applicant"  # the service recipient or their representative


class Check(str, enum.Enum):
    """What a condition ("N шарт") checks, machine-readable."""

    PORTAL_AUTH = "portal_auth"  # IIN (or IIN/BIN, or login) + password registered on the portal
    EDS_VALID = "eds_valid"  # EDS registration certificate within its validity period
    EDS_NOT_REVOKED = "eds_not_revoked"  # not on the list of revoked (cancelled) certificates
    EDS_IIN_MATCH = "eds_iin_match"  # IIN in the request == IIN in the certificate
    EDS_IIN_BIN_MATCH = "eds_iin_bin_match"  # IIN/BIN in the request == IIN/BIN in the certificate (employers)
    GBDFL_PERSON_FOUND = "gbdfl_person_found"  # the recipient's data exist in ЖТ МДҚ / ГБД ФЛ
    ENIS_POA_VALID = "enis_poa_valid"  # the representative's notarial power of attorney exists in БНАЖ / ЕНИС
    DOCUMENTS_COMPLETE = "documents_complete"  # the documents match the (inferred) Standard item 9 checklist
    AIS_DATA_ENTERED = "ais_data_entered"  # annex 3: personal data entered into the (unnamed) AIS
    HUMAN_DECISION = "human_decision"  # a person or commission decides (the provider's internal procedure)


class Actor(str, enum.Enum):
    """Who performs a provider or State Corporation step."""

    APPLICANT = "applicant"
    SPECIALIST = "specialist"  # the provider's specialist (маманы)
    RESPONSIBLE_SPECIALIST = "responsible_specialist"  # жауапты маман
    RESPONSIBLE_EXECUTOR = "responsible_executor"  # жауапты орындаушы
    OFFICE_SPECIALIST = "office_specialist"  # кеңсе маманы / кеңсе қызметкері (chancellery, office)
    HEAD = "head"  # the provider's head (басшысы)
    DEPUTY_HEAD = "deputy_head"  # басшысының орынбасары
    SSS_DEPARTMENT_HEAD = "sss_department_head"  # head of the department for special social services
    DISTRICT_SPECIALIST = "district_specialist"  # the district department's specialist / employee
    DISTRICT_HEAD = "district_head"  # the district department's head
    LABOUR_MIGRATION_SPECIALIST = "labour_migration_specialist"  # еңбек көші-қон бөлімі (annex 4)
    SOCIAL_WORKER = "social_worker"  # assessment of the need for special social services
    PRECINCT_COMMISSION = "precinct_commission"  # учаскелік комиссия
    SPECIAL_COMMISSION = "special_commission"  # арнайы комиссия
    COMMISSION = "commission"  # another named commission (foreign labour, home care, MSI referral)
    SC_SPECIALIST = "sc_specialist"  # Мемлекеттік корпорация маманы / қызметкері
    SC_INSPECTOR = "sc_inspector"  # Мемлекеттік корпорацияның инспекторы (annex 15)
    SC_COURIER = "sc_courier"  # Мемлекеттік корпорация курьері (annex 7)
    POST = "post"

    @property
    def human_decision_body(self) -> bool:
        return self in {Actor.PRECINCT_COMMISSION, Actor.SPECIAL_COMMISSION, Actor.COMMISSION}


class Form(str, enum.Enum):
    PAPER = "paper"
    ELECTRONIC = "electronic"


class Automation(str, enum.Enum):
    NONE = "none"  # paper only
    PARTIAL = "partial"  # "ішінара автоматтандырылған"
    FULL = "full"  # "толық автоматтандырылған"


class NoteKind(str, enum.Enum):
    """The seed's own defects and ambiguities, kept visible."""

    DUPLICATE_NUMBERING = "duplicate_numbering"
    MISSING_NUMBER = "missing_number"
    CONTRADICTION = "contradiction"
    COPIED_TEXT = "copied_text"
    UNIT_MISSING = "unit_missing"  # "days" without working/calendar
    DURATION_MISSING = "duration_missing"
    GAP = "gap"  # something the process needs is not in the text (a branch with no target, an unnamed system)
    EXTRACTION_GLITCH = "extraction_glitch"
    AMBIGUITY = "ambiguity"
    INFERENCE = "inference"  # how this definition filled a gap
