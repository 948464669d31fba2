"""XML namespaces of the SHEP v10 contract and of the envelopes around it (kz_egov.md §1.2)."""

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"

SYNC_TYPES = "http://bip.bee.kz/SyncChannel/v10/Types"
SYNC_REQUEST = "http://bip.bee.kz/SyncChannel/v10/Types/Request"
SYNC_RESPONSE = "http://bip.bee.kz/SyncChannel/v10/Types/Response"
SYNC_INTERFACES = "http://bip.bee.kz/SyncChannel/v10/Interfaces"
COMMON = "http://bip.bee.kz/common/v10/Types"

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"

# GBD FL payload namespaces (kz_egov.md §2.1)
GBDFL_MESSAGE = "http://message.persistence.interactive.nat"
GBDFL_PERSON = "http://person.persistence.interactive.nat"
GBDFL_DOCUMENT = "http://document.persistence.interactive.nat"
GBDFL_DICT = "http://dictionaries.persistence.interactive.nat"

# ENIS power-of-attorney payloads: the real contract is not public; this one is shlyuz's design (schemas/enis/).
ENIS_POA = "http://poa.enis.notariat.kz/v1"


def q(ns: str, local: str) -> str:
    """Clark notation ``{ns}local``."""
    return f"{{{ns}}}{local}"

# AsyncChannel v10 (kz_egov.md §1.2, §1.5): operation elements, complex types, the client side (push receiver)
ASYNC_TYPES = "http://bip.bee.kz/AsyncChannel/v10/Types"
ASYNC_ITYPES = "http://bip.bee.kz/AsyncChannel/v10/ITypes"
ASYNC_CLIENT = "http://bip.bee.kz/AsyncChannel/v10/Types/Client"
