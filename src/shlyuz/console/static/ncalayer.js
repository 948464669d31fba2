// A minimal NCALayer client for the console's pages (docs/ncalayer.md): one WebSocket per request, the greeting
// first, then one `kz.gov.pki.knca.basics` `sign` request and its answer. Works with the real NCALayer and with
// `shlyuz ncalayer` (which signs for real with a test identity).

import { ApiFailure } from "/ui/api.js";

export const DEFAULT_URL = "wss://127.0.0.1:13579/";
const URL_KEY = "shlyuz.ncalayer";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"; // an AUTH key: logging in
export const OID_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"; // a SIGN key: signing documents
const TIMEOUT_MS = 30000;

/** The signer's URL: ?ncalayer=… on the page, else the one last used in this browser, else NCALayer's own. */
export function signerUrl() {
  const fromPage = new URLSearchParams(location.search).get("ncalayer");
  if (fromPage) return fromPage;
  try {
    return localStorage.getItem(URL_KEY) || DEFAULT_URL;
  } catch {
    return DEFAULT_URL;
  }
}

export function rememberUrl(url) {
  try {
    localStorage.setItem(URL_KEY, url);
  } catch {
    /* private mode: the page keeps it for this visit */
  }
}

/** An NCALayer failure: shown like a gateway error (its code in the error box), without an HTTP status. */
export class NcaLayerFailure extends ApiFailure {
  constructor(code, message) {
    super(0, code, message, null);
    this.message = message;
  }
}

function failure(code, message) {
  return new NcaLayerFailure(code, message);
}

/**
 * Open a connection, wait for the greeting, send `request` (an object) if given, resolve to [greeting, answer].
 * Rejects with ApiFailure NCALAYER_UNREACHABLE when nothing answers at `url`.
 */
export function exchange(url, request) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      reject(failure("NCALAYER_UNREACHABLE", `not a WebSocket URL: ${url} (${err.message})`));
      return;
    }
    let greeting = null;
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        /* already closed */
      }
      fn(value);
    };
    const timer = setTimeout(
      () => finish(reject, failure("NCALAYER_TIMEOUT", `no answer from ${url} within ${TIMEOUT_MS / 1000} s`)),
      TIMEOUT_MS,
    );
    ws.onerror = () =>
      finish(reject, failure("NCALAYER_UNREACHABLE", `NCALayer is not reachable at ${url}: start it (shlyuz ncalayer), or trust its TLS certificate`));
    ws.onclose = () => finish(reject, failure("NCALAYER_UNREACHABLE", `NCALayer at ${url} closed the connection`));
    ws.onmessage = (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        finish(reject, failure("NCALAYER_PROTOCOL", `not JSON from ${url}: ${String(ev.data).slice(0, 200)}`));
        return;
      }
      if (greeting === null) {
        greeting = data;
        if (!request) finish(resolve, [greeting, null]);
        else ws.send(JSON.stringify(request));
        return;
      }
      finish(resolve, [greeting, data]);
    };
  });
}

/** The version NCALayer reports in its greeting. */
export async function probe(url = signerUrl()) {
  const [greeting] = await exchange(url, null);
  return (greeting && greeting.result && greeting.result.version) || "?";
}

/**
 * Sign an XML document (enveloped XMLDSig) with the key of the given purpose: "auth" (log in) or "sign" (documents).
 * Resolves to the signed XML; rejects with ApiFailure NCALAYER_<code> (e.g. NCALAYER_SIGNING_FAILURE) or
 * NCALAYER_CANCELLED.
 */
export async function signXml(xml, purpose = "sign", url = signerUrl()) {
  const request = {
    module: "kz.gov.pki.knca.basics",
    method: "sign",
    args: {
      allowedStorages: ["PKCS12", "AKKaztokenStore", "AKKZIDCardStore"],
      format: "xml",
      data: xml,
      signingParams: { decode: false, encapsulate: true, digested: false },
      signerParams: { extKeyUsageOids: [purpose === "auth" ? OID_CLIENT_AUTH : OID_EMAIL_PROTECTION] },
      locale: "ru",
    },
  };
  const [, answer] = await exchange(url, request);
  if (answer && answer.status === true) {
    if (answer.body && typeof answer.body.result === "string") return answer.body.result;
    throw failure("NCALAYER_CANCELLED", "the signing was cancelled in NCALayer");
  }
  const code = (answer && answer.code) || "ERROR";
  throw failure(`NCALAYER_${code}`, (answer && answer.message) || JSON.stringify(answer).slice(0, 300));
}
