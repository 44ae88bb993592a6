import { X509Certificate } from "node:crypto"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import { createSecureContext } from "node:tls"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Certificate from "../../../layers/app/Certificate.ts"

describe("Certificate", () => {
  it("every certificate is DER that OpenSSL loads: integers minimal, whatever the serial and key", () => {
    // A serial whose first byte is 0 used to keep a redundant leading zero ("illegal padding"); one with the top bit
    // set needs one. The serials where either applies, then random ones (and a fresh key each time).
    const edges = [
      [0x00, 0x12],
      [0x00, 0x00, 0x7f],
      [0x00, 0x80],
      [0x80, 0x01],
      [0xff, 0xff],
      [0x00, 0x00]
    ].map((bytes) => Uint8Array.from([...bytes, ...new Array(16 - bytes.length).fill(0x42)]))
    const serials = [...edges, ...Array.from({ length: 50 }, () => undefined)]
    for (const [run, serial] of serials.entries()) {
      const { key, cert } = Certificate.selfSigned(Date.parse("2026-03-01T12:00:00Z"), serial)
      assert.doesNotThrow(() => createSecureContext({ key, cert }), undefined, undefined, `run ${run}`)
    }
  })

  it("a self-signed certificate for the loopback names, valid now", () => {
    const now = Date.parse("2026-03-01T12:00:00Z")
    const { cert } = Certificate.selfSigned(now)
    const parsed = new X509Certificate(cert)
    assert.isTrue(parsed.verify(parsed.publicKey))
    assert.isTrue(parsed.ca)
    assert.strictEqual(parsed.subject, "CN=karpenter-effect dev")
    assert.strictEqual(parsed.checkHost("localhost"), "localhost")
    assert.strictEqual(parsed.checkIP("127.0.0.1"), "127.0.0.1")
    assert.strictEqual(parsed.checkIP("::1"), "::1")
    assert.isUndefined(parsed.checkHost("evil.example"))
    assert.isBelow(Date.parse(parsed.validFrom), now)
    assert.isAbove(Date.parse(parsed.validTo), now + 300 * 24 * 3_600_000)
  })

  it.live("a client that trusts only this certificate completes a TLS handshake with a server using it", () =>
    Effect.gen(function* () {
      const { key, cert } = Certificate.selfSigned(yield* Clock.currentTimeMillis)
      const server = Https.createServer({ key, cert }, (_, response) => response.end("ok"))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (server.address() as AddressInfo).port
      const get = (host: string) =>
        Effect.callback<string>((resume) => {
          Https.get({ host, port, ca: cert, path: "/" }, (response) => {
            let text = ""
            response.on("data", (chunk) => {
              text += String(chunk)
            })
            response.on("end", () => resume(Effect.succeed(text)))
          }).on("error", (error) => resume(Effect.succeed(error.message)))
        })
      assert.strictEqual(yield* get("127.0.0.1"), "ok")
      assert.strictEqual(yield* get("localhost"), "ok")
    }).pipe(Effect.scoped)
  )
})
