/**
 * A self-signed TLS certificate for `dev`'s API server, made with node:crypto alone (a P-256 key, its X.509
 * certificate encoded here in DER). kubectl sends a kubeconfig's credentials only over TLS (client-go's clientcmd
 * reads the user's token, certificates and plugins only when the server is https), so the bearer token needs it;
 * the kubeconfig then trusts exactly this certificate (`certificate-authority-data`), instead of skipping
 * verification.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto"

/** A key and its certificate, both PEM. */
export interface Certificate {
  readonly key: string
  readonly cert: string
}

// DER, as much of it as a certificate needs: tag, length, contents.
const der = (tag: number, ...contents: ReadonlyArray<Uint8Array>): Buffer => {
  const body = Buffer.concat(contents)
  const length =
    body.length < 0x80
      ? Buffer.from([body.length])
      : (() => {
          const bytes: Array<number> = []
          for (let rest = body.length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
          return Buffer.from([0x80 | bytes.length, ...bytes])
        })()
  return Buffer.concat([Buffer.from([tag]), length, body])
}

const sequence = (...items: ReadonlyArray<Uint8Array>) => der(0x30, ...items)

const set = (...items: ReadonlyArray<Uint8Array>) => der(0x31, ...items)

/**
 * A non-negative INTEGER from big-endian bytes, in DER's minimal form: redundant leading zeros dropped (OpenSSL refuses
 * them as "illegal padding"), one put back where the top bit would make it negative.
 */
const integer = (bytes: Uint8Array) => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const minimal = bytes.subarray(start)
  return der(0x02, (minimal[0] ?? 0) >= 0x80 ? Buffer.from([0]) : Buffer.alloc(0), minimal)
}

const oid = (dotted: string): Buffer => {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number)
  const bytes = [first * 40 + second]
  for (const arc of rest) {
    const base128 = [arc % 128]
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128))
      base128.unshift(0x80 | (value % 128))
    bytes.push(...base128)
  }
  return der(0x06, Buffer.from(bytes))
}

const utf8 = (text: string) => der(0x0c, Buffer.from(text, "utf8"))

/** UTCTime, YYMMDDHHMMSSZ (the certificate's years stay below 2050). */
const utcTime = (millis: number) =>
  der(0x17, Buffer.from(`${new Date(millis).toISOString().slice(2, 19).replace(/[-T:]/g, "")}Z`))

const bitString = (bytes: Uint8Array) => der(0x03, Buffer.from([0]), bytes)

const octetString = (bytes: Uint8Array) => der(0x04, bytes)

const explicit = (number: number, content: Uint8Array) => der(0xa0 | number, content)

const extension = (id: string, critical: boolean, value: Uint8Array) =>
  sequence(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), octetString(value))

const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"))

const name = sequence(set(sequence(oid("2.5.4.3"), utf8("karpenter-effect dev"))))

/**
 * A certificate for `localhost`, 127.0.0.1 and ::1, valid from an hour before `now` for a year; it is its own
 * authority (basic constraints CA), so a kubeconfig can name it as the one to trust. The serial is random unless
 * given.
 */
export const selfSigned = (now: number, serial: Uint8Array = randomBytes(16)): Certificate => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" })
  const hour = 3_600_000
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaWithSha256,
    name,
    sequence(utcTime(now - hour), utcTime(now + 365 * 24 * hour)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(
      3,
      sequence(
        // Basic constraints: a CA.
        extension("2.5.29.19", true, sequence(der(0x01, Buffer.from([0xff])))),
        // Key usage: digitalSignature and keyCertSign.
        extension("2.5.29.15", true, der(0x03, Buffer.from([0x02, 0x84]))),
        // Extended key usage: serverAuth.
        extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))),
        // Subject alternative names: localhost, 127.0.0.1, ::1.
        extension(
          "2.5.29.17",
          false,
          sequence(
            der(0x82, Buffer.from("localhost")),
            der(0x87, Buffer.from([127, 0, 0, 1])),
            der(0x87, Buffer.from([...Array<number>(15).fill(0), 1]))
          )
        )
      )
    )
  )
  const signature = sign("sha256", tbs, { key: privateKey, dsaEncoding: "der" })
  const certificate = sequence(tbs, ecdsaWithSha256, bitString(signature))
  const pem = (label: string, bytes: Buffer) =>
    `-----BEGIN ${label}-----\n${bytes
      .toString("base64")
      .match(/.{1,64}/g)!
      .join("\n")}\n-----END ${label}-----\n`
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert: pem("CERTIFICATE", certificate) }
}
