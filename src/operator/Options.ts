/**
 * The operator's options (upstream `pkg/operator/options/options.go`, v1.4.0, plus the KWOK provider's
 * `--instance-types-file-path` and controller-runtime's `--kubeconfig`): each has a flag and an environment variable
 * with upstream's names; the environment gives defaults and flags override them. Parsing is pure, so the CLI turns an
 * unknown flag or a bad value into one line on stderr and exit code 2.
 */
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as KarpenterDuration from "../api/Duration.ts"
import type * as CapacityBufferController from "../controllers/capacitybuffer/CapacityBufferController.ts"
import type * as Disruption from "../controllers/disruption/Disruption.ts"
import type * as Health from "../controllers/node/health/Health.ts"
import type * as NodeOverlayController from "../controllers/nodeoverlay/NodeOverlayController.ts"
import type * as Provisioner from "../controllers/provisioning/Provisioner.ts"
import type * as Scheduler from "../controllers/provisioning/scheduling/Scheduler.ts"
import type * as StaticCapacity from "../controllers/static/StaticCapacity.ts"

/** The values of `--min-values-policy` (upstream v1.6). */
export const minValuesPolicies: ReadonlyArray<Scheduler.MinValuesPolicy> = ["Strict", "BestEffort"]

/** How strictly NodeClaims keep their requirements' minValues. */
export type MinValuesPolicy = Scheduler.MinValuesPolicy

/** Upstream's log levels. */
export type LogLevel = "debug" | "info" | "error"

/** The feature gates of v1.4.0. */
export interface FeatureGates {
  /** Accepted for compatibility; node repair is not implemented. */
  readonly NodeRepair: boolean
  /** Reserved capacity: reserved offerings are offered, and launches prefer them (alpha in v1.4.0, off by default). */
  readonly ReservedCapacity: boolean
  readonly SpotToSpotConsolidation: boolean
  /** NodePool `spec.replicas` (upstream v1.8, alpha): static NodePools keep their node count. */
  readonly StaticCapacity: boolean
  /** NodeOverlay (upstream v1.7+, alpha): price and capacity overrides from `karpenter.sh/v1alpha1` NodeOverlays. */
  readonly NodeOverlay: boolean
  /** CapacityBuffer (upstream v1.14, alpha): `autoscaling.x-k8s.io` CapacityBuffers keep headroom launched. */
  readonly CapacityBuffer: boolean
}

/** The cloud providers `controller` can run with. */
export type CloudProviderName = "kwok" | "aws"

/** Every option, resolved. */
export interface Options {
  readonly karpenterService: string
  readonly metricsPort: number
  readonly healthProbePort: number
  readonly kubeClientQPS: number
  readonly kubeClientBurst: number
  /** Accepted for compatibility; there are no pprof handlers. */
  readonly enableProfiling: boolean
  readonly disableLeaderElection: boolean
  readonly leaderElectionName: string
  /** Empty: the pod's own namespace (in-cluster), else `kube-system`. The KWOK instance records live there too. */
  readonly leaderElectionNamespace: string
  /** Accepted for compatibility (a Go soft memory limit); Node's heap is sized with --max-old-space-size. */
  readonly memoryLimit: number
  readonly logLevel: LogLevel
  /** Accepted for compatibility; logs go to stdout (and errors too, one JSON object per line). */
  readonly logOutputPaths: string
  readonly logErrorOutputPaths: string
  readonly batchMaxDuration: Duration.Duration
  readonly batchIdleDuration: Duration.Duration
  readonly preferencePolicy: "Respect" | "Ignore"
  /** MIN_VALUES_POLICY (upstream v1.6): `BestEffort` relaxes a new NodeClaim's unmet minValues. */
  readonly minValuesPolicy: MinValuesPolicy
  readonly featureGates: FeatureGates
  /** The KWOK provider's instance-type catalogue; unset: the built-in one. */
  readonly instanceTypesFilePath: string | undefined
  /** Unset: `KUBECONFIG`, then the in-cluster service account, then `~/.kube/config`. */
  readonly kubeconfig: string | undefined
  /** Which provider makes the nodes: KWOK's fake Nodes (the default) or EC2 instances. */
  readonly cloudProvider: CloudProviderName
  /** The AWS provider's settings (upstream `pkg/operator/options`), read but unused under KWOK. */
  readonly aws: AwsOptions
}

/**
 * The AWS provider's settings as given (upstream aws/karpenter-provider-aws v1.4.0 `pkg/operator/options/options.go`,
 * plus `--cluster-cidr` and `--aws-region`); the provider validates them as upstream's `Options.Validate` does.
 */
export interface AwsOptions {
  readonly clusterName: string
  readonly clusterEndpoint: string
  readonly clusterCABundle: string
  /** The cluster's service CIDR; upstream reads it from EKS DescribeCluster, which this build does not call. */
  readonly clusterCIDR: string
  readonly isolatedVPC: boolean
  readonly vmMemoryOverheadPercent: number
  readonly interruptionQueue: string
  readonly reservedENIs: number
  /** Empty: the AWS SDK's default chain (AWS_REGION, AWS_DEFAULT_REGION, the shared config's profile). */
  readonly region: string
}

/** What a command line asks for: run with these options, or print the usage. */
export type Parsed = { readonly _tag: "Run"; readonly options: Options } | { readonly _tag: "Help" }

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** One option: its flag and variable, its default as written on the command line, and how its value is read. */
interface Definition {
  readonly flag: string
  readonly env: string
  readonly defaultText: string
  readonly description: string
  /** Boolean flags may stand alone (`--disable-leader-election`), as Go's flag package allows. */
  readonly boolean?: boolean
  readonly apply: (text: string, into: Mutable<Options>) => Result.Result<void, string>
}

const ok = Result.succeed(undefined)

/** Go's `strconv.ParseBool`. */
export const parseBool = (text: string): Result.Result<boolean, string> => {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return Result.succeed(true)
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return Result.succeed(false)
  return Result.fail("expected a boolean")
}

/** A Go integer (`strconv.Atoi`), within bounds. */
export const parseInteger = (text: string, minimum = Number.MIN_SAFE_INTEGER): Result.Result<number, string> =>
  /^[+-]?\d+$/.test(text) && Number.isSafeInteger(Number(text)) && Number(text) >= minimum
    ? Result.succeed(Number(text))
    : Result.fail(minimum === Number.MIN_SAFE_INTEGER ? "expected an integer" : `expected an integer >= ${minimum}`)

/** A Go float (`strconv.ParseFloat`), for QPS. */
export const parseNumber = (text: string): Result.Result<number, string> =>
  /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Result.succeed(Number(text)) : Result.fail("expected a number")

/** A Go duration (`time.ParseDuration`: "10s", "1m30s", "500ms"), strictly positive. */
export const parseDuration = (text: string): Result.Result<Duration.Duration, string> => {
  const millis = text === "Never" ? null : KarpenterDuration.toMillis(text)
  if (millis === null || millis === undefined) return Result.fail("expected a duration such as 10s, 500ms or 1m30s")
  if (millis <= 0) return Result.fail("must be positive")
  return Result.succeed(Duration.millis(millis))
}

/** A TCP port, or 0 for any free one. */
export const isPort = (value: number): boolean => Number.isInteger(value) && value >= 0 && value <= 65535

/** What a port must be, for messages. */
export const portExpected = "expected a port between 0 and 65535"

const port = (text: string) =>
  Result.flatMap(parseInteger(text, 0), (value) => (isPort(value) ? Result.succeed(value) : Result.fail(portExpected)))

/**
 * The gates' defaults (upstream v1.4.0's; StaticCapacity, NodeOverlay and CapacityBuffer are alpha, off, in the
 * releases that have them).
 */
export const defaultFeatureGates: FeatureGates = {
  NodeRepair: false,
  ReservedCapacity: false,
  SpotToSpotConsolidation: false,
  StaticCapacity: false,
  NodeOverlay: false,
  CapacityBuffer: false
}

const gateNames: ReadonlyArray<keyof FeatureGates> = [
  "NodeRepair",
  "ReservedCapacity",
  "SpotToSpotConsolidation",
  "StaticCapacity",
  "NodeOverlay",
  "CapacityBuffer"
]

/** `FEATURE_GATES` / `--feature-gates`: `Name=bool,...` over the defaults; unknown gates are errors (as upstream). */
export const parseFeatureGates = (text: string, base: FeatureGates): Result.Result<FeatureGates, string> => {
  const gates: Mutable<FeatureGates> = { ...base }
  for (const entry of text.split(",")) {
    const item = entry.trim()
    if (item === "") continue
    const [name = "", value, ...rest] = item.split("=")
    const key = gateNames.find((gate) => gate === name.trim())
    if (key === undefined) return Result.fail(`unrecognized feature gate: ${name.trim()}`)
    if (value === undefined || rest.length > 0) return Result.fail(`missing bool value for ${key}`)
    const parsed = parseBool(value.trim())
    if (Result.isFailure(parsed)) return Result.fail(`invalid value of ${key}=${value.trim()}, err: ${parsed.failure}`)
    gates[key] = parsed.success
  }
  return Result.succeed(gates)
}

const set =
  <K extends keyof Options>(key: K, parse: (text: string) => Result.Result<Options[K], string>) =>
  (text: string, into: Mutable<Options>): Result.Result<void, string> =>
    Result.map(parse(text), (value) => {
      into[key] = value
    })

const setAws =
  <K extends keyof AwsOptions>(key: K, parse: (text: string) => Result.Result<AwsOptions[K], string>) =>
  (text: string, into: Mutable<Options>): Result.Result<void, string> =>
    Result.map(parse(text), (value) => {
      into.aws = { ...into.aws, [key]: value }
    })

const oneOf =
  <const A extends string>(values: ReadonlyArray<A>) =>
  (text: string): Result.Result<A, string> => {
    const value = values.find((candidate) => candidate === text)
    return value === undefined ? Result.fail(`expected one of ${values.join(", ")}`) : Result.succeed(value)
  }

/** The option table, in upstream's order. */
export const definitions: ReadonlyArray<Definition> = [
  {
    flag: "karpenter-service",
    env: "KARPENTER_SERVICE",
    defaultText: "",
    description: "The Karpenter Service name for the dynamic webhook certificate",
    apply: set("karpenterService", Result.succeed)
  },
  {
    flag: "metrics-port",
    env: "METRICS_PORT",
    defaultText: "8080",
    description: "The port the metric endpoint binds to for operating metrics about the controller itself",
    apply: set("metricsPort", port)
  },
  {
    flag: "health-probe-port",
    env: "HEALTH_PROBE_PORT",
    defaultText: "8081",
    description: "The port the health probe endpoint binds to for reporting controller health",
    apply: set("healthProbePort", port)
  },
  {
    flag: "kube-client-qps",
    env: "KUBE_CLIENT_QPS",
    defaultText: "200",
    description: "The smoothed rate of qps to kube-apiserver",
    apply: set("kubeClientQPS", parseNumber)
  },
  {
    flag: "kube-client-burst",
    env: "KUBE_CLIENT_BURST",
    defaultText: "300",
    description: "The maximum allowed burst of queries to the kube-apiserver",
    apply: set("kubeClientBurst", (text) => parseInteger(text, 0))
  },
  {
    flag: "enable-profiling",
    env: "ENABLE_PROFILING",
    defaultText: "false",
    description: "Enable the profiling on the metric endpoint (accepted; no profiling handlers are served)",
    boolean: true,
    apply: set("enableProfiling", parseBool)
  },
  {
    flag: "disable-leader-election",
    env: "DISABLE_LEADER_ELECTION",
    defaultText: "false",
    description:
      "Disable the leader election client before executing the main loop. Disable when running replicated components for high availability is not desired.",
    boolean: true,
    apply: set("disableLeaderElection", parseBool)
  },
  {
    flag: "leader-election-name",
    env: "LEADER_ELECTION_NAME",
    defaultText: "karpenter-leader-election",
    description: "Leader election name to create and monitor the lease if running outside the cluster",
    apply: set("leaderElectionName", Result.succeed)
  },
  {
    flag: "leader-election-namespace",
    env: "LEADER_ELECTION_NAMESPACE",
    defaultText: "",
    description:
      "Leader election namespace to create and monitor the lease if running outside the cluster (default: the pod's namespace, else kube-system)",
    apply: set("leaderElectionNamespace", Result.succeed)
  },
  {
    flag: "memory-limit",
    env: "MEMORY_LIMIT",
    defaultText: "-1",
    description: "Memory limit on the container running the controller (accepted; not used by Node)",
    apply: set("memoryLimit", (text) => parseInteger(text))
  },
  {
    flag: "log-level",
    env: "LOG_LEVEL",
    defaultText: "info",
    description: "Log verbosity level. Can be one of 'debug', 'info', or 'error'",
    apply: set("logLevel", oneOf(["debug", "info", "error"]))
  },
  {
    flag: "log-output-paths",
    env: "LOG_OUTPUT_PATHS",
    defaultText: "stdout",
    description: "Optional comma separated paths for directing log output (accepted; logs go to stdout)",
    apply: set("logOutputPaths", Result.succeed)
  },
  {
    flag: "log-error-output-paths",
    env: "LOG_ERROR_OUTPUT_PATHS",
    defaultText: "stderr",
    description: "Optional comma separated paths for logging error output (accepted; logs go to stdout)",
    apply: set("logErrorOutputPaths", Result.succeed)
  },
  {
    flag: "batch-max-duration",
    env: "BATCH_MAX_DURATION",
    defaultText: "10s",
    description:
      "The maximum length of a batch window. The longer this is, the more pods we can consider for provisioning at one time which usually results in fewer but larger nodes.",
    apply: set("batchMaxDuration", parseDuration)
  },
  {
    flag: "batch-idle-duration",
    env: "BATCH_IDLE_DURATION",
    defaultText: "1s",
    description:
      "The maximum amount of time with no new pending pods that if exceeded ends the current batching window. If pods arrive faster than this time, the batching window will be extended up to the maxDuration. If they arrive slower, the pods will be batched separately.",
    apply: set("batchIdleDuration", parseDuration)
  },
  {
    flag: "preference-policy",
    env: "PREFERENCE_POLICY",
    defaultText: "Respect",
    description:
      "How the Karpenter scheduler should treat preferences. Preferences include preferredDuringSchedulingIgnoreDuringExecution node and pod affinities/anti-affinities and ScheduleAnyways topologySpreadConstraints. Can be one of 'Ignore' and 'Respect'",
    apply: set("preferencePolicy", oneOf(["Respect", "Ignore"]))
  },
  {
    flag: "min-values-policy",
    env: "MIN_VALUES_POLICY",
    defaultText: "Strict",
    description:
      "Min values policy for scheduling. Options include 'Strict' for existing behavior where min values are strictly enforced or 'BestEffort' where Karpenter relaxes min values when it isn't satisfied.",
    apply: set("minValuesPolicy", oneOf(minValuesPolicies))
  },
  {
    flag: "feature-gates",
    env: "FEATURE_GATES",
    defaultText:
      "NodeRepair=false,ReservedCapacity=false,SpotToSpotConsolidation=false,StaticCapacity=false,NodeOverlay=false,CapacityBuffer=false",
    description:
      "Optional features can be enabled / disabled using feature gates. Current options are: NodeRepair, ReservedCapacity, SpotToSpotConsolidation, StaticCapacity, NodeOverlay, and CapacityBuffer",
    apply: (text, into) =>
      Result.map(parseFeatureGates(text, into.featureGates), (gates) => {
        into.featureGates = gates
      })
  },
  {
    flag: "instance-types-file-path",
    env: "INSTANCE_TYPES_FILE_PATH",
    defaultText: "",
    description: "The KWOK provider's instance-type catalogue (JSON); default: the built-in catalogue",
    apply: (text, into) => {
      into.instanceTypesFilePath = text === "" ? undefined : text
      return ok
    }
  },
  {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    defaultText: "",
    description:
      "Paths to a kubeconfig. Only required if out-of-cluster (default: the in-cluster service account, else ~/.kube/config)",
    apply: (text, into) => {
      into.kubeconfig = text === "" ? undefined : text
      return ok
    }
  },
  {
    flag: "cloud-provider",
    env: "CLOUD_PROVIDER",
    defaultText: "kwok",
    description:
      "The cloud provider that makes nodes: 'kwok' (fake Nodes in the cluster) or 'aws' (EC2 instances; needs the AWS settings below)",
    apply: set("cloudProvider", oneOf(["kwok", "aws"]))
  },
  {
    flag: "cluster-ca-bundle",
    env: "CLUSTER_CA_BUNDLE",
    defaultText: "",
    description:
      "AWS: Cluster CA bundle for nodes to use for TLS connections with the API server. If not set, this is taken from the controller's TLS configuration.",
    apply: setAws("clusterCABundle", Result.succeed)
  },
  {
    flag: "cluster-name",
    env: "CLUSTER_NAME",
    defaultText: "",
    description: "AWS: [REQUIRED] The kubernetes cluster name for resource discovery.",
    apply: setAws("clusterName", Result.succeed)
  },
  {
    flag: "cluster-endpoint",
    env: "CLUSTER_ENDPOINT",
    defaultText: "",
    description:
      "AWS: [REQUIRED] The external kubernetes cluster endpoint for new nodes to connect with (discovery through EKS DescribeCluster is not supported yet).",
    apply: setAws("clusterEndpoint", Result.succeed)
  },
  {
    flag: "cluster-cidr",
    env: "CLUSTER_CIDR",
    defaultText: "",
    description:
      "AWS: [REQUIRED] The cluster's service CIDR, which AL2023 nodes need (upstream reads it from EKS DescribeCluster, not supported yet).",
    apply: setAws("clusterCIDR", Result.succeed)
  },
  {
    flag: "isolated-vpc",
    env: "ISOLATED_VPC",
    defaultText: "false",
    description:
      "AWS: If true, then assume we can't reach AWS services which don't have a VPC endpoint. This also has the effect of disabling look-ups to the AWS on-demand pricing endpoint.",
    boolean: true,
    apply: setAws("isolatedVPC", parseBool)
  },
  {
    flag: "vm-memory-overhead-percent",
    env: "VM_MEMORY_OVERHEAD_PERCENT",
    defaultText: "0.075",
    description:
      "AWS: The VM memory overhead as a percent that will be subtracted from the total memory for all instance types when cached information is unavailable.",
    apply: setAws("vmMemoryOverheadPercent", parseNumber)
  },
  {
    flag: "interruption-queue",
    env: "INTERRUPTION_QUEUE",
    defaultText: "",
    description:
      "AWS: Interruption queue is the name of the SQS queue used for processing interruption events from EC2. Interruption handling is disabled if not specified.",
    apply: setAws("interruptionQueue", Result.succeed)
  },
  {
    flag: "reserved-enis",
    env: "RESERVED_ENIS",
    defaultText: "0",
    description:
      "AWS: Reserved ENIs are not included in the calculations for max-pods or kube-reserved. This is most often used in the VPC CNI custom networking setup.",
    apply: setAws("reservedENIs", (text) => parseInteger(text))
  },
  {
    flag: "aws-region",
    env: "AWS_REGION",
    defaultText: "",
    description: "AWS: The region of the cluster's instances (default: the AWS SDK's region chain)",
    apply: setAws("region", Result.succeed)
  }
]

/** The options with nothing set: upstream's defaults. */
export const defaults: Options = {
  karpenterService: "",
  metricsPort: 8080,
  healthProbePort: 8081,
  kubeClientQPS: 200,
  kubeClientBurst: 300,
  enableProfiling: false,
  disableLeaderElection: false,
  leaderElectionName: "karpenter-leader-election",
  leaderElectionNamespace: "",
  memoryLimit: -1,
  logLevel: "info",
  logOutputPaths: "stdout",
  logErrorOutputPaths: "stderr",
  batchMaxDuration: Duration.seconds(10),
  batchIdleDuration: Duration.seconds(1),
  preferencePolicy: "Respect",
  minValuesPolicy: "Strict",
  featureGates: defaultFeatureGates,
  instanceTypesFilePath: undefined,
  kubeconfig: undefined,
  cloudProvider: "kwok",
  aws: {
    clusterName: "",
    clusterEndpoint: "",
    clusterCABundle: "",
    clusterCIDR: "",
    isolatedVPC: false,
    vmMemoryOverheadPercent: 0.075,
    interruptionQueue: "",
    reservedENIs: 0,
    region: ""
  }
}

const invalid = (value: string, where: string, problem: string) => `invalid value "${value}" for ${where}: ${problem}`

/** The options from the environment alone: the defaults, then the variables that are set and not empty. */
export const fromEnvironment = (env: Readonly<Record<string, string | undefined>>): Result.Result<Options, string> => {
  const options: Mutable<Options> = { ...defaults }
  for (const definition of definitions) {
    const value = env[definition.env]
    if (value === undefined || value === "") continue
    const applied = definition.apply(value, options)
    if (Result.isFailure(applied)) return Result.fail(invalid(value, definition.env, applied.failure))
  }
  return Result.succeed(options)
}

/**
 * Resolves the options from a command line (after the command name) and the environment: defaults, then the
 * variables that are set and not empty, then the flags (`--name=value`, `--name value`, one or two dashes; booleans
 * may stand alone). Fails with a one-line message.
 */
export const parse = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Result.Result<Parsed, string> => {
  const base = fromEnvironment(env)
  if (Result.isFailure(base)) return Result.fail(base.failure)
  const options: Mutable<Options> = { ...base.success }
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === "--help" || arg === "-h" || arg === "-help") return Result.succeed({ _tag: "Help" })
    const match = /^--?([^=]+)(=(.*))?$/s.exec(arg)
    if (match === null || arg === "-" || arg === "--") return Result.fail(`unexpected argument: ${arg}`)
    const name = match[1]!
    const definition = definitions.find((candidate) => candidate.flag === name)
    if (definition === undefined) return Result.fail(`flag provided but not defined: -${name}`)
    let value = match[3]
    if (value === undefined) {
      if (definition.boolean === true) value = "true"
      else if (index + 1 < args.length) value = args[++index]!
      else return Result.fail(`flag needs an argument: -${name}`)
    }
    const applied = definition.apply(value, options)
    if (Result.isFailure(applied)) return Result.fail(invalid(value, `flag --${name}`, applied.failure))
  }
  return Result.succeed({ _tag: "Run", options })
}

/** The usage text of `controller --help`: every option with its variable and default. */
export const usage = (command: string): string =>
  [
    `Usage: ${command} [flags]`,
    "",
    "Each flag can also be set by its environment variable; a flag overrides the variable.",
    "",
    ...definitions.flatMap((definition) => [
      `  --${definition.flag}${definition.boolean === true ? "" : " value"}  (env ${definition.env}; default ${definition.defaultText === "" ? '""' : definition.defaultText})`,
      `      ${definition.description}`
    ])
  ].join("\n")

/** What the controllers take from the feature gates. */
export const gatedOptions = (
  gates: FeatureGates
): Disruption.Options &
  StaticCapacity.Options &
  Health.Options &
  NodeOverlayController.Options &
  CapacityBufferController.Options => ({
  spotToSpotConsolidation: gates.SpotToSpotConsolidation,
  staticCapacity: gates.StaticCapacity,
  nodeRepair: gates.NodeRepair,
  reservedCapacity: gates.ReservedCapacity,
  nodeOverlay: gates.NodeOverlay,
  capacityBuffer: gates.CapacityBuffer
})

/** What the provisioner and the disruption controller take from the options. */
export const controllerOptions = (
  options: Options
): Provisioner.Options &
  Disruption.Options &
  StaticCapacity.Options &
  Health.Options &
  NodeOverlayController.Options &
  CapacityBufferController.Options => ({
  batchIdle: options.batchIdleDuration,
  batchMax: options.batchMaxDuration,
  preferencePolicy: options.preferencePolicy,
  minValuesPolicy: options.minValuesPolicy,
  ...gatedOptions(options.featureGates)
})

/**
 * The gates of an offline run (`schedule`, `simulate`): the defaults, then a Scenario's `spec.featureGates`, then the
 * `--feature-gates` flag, which wins where both name a gate. An unknown gate is an error, as upstream's flag.
 */
export const offlineFeatureGates = (
  flag: string | undefined,
  scenario?: Readonly<Record<string, boolean>>
): Result.Result<FeatureGates, string> => {
  const fromScenario = Object.entries(scenario ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(",")
  return Result.flatMap(parseFeatureGates(fromScenario, defaultFeatureGates), (gates) =>
    parseFeatureGates(flag ?? "", gates)
  )
}
