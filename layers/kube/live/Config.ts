/**
 * Where the API server is and how to authenticate to it, through @kubernetes/client-node's KubeConfig: a kubeconfig
 * file (with its contexts, client certificates, tokens, exec and auth-provider plugins) or the in-cluster service
 * account. The client sends its own requests; KubeConfig supplies the TLS material and, per request, the headers, so
 * rotated service-account tokens and refreshed exec credentials apply.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Os from "node:os"
import * as Path from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Schema, type Scope } from "effect"

/** The kubeconfig is missing, unreadable or names a context or cluster it does not have. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { message: Schema.String }) {}

/** Where the configuration comes from; see {@link load} for the order of the defaults. */
export interface Source {
  /** A kubeconfig path. */
  readonly kubeconfig?: string
  readonly context?: string
  /** An API server URL used as is, without credentials (plain `http:` allowed): the embedded cluster and tests. */
  readonly server?: string
}

/** How to send one request: the server and, freshly computed, the credentials. */
export interface Connection {
  /** The API server's URL; paths are resolved against it (a path prefix in it is kept). */
  readonly server: URL
  /** Authentication and impersonation headers for the next request. */
  readonly headers: Effect.Effect<Record<string, string>, ConfigError>
  /** A keep-alive agent with the cluster's TLS settings, owned by the client (closed with its Scope). */
  readonly agent: Http.Agent
}

const describe = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim()

const fail = (message: string) => new ConfigError({ message })

const fromFile = (path: string): Effect.Effect<KubeConfig, ConfigError> =>
  Effect.try({
    try: () => {
      const config = new KubeConfig()
      config.loadFromFile(path)
      return config
    },
    catch: (error) => fail(`cannot read kubeconfig ${path}: ${describe(error)}`)
  })

/**
 * The KubeConfig of `source`: its `server`, else its `kubeconfig` path, else `$KUBECONFIG` (a path list; the files
 * are merged, the first one winning), else the in-cluster service account when `KUBERNETES_SERVICE_HOST` is set, else
 * `~/.kube/config` — controller-runtime's order.
 */
export const load = (source: Source): Effect.Effect<KubeConfig, ConfigError> =>
  Effect.gen(function* () {
    const config = yield* loadUnselected(source)
    if (source.context !== undefined) {
      if (config.getContextObject(source.context) === null) {
        return yield* fail(`context "${source.context}" not found in the kubeconfig`)
      }
      config.setCurrentContext(source.context)
    }
    const context = config.getCurrentContext()
    if (config.getContextObject(context) === null) {
      return yield* fail(
        context === undefined || context === ""
          ? "the kubeconfig has no current context"
          : `current context "${context}" not found in the kubeconfig`
      )
    }
    if (config.getCurrentCluster() === null) {
      return yield* fail(`context "${context}" names a cluster the kubeconfig does not have`)
    }
    return config
  })

const loadUnselected = (source: Source): Effect.Effect<KubeConfig, ConfigError> =>
  Effect.suspend(() => {
    if (source.server !== undefined) {
      const server = source.server
      return Effect.try({
        try: () => {
          const url = new URL(server)
          const config = new KubeConfig()
          config.loadFromOptions({
            clusters: [
              { name: "cluster", server: url.href.replace(/\/$/, ""), skipTLSVerify: url.protocol === "http:" }
            ],
            users: [{ name: "user" }],
            contexts: [{ name: "context", cluster: "cluster", user: "user" }],
            currentContext: "context"
          })
          return config
        },
        catch: () => fail(`invalid API server URL: ${server}`)
      })
    }
    if (source.kubeconfig !== undefined) return fromFile(source.kubeconfig)
    const fromEnv = (process.env.KUBECONFIG ?? "").split(Path.delimiter).filter((path) => path !== "")
    if (fromEnv.length > 0) {
      return Effect.flatMap(Effect.forEach(fromEnv, fromFile), ([first, ...rest]) =>
        Effect.try({
          try: () => {
            for (const config of rest) first!.mergeConfig(config, true)
            return first!
          },
          catch: (error) => fail(`cannot merge the files of KUBECONFIG: ${describe(error)}`)
        })
      )
    }
    if ((process.env.KUBERNETES_SERVICE_HOST ?? "") !== "") {
      return Effect.try({
        try: () => {
          const config = new KubeConfig()
          config.loadFromCluster()
          return config
        },
        catch: (error) => fail(`cannot load the in-cluster configuration: ${describe(error)}`)
      })
    }
    const home = Path.join(Os.homedir(), ".kube", "config")
    if (Fs.existsSync(home)) return fromFile(home)
    return Effect.fail(
      fail("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster (KUBERNETES_SERVICE_HOST)")
    )
  })

/** What KubeConfig puts into request options: headers, basic auth and TLS material. */
interface Applied {
  headers?: Record<string, string | number | ReadonlyArray<string>>
  auth?: string
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  rejectUnauthorized?: boolean
  servername?: string
  agent?: Http.Agent
}

const apply = (config: KubeConfig): Effect.Effect<Applied, ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const options: Applied = {}
      await config.applyToHTTPSOptions(options as Https.RequestOptions)
      return options
    },
    catch: (error) => fail(`cannot apply the kubeconfig credentials: ${describe(error)}`)
  })

const headersOf = (applied: Applied): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(applied.headers ?? {})) {
    headers[name] = Array.isArray(value) ? value.join(", ") : String(value)
  }
  if (applied.auth !== undefined) headers.Authorization = `Basic ${Buffer.from(applied.auth).toString("base64")}`
  return headers
}

/** The connection of a loaded KubeConfig; its agent lives as long as the Scope. */
export const connect = (config: KubeConfig): Effect.Effect<Connection, ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = config.getCurrentCluster()!
    const server = yield* Effect.try({
      try: () => new URL(cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`),
      catch: () => fail(`invalid server URL in the kubeconfig: ${cluster.server}`)
    })
    // Applied once up front so a broken credential or CA file is a ConfigError at startup, not a failing request.
    const applied = yield* apply(config)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // Proxies (cluster.proxyUrl) need client-node's own agent; otherwise one that keeps connections alive.
        if (cluster.proxyUrl !== undefined && applied.agent !== undefined) return applied.agent
        return server.protocol === "https:"
          ? new Https.Agent({
              keepAlive: true,
              ...(applied.ca === undefined ? {} : { ca: applied.ca }),
              ...(applied.cert === undefined ? {} : { cert: applied.cert }),
              ...(applied.key === undefined ? {} : { key: applied.key }),
              ...(applied.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: applied.rejectUnauthorized }),
              ...(applied.servername === undefined ? {} : { servername: applied.servername })
            })
          : new Http.Agent({ keepAlive: true })
      }),
      (agent) => Effect.sync(() => agent.destroy())
    )
    return {
      server,
      agent,
      headers: Effect.map(apply(config), headersOf)
    }
  })
