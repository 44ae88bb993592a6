/**
 * A kubeconfig's exec credential plugin (client.authentication.k8s.io v1 and v1beta1 `ExecCredential`, client-go
 * `plugin/pkg/client/auth/exec`): the program is run without a terminal, with the kubeconfig's arguments and
 * environment plus `KUBERNETES_EXEC_INFO`, and prints an ExecCredential whose status holds a bearer token or a client
 * certificate and key. The credential is kept until its `expirationTimestamp` (forever without one), then the
 * program runs again; concurrent requests wait for one run.
 */
import * as ChildProcess from "node:child_process"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import { ConfigError, type Exec } from "./Kubeconfig.ts"

/** What a plugin returned. */
export interface Credential {
  readonly token?: string
  /** PEM client certificate and key, when the plugin authenticates with one. */
  readonly tls?: { readonly cert: string; readonly key: string }
  /** Epoch milliseconds after which the plugin must run again; undefined: never. */
  readonly expiresAt?: number
}

/** The ExecCredential versions client-go still speaks (v1alpha1 was removed in Kubernetes 1.24). */
const apiVersions = new Set(["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])

const oneLine = (text: string) => text.replace(/\s+/g, " ").trim()

/** Checks a plugin's configuration before it is ever run: a ConfigError at startup rather than at the first request. */
export const validate = (exec: Exec): Effect.Effect<void, ConfigError> => {
  if (!apiVersions.has(exec.apiVersion)) {
    return Effect.fail(
      new ConfigError({
        message: `exec plugin "${exec.command}": apiVersion "${exec.apiVersion}" is not one of ${[...apiVersions].join(", ")}`
      })
    )
  }
  // Client-go refuses to run an `Always` plugin without a terminal; a controller never has one.
  if (exec.interactiveMode === "Always") {
    return Effect.fail(
      new ConfigError({
        message: `exec plugin "${exec.command}" needs a terminal (interactiveMode: Always), which the controller does not have`
      })
    )
  }
  return Effect.void
}

/** Runs the plugin once and reads its ExecCredential. */
export const run = (exec: Exec): Effect.Effect<Credential, ConfigError> => {
  const failed = (why: string) =>
    new ConfigError({
      message: oneLine(
        `exec plugin "${exec.command}" ${why}${exec.installHint === undefined ? "" : ` (${exec.installHint})`}`
      )
    })
  return Effect.callback<string, ConfigError>((resume) => {
    const env: Record<string, string | undefined> = { ...process.env }
    for (const { name, value } of exec.env) env[name] = value
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion: exec.apiVersion,
      kind: "ExecCredential",
      spec: { interactive: false }
    })
    const child = ChildProcess.spawn(exec.command, [...exec.args], { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    let settled = false
    child.on("error", (error) => {
      if (settled) return
      settled = true
      resume(Effect.fail(failed(`cannot run: ${error.message}`)))
    })
    child.on("close", (code, signal) => {
      if (settled) return
      settled = true
      if (code === 0) resume(Effect.succeed(stdout))
      else {
        const exit = code === null ? `was killed by ${signal}` : `failed with exit code ${code}`
        resume(Effect.fail(failed(stderr.trim() === "" ? exit : `${exit}: ${stderr}`)))
      }
    })
    return Effect.sync(() => {
      if (!settled) child.kill()
    })
  }).pipe(Effect.flatMap((stdout) => decode(exec, stdout, failed)))
}

const decode = (
  exec: Exec,
  stdout: string,
  failed: (why: string) => ConfigError
): Effect.Effect<Credential, ConfigError> => {
  let answer: unknown
  try {
    answer = JSON.parse(stdout)
  } catch {
    return Effect.fail(failed("printed no ExecCredential JSON"))
  }
  const { apiVersion, kind, status } = (answer ?? {}) as {
    readonly apiVersion?: unknown
    readonly kind?: unknown
    readonly status?: {
      readonly token?: unknown
      readonly clientCertificateData?: unknown
      readonly clientKeyData?: unknown
      readonly expirationTimestamp?: unknown
    }
  }
  if (kind !== "ExecCredential") return Effect.fail(failed(`printed a ${String(kind)}, not an ExecCredential`))
  if (apiVersion !== exec.apiVersion) {
    return Effect.fail(failed(`answered apiVersion ${String(apiVersion)}, configured ${exec.apiVersion}`))
  }
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined)
  const token = text(status?.token)
  const cert = text(status?.clientCertificateData)
  const key = text(status?.clientKeyData)
  if ((cert === undefined) !== (key === undefined)) {
    return Effect.fail(failed("returned a client certificate or key without the other"))
  }
  if (token === undefined && cert === undefined)
    return Effect.fail(failed("returned neither a token nor a certificate"))
  const expiration = text(status?.expirationTimestamp)
  const expiresAt = expiration === undefined ? undefined : Date.parse(expiration)
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
    return Effect.fail(failed(`returned an invalid expirationTimestamp ${expiration}`))
  }
  return Effect.succeed({
    ...(token === undefined ? {} : { token }),
    ...(cert === undefined || key === undefined ? {} : { tls: { cert, key } }),
    ...(expiresAt === undefined ? {} : { expiresAt })
  })
}

/** The plugin's credential for each request: the last one while it has not expired, else a fresh run. */
export const cached = (exec: Exec): Effect.Effect<Effect.Effect<Credential, ConfigError>> =>
  Effect.gen(function* () {
    const oneRun = yield* Semaphore.make(1)
    let last: Credential | undefined
    const current = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (last !== undefined && (last.expiresAt === undefined || now < last.expiresAt)) return last
      last = yield* run(exec)
      return last
    })
    return oneRun.withPermits(1)(current)
  })
