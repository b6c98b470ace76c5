// JWE header variants that Auth.js' and NextAuth.js' own encode never write but their decode must
// judge: "zip", "crit", claims replicated into the header, other content encryptions. Each token
// is made by jose (the v6 Auth.js uses, or the v4 next-auth@4 bundles) from the keys Auth.js
// derives, and judged by Auth.js' own decode (v5 tokens) or NextAuth.js v4's (v4 tokens), so that
// the .NET decoder can be held to the same verdict, variant by variant.
import { createRequire } from "node:module"
import { createCipheriv, createHash, randomBytes } from "node:crypto"
import { constants as zlib, deflateRawSync, inflateRawSync } from "node:zlib"
import { CompactEncrypt, EncryptJWT, base64url, calculateJwkThumbprint } from "jose"
import { hkdf } from "@panva/hkdf"
import { decode as decodeV5 } from "@auth/core/jwt"

const require = createRequire(import.meta.url)
const nextAuthJwt = require("next-auth/jwt")
// The jose next-auth@4 depends on (4.x), resolved from next-auth's own directory.
const joseV4 = createRequire(require.resolve("next-auth/jwt"))("jose")
export const joseVersions = {
  v5: createRequire(import.meta.url)("jose/package.json").version,
  v4: createRequire(require.resolve("next-auth/jwt"))("jose/package.json").version,
}

// jose's limit on an inflated "zip":"DEF" plaintext (v4: zlib maxOutputLength; v6: maxDecompressedLength).
const INFLATE_LIMIT = 250_000
const encoder = new TextEncoder()

const keyFor = async (flavor, secret, salt, enc) => {
  const length = enc === "A256CBC-HS512" ? 64 : 32
  return flavor === "v5"
    ? hkdf("sha256", secret, salt, `Auth.js Generated Encryption Key (${salt})`, length)
    : hkdf("sha256", secret, "", "NextAuth.js Generated Encryption Key", length)
}

// The header each flavor's encode writes: Auth.js v5 A256CBC-HS512 with its kid, NextAuth.js v4 A256GCM.
const baseHeader = async (flavor, key, enc) => {
  const header = { alg: "dir", enc }
  if (flavor === "v5") header.kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, `sha${key.byteLength << 3}`)
  return header
}

const BOM = [0xef, 0xbb, 0xbf]
const bytes = (...parts) => new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...encoder.encode(p)] : Array.isArray(p) ? p : [...p])))
const now = () => (Date.now() / 1000) | 0
const claims = (extra = {}) => ({ name: "zoe", email: "zoe@example.test", sub: "user-zoe", ...extra })
// The same claims as raw JSON text, for payloads whose exact spelling matters.
const rawClaims = (members) => encoder.encode(`{"name":"zoe","email":"zoe@example.test",${members}"iat":${now()},"exp":${now() + 3600}}`)

// A deflated payload that inflates to exactly `size` bytes of JSON claims.
const paddedClaims = (size) => {
  const head = JSON.stringify({ ...claims(), iat: now(), exp: now() + 3600, pad: "" })
  return encoder.encode(head.slice(0, -2) + "x".repeat(size - head.length) + '"}')
}

// jose v6 through EncryptJWT (it deflates for "zip":"DEF" itself).
const jwt = (payload, header, key, options) => new EncryptJWT(payload).setProtectedHeader(header).setIssuedAt().setExpirationTime(now() + 3600).encrypt(key, options)
const compact = (plaintext, header, key, options) => new CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(key, options)
// jose v4, whose encrypt takes the deflate function: lets a test put any bytes behind "zip":"DEF".
const compactV4Deflated = (plaintext, header, key, deflateRaw) => new joseV4.CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(key, { deflateRaw: async (input) => deflateRaw(input) })

// Raw DEFLATE (RFC 1951) written bit by bit, for streams zlib's deflate never writes: values go
// least significant bit first, Huffman codes most significant bit first.
const deflateBits = (write) => {
  const out = []
  let acc = 0
  let n = 0
  const bits = (value, count) => {
    for (let i = 0; i < count; i++) {
      acc |= ((value >> i) & 1) << n
      if (++n === 8) [acc, n] = [out.push(acc) && 0, 0]
    }
  }
  const code = (value, count) => {
    for (let i = count - 1; i >= 0; i--) bits((value >> i) & 1, 1)
  }
  write({ bits, code })
  if (n) out.push(acc)
  return Buffer.from(out)
}
// RFC 1951 3.2.2: the canonical Huffman codes of a list of code lengths.
const canonical = (lengths) => {
  const count = Array(16).fill(0)
  for (const l of lengths) if (l) count[l]++
  const next = Array(16).fill(0)
  for (let bits = 1, c = 0; bits < 16; bits++) next[bits] = c = (c + count[bits - 1]) << 1
  return lengths.map((l) => (l ? next[l]++ : undefined))
}
const fixedLengths = [...Array(144).fill(8), ...Array(112).fill(9), ...Array(24).fill(7), ...Array(8).fill(8)]
const fixedCodes = canonical(fixedLengths)
// Every byte a literal, except that a run of "x" after the first becomes copies of distance 1 (length 7, symbol 261).
const writeSymbols = (w, plaintext, literal, distance) => {
  for (let i = 0; i < plaintext.length; i++) {
    literal(plaintext[i])
    if (plaintext[i] === 0x78 && plaintext.subarray(i, i + 8).every((b) => b === 0x78)) {
      literal(261)
      distance(0)
      i += 7
    }
  }
  literal(256)
}
const fixedBlock = (plaintext, symbols) =>
  deflateBits((w) => {
    w.bits(1, 1)
    w.bits(1, 2)
    const literal = (s) => w.code(fixedCodes[s], fixedLengths[s])
    const distance = (s) => w.code(s, 5)
    symbols ? symbols({ literal, distance }) : writeSymbols(w, plaintext, literal, distance)
  })
// A dynamic block whose code-length code gives each of the 19 symbols a code (13 of 4 bits, 6 of 5).
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
const CL_LENGTHS = Array.from({ length: 19 }, (_, s) => (CL_ORDER.indexOf(s) < 13 ? 4 : 5))
const CL_CODES = canonical(CL_LENGTHS)
// Literals 0-253 of 8 bits, 254, 255, end of block and length 7 (261) of 9: a complete code.
const dynamicLiterals = () => [...Array(254).fill(8), 9, 9, 9, 0, 0, 0, 0, 9]
const dynamicBlock = (plaintext, { literals = dynamicLiterals(), distances = [1], count = literals.length, firstRepeat = false } = {}) =>
  deflateBits((w) => {
    w.bits(1, 1)
    w.bits(2, 2)
    w.bits(count - 257, 5)
    w.bits(distances.length - 1, 5)
    w.bits(19 - 4, 4)
    for (const s of CL_ORDER) w.bits(CL_LENGTHS[s], 3)
    if (firstRepeat) {
      w.code(CL_CODES[16], CL_LENGTHS[16])
      w.bits(0, 2)
    }
    for (const l of [...literals, ...distances]) w.code(CL_CODES[l], CL_LENGTHS[l])
    const literalCodes = canonical(literals)
    const distanceCodes = canonical(distances)
    writeSymbols(w, plaintext, (s) => w.code(literalCodes[s], literals[s]), (s) => w.code(distanceCodes[s], distances[s]))
  })
const withPad = (plaintext) => encoder.encode(new TextDecoder().decode(plaintext).replace('"name"', '"pad":"xxxxxxxxxxxxxxxx","name"'))

// A header jose refuses to write at all (or header bytes JSON.stringify never gives): A256GCM by
// hand, as RFC 7516 lays it out.
const handMadeGcm = (plaintext, header, key) => {
  const protectedHeader = base64url.encode(header instanceof Uint8Array ? header : JSON.stringify(header))
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  cipher.setAAD(Buffer.from(protectedHeader, "ascii"))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return [protectedHeader, "", base64url.encode(iv), base64url.encode(ciphertext), base64url.encode(cipher.getAuthTag())].join(".")
}

// Each variant: the content encryption it uses (null: the flavor's own), and how it is made.
const variants = {
  // Compression: jose inflates "zip":"DEF" up to its limit (inclusive) and refuses beyond it.
  "zip-def": { make: ({ header, key }) => jwt(claims(), { ...header, zip: "DEF" }, key) },
  "zip-def-at-limit": { make: ({ header, key }) => compact(paddedClaims(INFLATE_LIMIT), { ...header, zip: "DEF" }, key) },
  "zip-def-over-limit": { make: ({ header, key }) => compact(paddedClaims(INFLATE_LIMIT + 1), { ...header, zip: "DEF" }, key) },
  // About 8 MB of zeros that deflate to about 8 KB: still fits in a cookie header.
  "zip-def-bomb": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => deflateRawSync(Buffer.alloc(8_000_000), { level: 9 })) },
  "zip-def-truncated": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => deflateRawSync(input).subarray(0, -4)) },
  "zip-def-trailing-bytes": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => Buffer.concat([deflateRawSync(input), Buffer.from("trailing")])) },
  "zip-def-not-deflated": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => input) },
  "zip-def-unterminated": { make: ({ header, key }) => compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) => deflateRawSync(input, { finishFlush: zlib.Z_SYNC_FLUSH })) },
  "zip-def-empty": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => Buffer.alloc(0)) },
  "zip-def-stored": { make: ({ header, key }) => compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) => deflateRawSync(input, { level: 0 })) },
  "zip-def-multiple-blocks": {
    make: ({ header, key }) =>
      compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) =>
        Buffer.concat([deflateRawSync(input.subarray(0, 20), { level: 0, finishFlush: zlib.Z_SYNC_FLUSH }), deflateRawSync(input.subarray(20, 40), { finishFlush: zlib.Z_SYNC_FLUSH }), deflateRawSync(input.subarray(40))])
      ),
  },
  "zip-def-stored-bad-length": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => Buffer.concat([Buffer.from([1, input.length & 0xff, input.length >> 8, ~input.length & 0xff, (~input.length >> 8) & 0xfe]), input])) },
  "zip-def-block-type-3": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => Buffer.from([0x07, 0, 0, 0])) },
  "zip-def-fixed-copy": { make: ({ header, key }) => compactV4Deflated(withPad(rawClaims('"sub":"user-zoe",')), { ...header, zip: "DEF" }, key, (input) => fixedBlock(input)) },
  "zip-def-fixed-distance-too-far": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => fixedBlock(null, ({ literal, distance }) => [literal(0x7b), literal(257), distance(1), literal(256)])) },
  "zip-def-fixed-distance-30": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => fixedBlock(null, ({ literal, distance }) => [literal(0x7b), literal(257), distance(30), literal(256)])) },
  "zip-def-fixed-length-286": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, () => fixedBlock(null, ({ literal, distance }) => [literal(0x7b), literal(286), distance(0), literal(256)])) },
  "zip-def-dynamic": { make: ({ header, key }) => compactV4Deflated(withPad(rawClaims('"sub":"user-zoe",')), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input)) },
  "zip-def-dynamic-no-distances": { make: ({ header, key }) => compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { distances: [0] })) },
  "zip-def-dynamic-lone-distance-of-2-bits": { make: ({ header, key }) => compactV4Deflated(withPad(rawClaims('"sub":"user-zoe",')), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { distances: [2] })) },
  "zip-def-dynamic-incomplete-literals": { make: ({ header, key }) => compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { literals: [...Array(254).fill(8), 9, 0, 9, 0, 0, 0, 0, 9] })) },
  "zip-def-dynamic-oversubscribed-literals": { make: ({ header, key }) => compactV4Deflated(rawClaims('"sub":"user-zoe",'), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { literals: [...Array(254).fill(8), 9, 9, 9, 0, 0, 0, 9, 9] })) },
  "zip-def-dynamic-missing-end-of-block": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { literals: [...Array(256).fill(8), 0] })) },
  "zip-def-dynamic-too-many-lengths": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { count: 288 })) },
  "zip-def-dynamic-repeat-first": { make: ({ header, key }) => compactV4Deflated(rawClaims(""), { ...header, zip: "DEF" }, key, (input) => dynamicBlock(input, { firstRepeat: true })) },
  "zip-gzip": { enc: "A256GCM", make: ({ header, key }) => handMadeGcm(rawClaims(""), { ...header, zip: "GZIP" }, key) },
  // Critical extensions: the encoder is told it knows them; Auth.js' decode is told of none.
  "crit-unknown-extension": { make: ({ header, key }) => jwt(claims(), { ...header, crit: ["x-ext"], "x-ext": true }, key, { crit: { "x-ext": true } }) },
  "crit-b64": { make: ({ header, key }) => jwt(claims(), { ...header, crit: ["b64"], b64: false }, key, { crit: { b64: true } }) },
  "crit-empty": { enc: "A256GCM", make: ({ header, key }) => handMadeGcm(rawClaims(""), { ...header, crit: [] }, key) },
  // Claims replicated into the header (RFC 7519 5.3): jwtDecrypt compares iss and sub with ===, aud by JSON.stringify.
  "replicated-match": { make: ({ header, key }) => jwt(claims({ iss: "https://app.example.test", aud: "app" }), { ...header, iss: "https://app.example.test", sub: "user-zoe", aud: "app" }, key) },
  "replicated-aud-array-match": { make: ({ header, key }) => jwt(claims({ aud: ["a", "b"] }), { ...header, aud: ["a", "b"] }, key) },
  "replicated-sub-mismatch": { make: ({ header, key }) => jwt(claims(), { ...header, sub: "user-admin" }, key) },
  "replicated-iss-mismatch": { make: ({ header, key }) => jwt(claims({ iss: "https://app.example.test" }), { ...header, iss: "https://evil.example.test" }, key) },
  "replicated-aud-mismatch": { make: ({ header, key }) => jwt(claims({ aud: "app" }), { ...header, aud: "other" }, key) },
  "replicated-aud-order": { make: ({ header, key }) => jwt(claims({ aud: ["a", "b"] }), { ...header, aud: ["b", "a"] }, key) },
  "replicated-sub-absent-from-claims": { make: ({ header, key }) => compact(rawClaims(""), { ...header, sub: "user-zoe" }, key) },
  "replicated-sub-null": { make: ({ header, key }) => compact(rawClaims('"sub":null,'), { ...header, sub: null }, key) },
  "replicated-sub-escaped": { make: ({ header, key }) => compact(rawClaims('"sub":"user-\\u007aoe",'), { ...header, sub: "user-zoe" }, key) },
  "replicated-sub-duplicate-claim": { make: ({ header, key }) => compact(rawClaims('"sub":"user-admin","sub":"user-zoe",'), { ...header, sub: "user-zoe" }, key) },
  "replicated-iss-number-spelling": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","iss":1.0,'), { ...header, iss: 1 }, key) },
  "replicated-iss-object": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","iss":{"a":1},'), { ...header, iss: { a: 1 } }, key) },
  "replicated-aud-number-spelling": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","aud":[1e2,0.5],'), { ...header, aud: [100, 0.5] }, key) },
  "replicated-aud-object-member-order": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","aud":{"b":1,"a":2},'), { ...header, aud: { a: 2, b: 1 } }, key) },
  "replicated-aud-object-index-members": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","aud":{"b":1,"1":2},'), { ...header, aud: { 1: 2, b: 1 } }, key) },
  "replicated-aud-duplicate-member": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","aud":{"a":1,"b":2,"a":3},'), { ...header, aud: { a: 3, b: 2 } }, key) },
  "replicated-aud-overflow-is-null": { make: ({ header, key }) => compact(rawClaims('"sub":"user-zoe","aud":[1e400],'), { ...header, aud: [null] }, key) },
  // Text as TextDecoder reads it before JSON.parse: one leading BOM dropped; invalid UTF-8 refused
  // by jose 6 (fatal) but replaced by U+FFFD by jose 4; escaped lone surrogates are strings like any other.
  "header-lone-surrogate-member": { make: ({ header, key }) => jwt(claims(), { ...header, "x\udc00": 1 }, key) },
  "header-lone-surrogate-kid": { make: ({ header, key }) => jwt(claims(), { ...header, kid: "\ud800" }, key) },
  "header-bom": { enc: "A256GCM", make: ({ header, key }) => handMadeGcm(rawClaims(""), bytes(BOM, JSON.stringify(header)), key) },
  "header-invalid-utf8": { enc: "A256GCM", make: ({ header, key }) => handMadeGcm(rawClaims(""), bytes(JSON.stringify(header).slice(0, -1), ',"x":"', [0xff], '"}'), key) },
  "claims-lone-surrogate-name": { make: ({ header, key }) => jwt(claims({ name: "zoe\ud83d" }), header, key) },
  "claims-lone-surrogate-member": { make: ({ header, key }) => jwt(claims({ "x\udc00": 1 }), header, key) },
  "claims-bom": { make: ({ header, key }) => compact(bytes(BOM, rawClaims('"sub":"user-zoe",')), header, key) },
  "claims-invalid-utf8": { make: ({ header, key }) => compact(bytes('{"name":"zo', [0xff], `e","sub":"user-zoe","exp":${now() + 3600}}`), header, key) },
  "replicated-sub-lone-surrogate": { make: ({ header, key }) => jwt(claims({ sub: "user-\ud800" }), { ...header, sub: "user-\ud800" }, key) },
  "replicated-sub-lone-surrogate-mismatch": { make: ({ header, key }) => jwt(claims({ sub: "user-\ud801" }), { ...header, sub: "user-\ud800" }, key) },
  // Content encryptions: which one a decode accepts follows its allow-list and the length of its key.
  "enc-a128cbc-hs256": { enc: "A128CBC-HS256", make: ({ header, key }) => jwt(claims(), header, key) },
  "enc-a256cbc-hs512": { enc: "A256CBC-HS512", make: ({ header, key }) => jwt(claims(), header, key) },
  "enc-a256gcm": { enc: "A256GCM", make: ({ header, key }) => jwt(claims(), header, key) },
}

export const variantNames = Object.keys(variants)

/**
 * Mints the variant for a flavor ("v5": the cookie `salt`, the first of `secret`; "v4": the one
 * `secret`) and asks that flavor's own decode, with the same secrets, what it makes of it.
 */
export async function judgeVariant({ flavor, variant, secret, salt = "authjs.session-token" }) {
  const spec = variants[variant]
  if (!spec || (flavor !== "v5" && flavor !== "v4")) throw new Error(`unknown variant ${flavor} ${variant}`)
  const secrets = Array.isArray(secret) ? secret : [secret]
  const enc = spec.enc ?? (flavor === "v5" ? "A256CBC-HS512" : "A256GCM")
  const key = await keyFor(flavor, secrets[0], salt, enc)
  const token = await spec.make({ header: await baseHeader(flavor, key, enc), key })
  try {
    const payload = flavor === "v5" ? await decodeV5({ token, secret: secrets, salt }) : await nextAuthJwt.decode({ token, secret: secrets[0] })
    // The user's fields as UTF-16 code units: JSON cannot carry a lone surrogate to .NET's strings intact.
    const units = (value) => (typeof value === "string" ? Array.from(value, (_, i) => value.charCodeAt(i)) : null)
    return { token, accepted: true, payload, user: { name: units(payload.name), email: units(payload.email), sub: units(payload.sub) }, jose: joseVersions[flavor] }
  } catch (error) {
    return { token, accepted: false, reason: `${error.code ?? error.name}: ${error.message}`, jose: joseVersions[flavor] }
  }
}

/**
 * Raw DEFLATE streams from zlib's deflate (every level and strategy), most of them then damaged
 * (bits flipped, bytes replaced, cut short) or replaced by random bytes, each with zlib's own
 * verdict as jose 4 asks for it (inflateRaw, maxOutputLength 250,000) and the SHA-256 of what it
 * inflates to. Seeded: the same cases every run.
 */
export function deflateCases({ seed = 1, count = 2000 } = {}) {
  let state = seed
  const random = (n) => ((state = (state * 1103515245 + 12345) & 0x7fffffff) % n)
  const samples = [
    encoder.encode(JSON.stringify({ ...claims(), iat: 1700000000, exp: 1700003600 })),
    encoder.encode("x".repeat(3000)),
    Uint8Array.from({ length: 2000 }, () => random(256)),
    Uint8Array.from({ length: 5000 }, (_, i) => "abcdefghij".charCodeAt(random(4) + (i % 6))),
  ]
  return Array.from({ length: count }, (_, n) => {
    let input = Buffer.from(deflateRawSync(samples[n % samples.length], { level: [0, 1, 6, 9][random(4)], strategy: random(5) }))
    switch (random(5)) {
      case 0:
        for (let flips = 1 + random(3); flips > 0; flips--) input[random(input.length)] ^= 1 << random(8)
        break
      case 1:
        input = input.subarray(0, random(input.length))
        break
      case 2:
        input[random(input.length)] = random(256)
        break
      case 3:
        input = Buffer.from(Array.from({ length: random(64) }, () => random(256)))
        break
    }
    try {
      const output = inflateRawSync(input, { maxOutputLength: INFLATE_LIMIT })
      return { input: input.toString("base64"), inflated: createHash("sha256").update(output).digest("base64") }
    } catch {
      return { input: input.toString("base64"), inflated: null }
    }
  })
}
