// argon2id.js: argon2id (RFC 9106) for fixed parameters, over hash-wasm's
// two WebAssembly modules: its BLAKE2b and its argon2 memory filling. A
// classic script for a Web Worker; it defines createArgon2id.
//
// Why not hash-wasm's own argon2id(): that makes three new WebAssembly
// instances and a new 1 MiB memory on every call. At the challenge's single
// pass that costs more than the hashing itself, and with several workers the
// new memories serialise them in the browser (docs/benchmarks.md). Here each
// worker instantiates the modules once and every evaluation reuses them.
//
// The modules do all the hashing; this file only lays out their inputs, as
// RFC 9106 section 3.2 says and hash-wasm's lib/argon2.ts does:
//   H0 = BLAKE2b-512(LE32 p, T, m, t, v, y, len(P), P, len(S), S, 0, 0)
//   B[i][0] = H'^1024(H0 || LE32 0 || LE32 i), B[i][1] = H'^1024(H0 || LE32 1 || LE32 i)
//   the argon2 module fills the rest and leaves C, the XOR of each lane's last block, in block 0
//   tag = H'^T(C)
// where H' is the variable-length hash of RFC 9106 section 3.3. A Go test
// (TestArgon2idMatchesGo) compares its output, in Chromium, with
// golang.org/x/crypto/argon2's for several parameter sets.
"use strict";

// createArgon2id is this file's one global; its constants stay inside.
const createArgon2id = (() => {
const ARGON2_VERSION = 0x13, ARGON2ID = 2, BLOCK = 1024, BLAKE2B_BUFFER = 16 << 10;

/**
 * Instantiates the modules for one parameter set and resolves to
 * hash(password), which returns the tag as a view that the next call
 * overwrites. Salt and parameters are fixed, as they are for every counter
 * of a challenge.
 * @param {string|URL} argon2URL hash-wasm's argon2 module
 * @param {string|URL} blake2bURL hash-wasm's blake2b module
 * @param {{salt: Uint8Array, memoryKiB: number, time: number, threads: number, hashLength: number}} p
 */
return async function createArgon2id(argon2URL, blake2bURL, p) {
  // RFC 9106's bounds that the layout below relies on (the challenge's
  // decoder keeps to narrower ones).
  if (!(p.threads >= 1 && p.time >= 1 && p.memoryKiB >= 8 * p.threads && p.hashLength >= 4 &&
        p.salt.length + 64 <= BLAKE2B_BUFFER)) {
    throw new Error("argon2id parameters out of range");
  }
  // Not instantiateStreaming: the modules are 7 KB each, and this way a
  // proxy that serves them with another Content-Type breaks nothing.
  const instantiate = async (url) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error("cannot load " + url + ": HTTP " + res.status);
    return (await WebAssembly.instantiate(await res.arrayBuffer(), {})).instance.exports;
  };
  const [argon2, blake] = await Promise.all([instantiate(argon2URL), instantiate(blake2bURL)]);

  // The argon2 module's blocks start at the offset Hash_GetBuffer returns
  // (it reserves 512 KiB there on the first call); the block after the m
  // blocks holds the parameters it reads. The memory is grown once, here,
  // so the views below stay valid for every evaluation.
  const base = argon2.Hash_GetBuffer();
  const size = p.memoryKiB * BLOCK + BLOCK;
  if (argon2.memory.buffer.byteLength - base < size) argon2.Hash_SetMemorySize(size);
  if (base === 0 || argon2.memory.buffer.byteLength - base < size) throw new Error("cannot allocate the argon2 memory");
  const mem = new Uint8Array(argon2.memory.buffer, base, size);
  const params = new DataView(argon2.memory.buffer, base + p.memoryKiB * BLOCK, 24);
  [p.threads, p.hashLength, p.memoryKiB, p.time, ARGON2_VERSION, ARGON2ID].forEach((v, i) => params.setUint32(4 * i, v, true));

  // BLAKE2b reads its input from the start of its 16 KiB buffer and writes
  // its digest there: digest(n, outLen) hashes buf[0..n) into buf[0..outLen).
  const buf = new Uint8Array(blake.memory.buffer, blake.Hash_GetBuffer(), BLAKE2B_BUFFER);
  const view = new DataView(blake.memory.buffer, blake.Hash_GetBuffer(), BLAKE2B_BUFFER);
  const digest = (n, outLen) => blake.Hash_Calculate(n, outLen * 8);

  // hPrime writes H'^outLen of buf[4..4+n) into dst, following RFC 9106
  // section 3.3; the caller has put the input at buf[4..].
  const hPrime = (n, outLen, dst, at) => {
    view.setUint32(0, outLen, true);
    if (outLen <= 64) {
      digest(4 + n, outLen);
      dst.set(buf.subarray(0, outLen), at);
      return;
    }
    const r = Math.ceil(outLen / 32) - 2;
    digest(4 + n, 64); // V1
    dst.set(buf.subarray(0, 32), at);
    for (let i = 1; i < r; i++) { // V2..Vr, each the hash of the one before, in place
      digest(64, 64);
      dst.set(buf.subarray(0, 32), at + 32 * i);
    }
    const last = outLen - 32 * r;
    digest(64, last);
    dst.set(buf.subarray(0, last), at + 32 * r);
  };

  const h0 = new Uint8Array(72); // H0, then LE32 j, LE32 lane
  const h0view = new DataView(h0.buffer);
  const laneBlocks = Math.floor(p.memoryKiB / (4 * p.threads)) * 4;
  const tag = new Uint8Array(p.hashLength);

  return (password) => {
    if (password.length + p.salt.length + 64 > BLAKE2B_BUFFER) throw new Error("argon2id password too long");
    let o = 0;
    for (const v of [p.threads, p.hashLength, p.memoryKiB, p.time, ARGON2_VERSION, ARGON2ID, password.length]) {
      view.setUint32(o, v, true);
      o += 4;
    }
    buf.set(password, o);
    o += password.length;
    view.setUint32(o, p.salt.length, true);
    buf.set(p.salt, o + 4);
    o += 4 + p.salt.length;
    view.setUint32(o, 0, true); // no secret
    view.setUint32(o + 4, 0, true); // no associated data
    digest(o + 8, 64);
    h0.set(buf.subarray(0, 64));

    // The module XORs every new block into what the memory holds, as
    // x/crypto/argon2 does into fresh zeroed memory: clear it first.
    mem.fill(0, 0, p.memoryKiB * BLOCK);
    for (let lane = 0; lane < p.threads; lane++) {
      for (let j = 0; j < 2; j++) {
        h0view.setUint32(64, j, true);
        h0view.setUint32(68, lane, true);
        buf.set(h0, 4);
        hPrime(72, BLOCK, mem, (lane * laneBlocks + j) * BLOCK);
      }
    }
    argon2.Hash_Calculate(0, p.memoryKiB);
    buf.set(mem.subarray(0, BLOCK), 4);
    hPrime(BLOCK, p.hashLength, tag, 0);
    return tag;
  };
};
})();
