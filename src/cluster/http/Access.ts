/**
 * Who may use the façade. Serving on loopback keeps other machines out, not other users of this one, nor the web pages
 * its browser opens: a page can send "simple" cross-origin requests (a `text/plain` POST creates a pod) and, by DNS
 * rebinding a name of its own to 127.0.0.1, read the answers too. So the façade answers only requests
 *
 * - addressed to a loopback name (`localhost`, 127.0.0.0/8, `[::1]`, any port): a rebound name keeps its own `Host`;
 * - not made by a browser: browsers send `Origin` (or `Sec-Fetch-Site`) with such requests, kubectl and API clients
 *   never do;
 * - carrying the server's bearer token, when it has one: `Authorization: Bearer <token>` as kubectl sends a
 *   kubeconfig's `users[].user.token`. As on kube-apiserver, a request without a bearer token is anonymous and may
 *   read only what the system:public-info-viewer role grants (/healthz, /livez, /readyz, /version); a wrong token is
 *   refused everywhere.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import * as Status from "./Status.ts"

/** Decides whether a request may be served: the failure to answer it with, or undefined. */
export type Check = (path: string, headers: IncomingHttpHeaders) => Status.Failure | undefined

// kube-apiserver's bootstrap policy: system:public-info-viewer, bound to system:unauthenticated.
const publicPaths = new Set(["/healthz", "/livez", "/readyz", "/version", "/version/"])

// A bracketed IPv6 literal or a name, then an optional port.
const hostHeader = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/

const isLoopbackIpv4 = (name: string) => {
  const octets = name.split(".")
  return (
    octets.length === 4 &&
    octets[0] === "127" &&
    octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255)
  )
}

/** Whether a `Host` header names the loopback interface: `localhost`, 127.0.0.0/8 or `[::1]`, with any port. */
export const isLoopbackHost = (host: string | undefined): boolean => {
  const name = hostHeader.exec(host ?? "")?.[1]?.toLowerCase()
  return name !== undefined && (name === "localhost" || name === "[::1]" || isLoopbackIpv4(name))
}

/** The token of an `Authorization: Bearer <token>` header (the scheme in any case, as kube-apiserver reads it). */
const bearerToken = (authorization: string | undefined): string | undefined => {
  const [scheme, token] = (authorization ?? "").trim().split(" ")
  return scheme?.toLowerCase() === "bearer" && token !== undefined && token !== "" ? token : undefined
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** kube-apiserver's answer to a request whose credentials are missing or wrong. */
const unauthorized = Status.failure(401, "Unauthorized")

/** The access rules; with a `token`, every request but the public ones must carry it. */
export const make = (options: { readonly token?: string | undefined }): Check => {
  // Digests have one length whatever was sent, so the comparison takes the same time for every wrong token.
  const expected = options.token === undefined ? undefined : digest(options.token)
  return (path, headers) => {
    if (!isLoopbackHost(headers.host)) {
      return Status.failure(
        403,
        `forbidden: this API server answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1]), not to ${JSON.stringify(headers.host ?? "")}`
      )
    }
    const site = headers["sec-fetch-site"]
    if (headers.origin !== undefined || (site !== undefined && site !== "none")) {
      return Status.failure(
        403,
        `forbidden: requests made by a web browser (${headers.origin === undefined ? `Sec-Fetch-Site: ${site}` : `Origin: ${headers.origin}`}) are refused; use kubectl or an API client`
      )
    }
    if (expected === undefined) return undefined
    const presented = bearerToken(headers.authorization)
    if (presented === undefined) return publicPaths.has(path) ? undefined : unauthorized
    return timingSafeEqual(digest(presented), expected) ? undefined : unauthorized
  }
}
