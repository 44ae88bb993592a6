/**
 * What a cloud provider learns of the cluster from its API server at startup (upstream aws/karpenter-provider-aws
 * v1.4.0 `pkg/operator/operator.go` `GetCABundle` and `KubeDNSIP`, `pkg/providers/version` `getK8sVersion`): the
 * Kubernetes minor version from `/version`, the CA the connection trusts, and kube-dns's service IP.
 */
import * as Fs from "node:fs"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Config from "./Config.ts"
import * as Http from "./Http.ts"

/** The cluster's facts. */
export interface ClusterInfo {
  /** `major.minor` of the API server, e.g. `1.32`. */
  readonly kubernetesVersion: string
  /** The CA bundle (base64 PEM) of the kubeconfig's cluster; undefined when it names none (a plain-http server). */
  readonly caBundle: string | undefined
  /** kube-dns's ClusterIP; undefined when the service cannot be read (upstream tolerates that: custom DNS setups). */
  readonly kubeDnsIp: string | undefined
}

const timeout = Duration.seconds(30)

const json = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/** `major.minor` of a `/version` answer: `minor` may carry a `+` (GKE, EKS), so the digits of each field. */
export const minorVersionOf = (answer: unknown): string | undefined => {
  const { major, minor } = (answer ?? {}) as { readonly major?: unknown; readonly minor?: unknown }
  const digits = (value: unknown) => (typeof value === "string" ? /^\d+/.exec(value)?.[0] : undefined)
  const majorDigits = digits(major)
  const minorDigits = digits(minor)
  return majorDigits === undefined || minorDigits === undefined ? undefined : `${majorDigits}.${minorDigits}`
}

/** Reads the cluster's facts over the connection `source` describes; fails with a ConfigError saying what is missing. */
export const discover = Effect.fn("ClusterInfo.discover")(function* (source: Config.Source, userAgent: string) {
  const selected = yield* Config.load(source)
  const transport: Http.Transport = { connection: yield* Config.connect(selected), userAgent }
  const get = (path: string, resource: string, name: string) =>
    Http.send(transport, { resource, name }, { method: "GET", path }, timeout).pipe(
      Effect.map((response) => (response.status === 200 ? json(response.body) : undefined)),
      Effect.orElseSucceed(() => undefined)
    )

  const kubernetesVersion = minorVersionOf(yield* get("/version", "version", ""))
  if (kubernetesVersion === undefined) {
    return yield* new Config.ConfigError({
      message: "validating kubernetes version: the API server's /version did not answer a major and minor version"
    })
  }
  const service = (yield* get(
    "/api/v1/namespaces/kube-system/services/kube-dns",
    "services",
    "kube-system/kube-dns"
  )) as { readonly spec?: { readonly clusterIP?: unknown } } | undefined
  const clusterIP = service?.spec?.clusterIP
  const { certificateAuthority: caFile, certificateAuthorityData: caData } = selected.cluster
  const caBundle =
    (caData ?? "") !== ""
      ? caData
      : caFile !== undefined
        ? yield* Effect.try({
            try: () => Fs.readFileSync(caFile).toString("base64"),
            catch: () => new Config.ConfigError({ message: `discovering caBundle: cannot read ${caFile}` })
          })
        : undefined
  return {
    kubernetesVersion,
    caBundle,
    kubeDnsIp: typeof clusterIP === "string" && clusterIP !== "" && clusterIP !== "None" ? clusterIP : undefined
  } satisfies ClusterInfo
})
