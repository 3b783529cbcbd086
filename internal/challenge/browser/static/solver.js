// credshield solver: a classic Web Worker that solves one share of a
// credshield proof-of-work challenge (version 1) with argon2id in
// WebAssembly (argon2id.js over hash-wasm's modules, instantiated once per
// worker). credshield.js starts one per core and tells each which counters
// to try: start, start+step, start+2·step, ...
//
// The byte layout and the evaluation are documented in the Go package
// internal/challenge; this file follows it exactly:
//   salt     = SHA-256(token)
//   password = nonce || uint64be(counter)
//   out      = argon2id(password, salt, t, m, p, 32 bytes), version 0x13
// and counter solves the challenge when out starts with difficulty zero bits.
"use strict";
importScripts("__ARGON2ID__");
const ARGON2_WASM = new URL("__ARGON2_WASM__", self.location.href);
const BLAKE2B_WASM = new URL("__BLAKE2B_WASM__", self.location.href);

const TOKEN_BYTES = 88;
const MAX_MEMORY_KIB = 64 << 10, MAX_TIME = 16, MAX_THREADS = 16, MAX_DIFFICULTY = 32;
const PROGRESS_EVERY = 8;

function decodeToken(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]{118}$/.test(s)) throw new Error("malformed challenge token");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  if (b.length !== TOKEN_BYTES || b[0] !== 1) throw new Error("unsupported challenge version");
  const v = new DataView(b.buffer);
  const t = {
    raw: b,
    memoryKiB: v.getUint32(1),
    time: b[5],
    threads: b[6],
    difficulty: b[7],
    nonce: b.slice(8, 24),
  };
  if (t.memoryKiB < 8 * t.threads || t.memoryKiB > MAX_MEMORY_KIB || t.time < 1 || t.time > MAX_TIME ||
      t.threads < 1 || t.threads > MAX_THREADS || t.difficulty < 1 || t.difficulty > MAX_DIFFICULTY) {
    throw new Error("challenge parameters out of range");
  }
  return t;
}

function leadingZeroBits(out) {
  let n = 0;
  for (const byte of out) {
    if (byte === 0) { n += 8; continue; }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

async function solve(msg) {
  const t = decodeToken(msg.token);
  const salt = new Uint8Array(await crypto.subtle.digest("SHA-256", t.raw));
  const argon2id = await createArgon2id(ARGON2_WASM, BLAKE2B_WASM, {
    salt, memoryKiB: t.memoryKiB, time: t.time, threads: t.threads, hashLength: 32,
  });
  const password = new Uint8Array(24);
  password.set(t.nonce, 0);
  const counter = new DataView(password.buffer, 16, 8);
  let evaluations = 0, reported = 0;
  for (let c = msg.start; ; c += msg.step) {
    if (c > Number.MAX_SAFE_INTEGER) throw new Error("no counter fits");
    counter.setUint32(0, Math.floor(c / 2 ** 32));
    counter.setUint32(4, c >>> 0);
    const out = argon2id(password);
    evaluations++;
    if (leadingZeroBits(out) >= t.difficulty) {
      postMessage({ type: "solved", solution: String(c), evaluations: evaluations - reported });
      return;
    }
    if (evaluations - reported >= PROGRESS_EVERY) {
      postMessage({ type: "progress", evaluations: evaluations - reported });
      reported = evaluations;
      // Give the event loop a turn every few milliseconds: Chromium
      // stops a terminated worker only between tasks, so a worker that
      // never yields would keep a core busy for a while after the
      // challenge is solved.
      await nextTask();
    }
  }
}

// nextTask resolves in a new task (a MessageChannel message: unlike
// setTimeout, never clamped to 4 ms).
const tick = new MessageChannel();
function nextTask() {
  return new Promise((resolve) => {
    tick.port1.onmessage = resolve;
    tick.port2.postMessage(null);
  });
}

// One message starts the work; the page terminates the worker to stop it.
onmessage = (e) => {
  solve(e.data).catch((err) => postMessage({ type: "error", message: String(err && err.message || err) }));
};
