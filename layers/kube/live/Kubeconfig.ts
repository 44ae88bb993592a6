/**
 * kubeconfig files, read the way kubectl reads them (client-go `tools/clientcmd`): the YAML's clusters, users and
 * contexts by name, relative file paths resolved against the directory of the file that names them, a `KUBECONFIG`
 * path list merged with the first file winning per name and for `current-context`, and the in-cluster service
 * account as a configuration of its own (client-go `rest.InClusterConfig`). Only the data: Config.ts turns a selected
 * context into a connection.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { parse as parseYaml } from "yaml"

/** The kubeconfig is missing, unreadable or names a context or cluster it does not have. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { message: Schema.String }) {}

/** A cluster entry; file paths absolute. */
export interface Cluster {
  readonly server: string
  /** A PEM file of the authorities to trust. */
  readonly certificateAuthority?: string
  /** The same, base64 PEM. */
  readonly certificateAuthorityData?: string
  readonly insecureSkipTlsVerify: boolean
  /** The name to verify the server's certificate against (and send as SNI). */
  readonly tlsServerName?: string
  readonly proxyUrl?: string
}

/** An exec credential plugin (client.authentication.k8s.io ExecConfig). */
export interface Exec {
  readonly apiVersion: string
  /** The program; absolute when the kubeconfig gave a relative path with a directory in it. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>
  readonly installHint?: string
  readonly interactiveMode?: string
}

/** A user entry (kubeconfig `AuthInfo`); file paths absolute. */
export interface User {
  readonly clientCertificate?: string
  readonly clientCertificateData?: string
  readonly clientKey?: string
  readonly clientKeyData?: string
  readonly token?: string
  /** A file holding the bearer token, re-read so a rotated token applies. */
  readonly tokenFile?: string
  readonly username?: string
  readonly password?: string
  /** Impersonation: `as`, `as-uid`, `as-groups`. */
  readonly impersonate?: string
  readonly impersonateUid?: string
  readonly impersonateGroups: ReadonlyArray<string>
  readonly exec?: Exec
  /** The deprecated `auth-provider` (oidc, gcp, azure): its name and configuration, as written. */
  readonly authProvider?: { readonly name: string; readonly config: Readonly<Record<string, string>> }
}

/** A context entry. */
export interface Context {
  readonly cluster: string
  readonly user: string
  readonly namespace?: string
}

/** A kubeconfig, or several merged. */
export interface Kubeconfig {
  readonly clusters: ReadonlyMap<string, Cluster>
  readonly users: ReadonlyMap<string, User>
  readonly contexts: ReadonlyMap<string, Context>
  readonly currentContext: string
}

const fail = (message: string) => new ConfigError({ message })

const oneLine = (text: string) => text.replace(/\s+/g, " ").trim()

/** Parses one kubeconfig file's text; `file` anchors its relative paths. Throws an Error saying what is wrong. */
const parseText = (text: string, file: string): Kubeconfig => {
  const directory = Path.dirname(Path.resolve(file))
  const absolute = (path: string | undefined) =>
    path === undefined || path === "" ? undefined : Path.resolve(directory, path)
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (error) {
    throw new Error(`not valid YAML: ${oneLine(String((error as Error).message).split("\n")[0] ?? "")}`)
  }
  if (document === null || document === undefined) {
    return { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: "" }
  }
  if (!isRecord(document)) throw new Error("not a kubeconfig (a YAML mapping)")

  const entries = (key: string, inner: string) => {
    const list = document[key] ?? []
    if (!Array.isArray(list)) throw new Error(`${key} is not a list`)
    return list.map((entry: unknown, index) => {
      const at = `${key}[${index}]`
      if (!isRecord(entry)) throw new Error(`${at} is not a mapping`)
      const name = scalar(entry.name, `${at}.name`)
      if (name === undefined || name === "") throw new Error(`${at} has no name`)
      const body = entry[inner] ?? {}
      if (!isRecord(body)) throw new Error(`${at}.${inner} is not a mapping`)
      return { name, body, at: `${at}.${inner}` }
    })
  }

  const clusters = new Map<string, Cluster>()
  for (const { name, body, at } of entries("clusters", "cluster")) {
    const server = scalar(body.server, `${at}.server`)
    if (server === undefined || server === "") throw new Error(`cluster "${name}" has no server`)
    clusters.set(name, {
      server,
      ...defined("certificateAuthority", absolute(scalar(body["certificate-authority"], at))),
      ...defined("certificateAuthorityData", scalar(body["certificate-authority-data"], at)),
      insecureSkipTlsVerify: body["insecure-skip-tls-verify"] === true,
      ...defined("tlsServerName", scalar(body["tls-server-name"], at)),
      ...defined("proxyUrl", scalar(body["proxy-url"], at))
    })
  }

  const users = new Map<string, User>()
  for (const { name, body, at } of entries("users", "user")) {
    users.set(name, {
      ...defined("clientCertificate", absolute(scalar(body["client-certificate"], at))),
      ...defined("clientCertificateData", scalar(body["client-certificate-data"], at)),
      ...defined("clientKey", absolute(scalar(body["client-key"], at))),
      ...defined("clientKeyData", scalar(body["client-key-data"], at)),
      ...defined("token", scalar(body.token, at)),
      // client-go's key is `tokenFile`; `token-file` is what @kubernetes/client-node read, kept for its users.
      ...defined("tokenFile", absolute(scalar(body.tokenFile ?? body["token-file"], at))),
      ...defined("username", scalar(body.username, at)),
      ...defined("password", scalar(body.password, at)),
      ...defined("impersonate", scalar(body.as, at)),
      ...defined("impersonateUid", scalar(body["as-uid"], at)),
      impersonateGroups: strings(body["as-groups"], `${at}.as-groups`),
      ...defined("exec", body.exec === undefined || body.exec === null ? undefined : exec(body.exec, at, absolute)),
      ...defined(
        "authProvider",
        body["auth-provider"] === undefined || body["auth-provider"] === null
          ? undefined
          : authProvider(body["auth-provider"], at)
      )
    })
  }

  const contexts = new Map<string, Context>()
  for (const { name, body, at } of entries("contexts", "context")) {
    contexts.set(name, {
      cluster: scalar(body.cluster, at) ?? "",
      user: scalar(body.user, at) ?? "",
      ...defined("namespace", scalar(body.namespace, at))
    })
  }

  return { clusters, users, contexts, currentContext: scalar(document["current-context"], "current-context") ?? "" }
}

const exec = (value: unknown, at: string, absolute: (path: string) => string | undefined): Exec => {
  if (!isRecord(value)) throw new Error(`${at}.exec is not a mapping`)
  const command = scalar(value.command, `${at}.exec.command`) ?? ""
  if (command === "") throw new Error(`${at}.exec has no command`)
  const env = value.env ?? []
  if (!Array.isArray(env)) throw new Error(`${at}.exec.env is not a list`)
  return {
    apiVersion: scalar(value.apiVersion, `${at}.exec.apiVersion`) ?? "",
    // client-go resolves the command against the kubeconfig's directory only when it names a path, not a program
    // looked up in PATH (clientcmd GetAuthInfoFileReferences).
    command: command.includes("/") ? (absolute(command) ?? command) : command,
    args: strings(value.args, `${at}.exec.args`),
    env: env.map((entry: unknown, index) => {
      if (!isRecord(entry)) throw new Error(`${at}.exec.env[${index}] is not a mapping`)
      return {
        name: scalar(entry.name, `${at}.exec.env[${index}].name`) ?? "",
        value: scalar(entry.value, `${at}.exec.env[${index}].value`) ?? ""
      }
    }),
    ...defined("installHint", scalar(value.installHint, at)),
    ...defined("interactiveMode", scalar(value.interactiveMode, at))
  }
}

const authProvider = (value: unknown, at: string): NonNullable<User["authProvider"]> => {
  if (!isRecord(value)) throw new Error(`${at}.auth-provider is not a mapping`)
  const config: Record<string, string> = {}
  if (isRecord(value.config)) {
    for (const [key, entry] of Object.entries(value.config)) {
      const text = scalar(entry, `${at}.auth-provider.config.${key}`)
      if (text !== undefined) config[key] = text
    }
  }
  return { name: scalar(value.name, `${at}.auth-provider.name`) ?? "", config }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A YAML scalar as text (YAML reads `token: 1234` as a number); absent or null is undefined. */
const scalar = (value: unknown, at: string): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  throw new Error(`${at} is not a string`)
}

const strings = (value: unknown, at: string): ReadonlyArray<string> => {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new Error(`${at} is not a list`)
  return value.map((entry, index) => scalar(entry, `${at}[${index}]`) ?? "")
}

/** `{ [key]: value }` when the value is there, else nothing (the entries are exactOptionalPropertyTypes-clean). */
const defined = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }

/** Reads and parses one kubeconfig file. */
export const read = (file: string): Effect.Effect<Kubeconfig, ConfigError> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = Fs.readFileSync(file, "utf8")
    } catch (error) {
      return Effect.fail(fail(`cannot read kubeconfig ${file}: ${oneLine((error as Error).message)}`))
    }
    try {
      return Effect.succeed(parseText(text, file))
    } catch (error) {
      return Effect.fail(fail(`kubeconfig ${file}: ${(error as Error).message}`))
    }
  })

/**
 * Several kubeconfigs as one, kubectl's way (clientcmd's loading rules): a cluster, user or context comes from the
 * first file that defines its name, `current-context` from the first file that sets one.
 */
export const merge = (configs: ReadonlyArray<Kubeconfig>): Kubeconfig => {
  const firstWins = <V>(pick: (config: Kubeconfig) => ReadonlyMap<string, V>) => {
    const merged = new Map<string, V>()
    for (const config of configs) {
      for (const [name, value] of pick(config)) if (!merged.has(name)) merged.set(name, value)
    }
    return merged
  }
  return {
    clusters: firstWins((config) => config.clusters),
    users: firstWins((config) => config.users),
    contexts: firstWins((config) => config.contexts),
    currentContext: configs.find((config) => config.currentContext !== "")?.currentContext ?? ""
  }
}

/** Where a pod's service account credentials are mounted. */
export const serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

/**
 * The in-cluster configuration (client-go `rest.InClusterConfig`): the API server at
 * `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, trusting the mounted `ca.crt`, authenticating with the
 * mounted token (re-read, as the kubelet rotates it), in the mounted namespace. Fails when the token is not there.
 */
export const inCluster = (
  host: string,
  port: string,
  directory: string = serviceAccountDirectory
): Effect.Effect<Kubeconfig, ConfigError> =>
  Effect.suspend(() => {
    const tokenFile = Path.join(directory, "token")
    try {
      Fs.accessSync(tokenFile, Fs.constants.R_OK)
    } catch (error) {
      return Effect.fail(
        fail(`cannot load the in-cluster configuration: ${oneLine((error as Error).message)} (${tokenFile})`)
      )
    }
    let namespace: string | undefined
    try {
      namespace = Fs.readFileSync(Path.join(directory, "namespace"), "utf8").trim()
    } catch {
      namespace = undefined
    }
    const name = "in-cluster"
    return Effect.succeed({
      clusters: new Map([
        [
          name,
          {
            server: `https://${Net.isIPv6(host) ? `[${host}]` : host}:${port}`,
            certificateAuthority: Path.join(directory, "ca.crt"),
            insecureSkipTlsVerify: false
          }
        ]
      ]),
      users: new Map([[name, { tokenFile, impersonateGroups: [] }]]),
      contexts: new Map([[name, { cluster: name, user: name, ...defined("namespace", namespace) }]]),
      currentContext: name
    })
  })

/** A configuration of one server URL used as is, without credentials (the embedded cluster, tests). */
export const ofServer = (server: string): Kubeconfig => {
  const name = "server"
  return {
    clusters: new Map([[name, { server, insecureSkipTlsVerify: false }]]),
    users: new Map([[name, { impersonateGroups: [] }]]),
    contexts: new Map([[name, { cluster: name, user: name }]]),
    currentContext: name
  }
}

/** The context a connection uses: its name, cluster and user. */
export interface Selected {
  readonly context: string
  readonly namespace?: string
  readonly cluster: Cluster
  readonly user: User
}

/** The given context, else the current one, with its cluster and user; a ConfigError names what is missing. */
export const select = (config: Kubeconfig, context?: string): Effect.Effect<Selected, ConfigError> =>
  Effect.suspend(() => {
    if (context !== undefined && !config.contexts.has(context)) {
      return Effect.fail(fail(`context "${context}" not found in the kubeconfig`))
    }
    const name = context ?? config.currentContext
    const chosen = config.contexts.get(name)
    if (chosen === undefined) {
      return Effect.fail(
        fail(
          name === ""
            ? "the kubeconfig has no current context"
            : `current context "${name}" not found in the kubeconfig`
        )
      )
    }
    const cluster = config.clusters.get(chosen.cluster)
    if (cluster === undefined) {
      return Effect.fail(fail(`context "${name}" names a cluster the kubeconfig does not have`))
    }
    // A context without a user, or naming one the file lacks, is anonymous: kubectl's behaviour.
    const user = config.users.get(chosen.user) ?? { impersonateGroups: [] }
    return Effect.succeed({
      context: name,
      ...defined("namespace", chosen.namespace),
      cluster,
      user
    })
  })
