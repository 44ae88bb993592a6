/**
 * Where the API server is and how to authenticate to it: a kubeconfig (Kubeconfig.ts) or the in-cluster service
 * account, turned into a keep-alive agent with the cluster's TLS settings and, per request, the credentials — so a
 * rotated token file or an expired exec credential applies to the next request. Client certificates, bearer tokens
 * and token files, basic auth, impersonation and exec plugins are handled here; only the deprecated `auth-provider`
 * plugins (oidc, gcp, azure) and `proxy-url` load @kubernetes/client-node, lazily: that package's KubeConfig pulls in
 * its whole generated API (~33 MB of heap), which no other configuration should pay for.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as ClientNode from "@kubernetes/client-node"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ExecCredential from "./ExecCredential.ts"
import * as Kubeconfig from "./Kubeconfig.ts"

/** The kubeconfig is missing, unreadable or names a context or cluster it does not have. */
export { ConfigError } from "./Kubeconfig.ts"

const ConfigError = Kubeconfig.ConfigError

/** Where the configuration comes from; see {@link load} for the order of the defaults. */
export interface Source {
  /** A kubeconfig path. */
  readonly kubeconfig?: string
  readonly context?: string
  /** An API server URL used as is, without credentials (plain `http:` allowed): the embedded cluster and tests. */
  readonly server?: string
}

/** What one request carries to authenticate. */
export interface Credentials {
  /** Authentication and impersonation headers (a list: the header repeated, as for `Impersonate-Group`). */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string>>>
  /** A client certificate and key (PEM) an exec plugin returned, sent with the request's TLS options. */
  readonly tls?: { readonly cert: string; readonly key: string }
}

/** How to send one request: the server and, freshly computed, the credentials. */
export interface Connection {
  /** The API server's URL; paths are resolved against it (a path prefix in it is kept). */
  readonly server: URL
  /** The credentials for the next request. */
  readonly credentials: Effect.Effect<Credentials, Kubeconfig.ConfigError>
  /** A keep-alive agent with the cluster's TLS settings, owned by the client (closed with its Scope). */
  readonly agent: Http.Agent
}

const describe = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim()

const fail = (message: string) => new ConfigError({ message })

/**
 * The context `source` selects: its `server`, else its `kubeconfig` path, else `$KUBECONFIG` (a path list; the files
 * are merged, the first one winning, and missing ones skipped as kubectl does), else the in-cluster service account
 * when `KUBERNETES_SERVICE_HOST` is set, else `~/.kube/config` — controller-runtime's order.
 */
export const load = (source: Source): Effect.Effect<Kubeconfig.Selected, Kubeconfig.ConfigError> =>
  Effect.flatMap(loadUnselected(source), (config) => Kubeconfig.select(config, source.context))

const loadUnselected = (source: Source): Effect.Effect<Kubeconfig.Kubeconfig, Kubeconfig.ConfigError> =>
  Effect.suspend(() => {
    if (source.server !== undefined) {
      return URL.canParse(source.server)
        ? Effect.succeed(Kubeconfig.ofServer(source.server))
        : Effect.fail(fail(`invalid API server URL: ${source.server}`))
    }
    if (source.kubeconfig !== undefined) return Kubeconfig.read(source.kubeconfig)
    const fromEnv = (process.env.KUBECONFIG ?? "").split(Path.delimiter).filter((path) => path !== "")
    if (fromEnv.length > 0) {
      const present = fromEnv.filter((path) => Fs.existsSync(path))
      if (present.length === 0) return Effect.fail(fail(`none of the KUBECONFIG files exists: ${fromEnv.join(", ")}`))
      return Effect.map(Effect.forEach(present, Kubeconfig.read), Kubeconfig.merge)
    }
    const host = process.env.KUBERNETES_SERVICE_HOST ?? ""
    if (host !== "") return Kubeconfig.inCluster(host, process.env.KUBERNETES_SERVICE_PORT ?? "443")
    const home = Path.join(Os.homedir(), ".kube", "config")
    if (Fs.existsSync(home)) return Kubeconfig.read(home)
    return Effect.fail(
      fail("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster (KUBERNETES_SERVICE_HOST)")
    )
  })

/** A file's bytes, or a ConfigError saying which file of the kubeconfig could not be read. */
const readFile = (path: string, what: string): Effect.Effect<Buffer, Kubeconfig.ConfigError> =>
  Effect.try({
    try: () => Fs.readFileSync(path),
    catch: (error) => fail(`cannot read the ${what} ${path}: ${describe(error)}`)
  })

/** Inline data (base64), else the file named; undefined when neither is set. Data wins, as in client-go. */
const dataOrFile = (data: string | undefined, file: string | undefined, what: string) =>
  data !== undefined && data !== ""
    ? Effect.succeed(Buffer.from(data, "base64"))
    : file === undefined
      ? Effect.succeed(undefined)
      : readFile(file, what)

/** How often a token file is read again (client-go's cachingTokenSource period). */
const tokenFilePeriod = Duration.minutes(1)

/**
 * The bearer token in `file`, read now and again when a request comes a minute or more after the last read; a
 * failed re-read keeps the last token (client-go does the same), the first read failing is a ConfigError.
 */
const tokenFromFile = (file: string): Effect.Effect<Effect.Effect<string>, Kubeconfig.ConfigError> =>
  Effect.gen(function* () {
    const read = Effect.map(readFile(file, "token file"), (bytes) => bytes.toString("utf8").trim())
    let token = yield* read
    let readAt = yield* Clock.currentTimeMillis
    return Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (now - readAt < Duration.toMillis(tokenFilePeriod)) return token
      readAt = now
      token = yield* Effect.orElseSucceed(read, () => token)
      return token
    })
  })

/** @kubernetes/client-node's KubeConfig for the selected context, imported only when a configuration needs it. */
const clientNode = (selected: Kubeconfig.Selected): Effect.Effect<ClientNode.KubeConfig, Kubeconfig.ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const { KubeConfig } = await import("@kubernetes/client-node")
      const config = new KubeConfig()
      const { cluster, user } = selected
      config.loadFromOptions({
        clusters: [
          {
            name: "cluster",
            server: cluster.server,
            // client-node refuses a plain-http server unless verification (meaningless there) is skipped.
            skipTLSVerify: cluster.insecureSkipTlsVerify || cluster.server.startsWith("http:"),
            ...(cluster.certificateAuthority === undefined ? {} : { caFile: cluster.certificateAuthority }),
            ...(cluster.certificateAuthorityData === undefined ? {} : { caData: cluster.certificateAuthorityData }),
            ...(cluster.tlsServerName === undefined ? {} : { tlsServerName: cluster.tlsServerName }),
            ...(cluster.proxyUrl === undefined ? {} : { proxyUrl: cluster.proxyUrl })
          }
        ],
        users: [
          {
            name: "user",
            // A copy: client-node writes into it (refreshed OIDC tokens).
            ...(user.authProvider === undefined
              ? {}
              : { authProvider: { name: user.authProvider.name, config: { ...user.authProvider.config } } }),
            ...(user.clientCertificate === undefined ? {} : { certFile: user.clientCertificate }),
            ...(user.clientCertificateData === undefined ? {} : { certData: user.clientCertificateData }),
            ...(user.clientKey === undefined ? {} : { keyFile: user.clientKey }),
            ...(user.clientKeyData === undefined ? {} : { keyData: user.clientKeyData })
          }
        ],
        contexts: [{ name: "context", cluster: "cluster", user: "user" }],
        currentContext: "context"
      })
      return config
    },
    catch: (error) => fail(`cannot load @kubernetes/client-node for the kubeconfig: ${describe(error)}`)
  })

/** What client-node's KubeConfig puts into request options: its auth-provider's headers, or its proxy agent. */
const clientNodeOptions = (config: ClientNode.KubeConfig) =>
  Effect.tryPromise({
    try: async () => {
      const options: Https.RequestOptions = {}
      await config.applyToHTTPSOptions(options)
      return options
    },
    catch: (error) => fail(`cannot apply the kubeconfig's auth-provider: ${describe(error)}`)
  })

/** The Authorization header, per request, of the user's bearer token, token file, exec plugin or auth-provider. */
const authorization = (
  selected: Kubeconfig.Selected
): Effect.Effect<Effect.Effect<Credentials, Kubeconfig.ConfigError> | undefined, Kubeconfig.ConfigError> =>
  Effect.gen(function* () {
    const { user } = selected
    const bearer = (token: string): Credentials => ({ headers: { Authorization: `Bearer ${token}` } })
    if (user.token !== undefined && user.token !== "") return Effect.succeed(bearer(user.token))
    if (user.tokenFile !== undefined) return Effect.map(yield* tokenFromFile(user.tokenFile), bearer)
    if (user.exec !== undefined) {
      yield* ExecCredential.validate(user.exec)
      return Effect.map(
        yield* ExecCredential.cached(user.exec),
        (credential): Credentials => ({
          headers: credential.token === undefined ? {} : { Authorization: `Bearer ${credential.token}` },
          ...(credential.tls === undefined ? {} : { tls: credential.tls })
        })
      )
    }
    if (user.authProvider !== undefined) {
      const config = yield* clientNode(selected)
      return Effect.map(clientNodeOptions(config), (options): Credentials => {
        const header = (options.headers as Record<string, unknown> | undefined)?.Authorization
        return { headers: typeof header === "string" ? { Authorization: header } : {} }
      })
    }
    if (user.username !== undefined) {
      const basic = Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")
      return Effect.succeed<Credentials>({ headers: { Authorization: `Basic ${basic}` } })
    }
    return undefined
  })

/** The impersonation headers of the user's `as`, `as-uid` and `as-groups`. */
const impersonation = (user: Kubeconfig.User): Record<string, string | ReadonlyArray<string>> => ({
  ...(user.impersonate === undefined ? {} : { "Impersonate-User": user.impersonate }),
  ...(user.impersonateUid === undefined ? {} : { "Impersonate-Uid": user.impersonateUid }),
  ...(user.impersonateGroups.length === 0 ? {} : { "Impersonate-Group": user.impersonateGroups })
})

/** The connection of a selected context; its agent lives as long as the Scope. */
export const connect = (
  selected: Kubeconfig.Selected
): Effect.Effect<Connection, Kubeconfig.ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const { cluster, user } = selected
    const server = yield* Effect.try({
      try: () => new URL(cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`),
      catch: () => fail(`invalid server URL in the kubeconfig: ${cluster.server}`)
    })
    // Files are read up front so a missing CA, certificate or token is a ConfigError at startup, not a failing request.
    const ca = yield* dataOrFile(
      cluster.certificateAuthorityData,
      cluster.certificateAuthority,
      "certificate authority"
    )
    const cert = yield* dataOrFile(user.clientCertificateData, user.clientCertificate, "client certificate")
    const key = yield* dataOrFile(user.clientKeyData, user.clientKey, "client key")
    if ((cert === undefined) !== (key === undefined)) {
      return yield* fail(`user of context "${selected.context}" has a client certificate or key without the other`)
    }
    const authorize = yield* authorization(selected)
    const impersonating = impersonation(user)
    const credentials: Effect.Effect<Credentials, Kubeconfig.ConfigError> =
      authorize === undefined
        ? Effect.succeed({ headers: impersonating })
        : Effect.map(authorize, (authorized) => ({
            ...authorized,
            headers: { ...impersonating, ...authorized.headers }
          }))
    // A broken exec plugin or auth-provider is a ConfigError at startup too.
    yield* credentials
    const proxied =
      cluster.proxyUrl === undefined ? undefined : (yield* clientNodeOptions(yield* clientNode(selected))).agent
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // A proxy (`proxy-url`: HTTP CONNECT or SOCKS) takes client-node's agent for it; else one that keeps connections alive.
        if (proxied instanceof Http.Agent) return proxied
        return server.protocol === "https:"
          ? new Https.Agent({
              keepAlive: true,
              ...(ca === undefined ? {} : { ca }),
              ...(cert === undefined ? {} : { cert }),
              ...(key === undefined ? {} : { key }),
              ...(cluster.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
              ...(cluster.tlsServerName === undefined ? {} : { servername: cluster.tlsServerName })
            })
          : new Http.Agent({ keepAlive: true })
      }),
      (agent) => Effect.sync(() => agent.destroy())
    )
    return { server, agent, credentials }
  })
