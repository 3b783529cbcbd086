// credshield.js: log in through a credshield-guarded token endpoint from
// a browser. When the endpoint answers challenge_required, the proof of
// work is solved in Web Workers (argon2id in WebAssembly) and the request
// is retried with the solution. No dependencies; an ES module.
//
//   import { Credshield } from "/.well-known/credshield/credshield.js";
//   const cs = new Credshield({ tokenURL: "/token" });
//   cs.addEventListener("progress", (e) => show(e.detail.evaluations / e.detail.expected));
//   const res = await cs.login({ grant_type: "password", username, password });
//
// The device credential that spares a returning browser the challenge is
// an HttpOnly cookie the server sets on a successful login: this module
// never sees it and never stores anything (no localStorage), the browser
// sends it back by itself. This file keeps a stable address and is served
// with no-cache; the files it loads have content-hashed names.

const WORKER_URL = new URL("__WORKER__", import.meta.url);
// A challenge token, as the worker reads it: version 1, 88 bytes.
const TOKEN = /^[A-Za-z0-9_-]{118}$/;

/** Thrown when the endpoint keeps asking for a challenge or solving fails. */
export class ChallengeError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "ChallengeError";
  }
}

export class Credshield extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string|URL} [options.tokenURL] the login endpoint, default "/token"
   * @param {number} [options.workers] Web Workers solving at once, default one per core (at most 4)
   * @param {number} [options.maxChallenges] challenges solved for one login before giving up, default 3
   * @param {RequestCredentials} [options.credentials] fetch credentials, default "same-origin"
   */
  constructor(options = {}) {
    super();
    this.tokenURL = new URL(options.tokenURL ?? "/token", globalThis.location?.href).href;
    const cores = globalThis.navigator?.hardwareConcurrency || 1;
    this.workers = Math.max(1, Math.min(options.workers ?? cores, 4));
    this.maxChallenges = options.maxChallenges ?? 3;
    this.credentials = options.credentials ?? "same-origin";
  }

  /**
   * POSTs fields to the token endpoint as a form (RFC 6749), solving any
   * challenge it demands, and returns the final Response.
   * @param {Record<string,string>|URLSearchParams} fields
   * @param {{signal?: AbortSignal, headers?: HeadersInit}} [init]
   */
  login(fields, init = {}) {
    const headers = new Headers(init.headers);
    headers.set("Content-Type", "application/x-www-form-urlencoded");
    return this.fetch(this.tokenURL, { ...init, method: "POST", headers, body: new URLSearchParams(fields) });
  }

  /**
   * fetch for a login endpoint: like window.fetch, but an answer that
   * carries a challenge (challenge_required, in the shape of the service
   * behind the endpoint) is solved and the request retried with the
   * solution added to its body (form fields, or members of a JSON object).
   * The body must be a string, URLSearchParams or absent, so it can be
   * sent again.
   * @param {RequestInfo|URL} input
   * @param {RequestInit} [init]
   */
  async fetch(input, init = {}) {
    const signal = init.signal;
    let body = init.body;
    if (body != null && typeof body !== "string" && !(body instanceof URLSearchParams)) {
      throw new TypeError("credshield: a login body must be a string or URLSearchParams, so it can be sent again");
    }
    const headers = new Headers(init.headers);
    const base = { credentials: this.credentials, ...init, headers };
    for (let solved = 0; ; solved++) {
      const res = await fetch(input, { ...base, body });
      const refusal = await challengeOf(res);
      if (!refusal) return res;
      if (solved >= this.maxChallenges) {
        throw new ChallengeError("the login endpoint keeps asking for a challenge");
      }
      const solution = await this.solve(refusal.challenge, { signal });
      body = withSolution(body, headers.get("Content-Type"), refusal.challenge.token, solution);
    }
  }

  /**
   * Solves one challenge (the "challenge" member of a challenge_required
   * answer) and resolves to the solution for challenge_solution. Emits
   * "progress" events ({evaluations, expected, difficulty, elapsed}) and a
   * "solved" event.
   * @param {{token: string, difficulty: number}} challenge
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<string>}
   */
  solve(challenge, options = {}) {
    const signal = options.signal;
    const expected = 2 ** challenge.difficulty;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const pool = [];
      let evaluations = 0;
      let done = false;
      const finish = (err, solution) => {
        if (done) return;
        done = true;
        for (const w of pool) w.terminate();
        signal?.removeEventListener("abort", onAbort);
        if (err) return reject(err);
        const detail = { evaluations, expected, difficulty: challenge.difficulty, elapsed: performance.now() - started };
        this.dispatchEvent(new CustomEvent("solved", { detail }));
        resolve(solution);
      };
      const onAbort = () => finish(signal.reason ?? new DOMException("aborted", "AbortError"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort);
      for (let i = 0; i < this.workers; i++) {
        let w;
        try {
          w = new Worker(WORKER_URL);
        } catch (err) {
          return finish(new ChallengeError("cannot start the challenge solver", { cause: err }));
        }
        pool.push(w);
        w.onmessage = (e) => {
          const m = e.data;
          evaluations += m.evaluations ?? 0;
          if (m.type === "progress") {
            const detail = { evaluations, expected, difficulty: challenge.difficulty, elapsed: performance.now() - started };
            this.dispatchEvent(new CustomEvent("progress", { detail }));
          } else if (m.type === "solved") {
            finish(null, m.solution);
          } else if (m.type === "error") {
            finish(new ChallengeError("challenge solver: " + m.message));
          }
        };
        w.onerror = (e) => {
          e.preventDefault?.();
          finish(new ChallengeError("challenge solver failed: " + (e.message || "cannot load it")));
        };
        w.postMessage({ token: challenge.token, start: i, step: this.workers });
      }
    });
  }
}

// challengeOf returns {challenge} for a refusal of res that carries a
// challenge, or null for any other response (which is left unread for the
// caller). The challenge sits where the service's own error shape has
// room for it, as credshield answers for each:
//   {"error": "challenge_required", "challenge": {...}}          OAuth2 (RFC 6749), serve
//   {"status": "KO", ..., "challenge": {...}}                      Authelia (401)
//   {"error_code": "challenge_required", ..., "challenge": {...}}  Supabase Auth
//   {"error": {"id": "challenge_required", "details": {"challenge": {...}}}}  Ory Kratos (403)
// A well-formed token is required, so another service's field that
// happens to be called "challenge" is never mistaken for one.
async function challengeOf(res) {
  if (![400, 401, 403].includes(res.status) || !/json/i.test(res.headers.get("Content-Type") ?? "")) return null;
  let body;
  try {
    body = await res.clone().json();
  } catch {
    return null;
  }
  const challenge = body?.challenge ?? body?.error?.details?.challenge;
  if (typeof challenge?.token !== "string" || !TOKEN.test(challenge.token) || !Number.isInteger(challenge.difficulty)) return null;
  return { challenge };
}

// withSolution returns body with the challenge and its solution added, in
// the body's own encoding.
function withSolution(body, contentType, token, solution) {
  if (/json/i.test(contentType ?? "")) {
    const obj = typeof body === "string" && body !== "" ? JSON.parse(body) : {};
    obj.challenge = token;
    obj.challenge_solution = solution;
    return JSON.stringify(obj);
  }
  const form = new URLSearchParams(body ?? "");
  form.set("challenge", token);
  form.set("challenge_solution", solution);
  return form;
}
