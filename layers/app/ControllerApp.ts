/**
 * `controller`: Karpenter against a real cluster, with the KWOK provider (NodeClaims become KWOK-style fake Nodes in
 * that cluster, as upstream's KWOK build) or, with `--cloud-provider aws`, the AWS provider launching EC2 instances. Two API clients, as upstream v1.4.0: the
 * controllers' with KUBE_CLIENT_QPS/BURST, and the leader election's own, so a busy controller cannot starve lease
 * renewals. The controllers run only while this replica holds the Lease; on SIGINT/SIGTERM the runtime interrupts
 * the program, the controllers stop and the Lease is released for the next replica.
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { setFlagsFromString } from "node:v8"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Catalog from "../../src/cloudprovider/Catalog.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as Options from "../../src/operator/Options.ts"
import { InvalidInput, loadCatalogue } from "../../src/operator/Schedule.ts"
import { version } from "../../src/operator/Version.ts"
import * as LeaderElection from "../../src/runtime/LeaderElection.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as AwsOperator from "../cloudprovider/aws/operator/AwsOperator.ts"
import * as KwokCloudProvider from "../cloudprovider/kwok/KwokCloudProvider.ts"
import * as ClusterInfo from "../kube/live/ClusterInfo.ts"
import * as LiveKube from "../kube/live/LiveKubeClient.ts"
import * as Operator from "./Operator.ts"

/**
 * The leader-election client's rate limit. Upstream v1.4.0 has no option for it: its lease client keeps
 * controller-runtime's defaults (QPS 20, burst 30) while the main client gets KUBE_CLIENT_QPS/BURST.
 */
export const leaderElectionQPS = 20
export const leaderElectionBurst = 30

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

/**
 * The controller's namespace: the option, else the pod's own namespace (in-cluster), else `kube-system`. The Lease
 * and the KWOK provider's instance records live there, where the Roles of manifests/base/rbac.yaml (the Lease) and
 * manifests/kwok-rbac.yaml (the records) grant them.
 */
const ownNamespace = (options: Options.Options) =>
  Effect.gen(function* () {
    if (options.leaderElectionNamespace !== "") return options.leaderElectionNamespace
    const fs = yield* FileSystem.FileSystem
    const own = yield* fs.readFileString(serviceAccountNamespace).pipe(Effect.option)
    return own._tag === "Some" && own.value.trim() !== "" ? own.value.trim() : "kube-system"
  })

/**
 * A cloud provider as the process runs it: the layer providing its CloudProvider (and whatever its controllers share
 * with it), and its own controllers, which run beside Karpenter's under the same leader gate.
 */
export interface Provider<ROut, RIn, RControllers> {
  readonly cloudProvider: Layer.Layer<ROut, never, RIn>
  readonly controllers: Layer.Layer<never, never, RControllers>
}

/** The KWOK provider: no controllers of its own. */
export const kwok = (options: KwokCloudProvider.Options) => ({
  cloudProvider: KwokCloudProvider.layer(options),
  controllers: Layer.empty
})

/** The AWS provider over AWS's services (the real SDK clients, or a fake in tests). */
export const aws = <E>(environment: AwsOperator.Environment, services: Layer.Layer<AwsOperator.AwsServices, E>) => ({
  cloudProvider: AwsOperator.providerLayer(environment).pipe(Layer.provideMerge(services), Layer.orDie),
  controllers: AwsOperator.controllersLayer(environment)
})

/**
 * One `controller` process over a KubeClient: the Manager running every controller, the provider's among them (while
 * this replica leads), on the process's services (events, the cloud provider, the cluster state).
 */
export const layer = <E, R, ROut, RIn, RControllers>(
  options: Options.Options,
  provider: Provider<ROut, RIn, RControllers>,
  kube: Layer.Layer<KubeClient, E, R>
) =>
  Controllers.manager(Options.controllerOptions(options), provider.controllers).pipe(
    Layer.provideMerge(Operator.servicesWith(provider.cloudProvider)),
    Layer.provideMerge(kube)
  )

/**
 * Puts V8 in its memory-saving mode (`--optimize-for-size`: the heap grows little past what the last full GC kept,
 * and is shrunk back; no limit, so no out-of-memory risk). By default V8 lets the heap grow by up to 4x on a large
 * machine, and the disruption pass's simulations filled that room with garbage: 760–900 MB RSS for ~220 MB of live
 * objects at 1,000 nodes / 30,000 pods. Against `--heap-growing-percent=20` on the same build, two paired runs
 * (bench:controller, bench/README.md): RSS after the disruption pass 367 → 298 and 461 → 356 MB, for 23% and 43% more
 * CPU: issue #13's budget is memory. Set at start-up, before the heap has grown.
 */
export const limitHeapGrowth: Effect.Effect<void> = Effect.sync(() => setFlagsFromString("--optimize-for-size"))

/**
 * What the `controller` process needs in its environment from the start, which it cannot set for itself: glibc reads
 * MALLOC_ARENA_MAX and V8 sizes its young generation when the process starts. The container image sets them
 * (Dockerfile's ENV; test/manifests/Dockerfile.test.ts keeps the two equal) and bench:controller forks its controller
 * with them. Two malloc arenas instead of one per thread that allocates (up to 8 per core), and semi-spaces of 2 MB
 * instead of up to 16: at 1,000 nodes / 30,000 pods, RSS after the disruption pass 242 → 216 MB side by side
 * (bench/README.md, round 4).
 */
export const processEnvironment = {
  MALLOC_ARENA_MAX: "2",
  NODE_OPTIONS: "--max-semi-space-size=2"
} as const

/** What tests swap in: AWS's services (default: the real SDK clients for the region). */
export interface Overrides {
  readonly awsServices?: Layer.Layer<AwsOperator.AwsServices>
}

/**
 * The AWS provider's environment (upstream `NewOperator`): the settings validated, the region from them or the SDK's
 * chain, and the cluster's version, CA and kube-dns IP from its API server. Bad settings are InvalidInput.
 */
const awsEnvironment = (
  options: Options.Options,
  source: { readonly kubeconfig?: string; readonly userAgent: string }
) =>
  Effect.gen(function* () {
    const validated = AwsOperator.validate(options.aws)
    if (validated._tag === "Failure") return yield* new InvalidInput({ message: validated.failure })
    const settings = validated.success
    const region = settings.region !== "" ? settings.region : yield* AwsOperator.sdkRegion
    if (region === undefined || region === "") {
      return yield* new InvalidInput({ message: "no AWS region: set AWS_REGION (or --aws-region)" })
    }
    const info = yield* ClusterInfo.discover(
      source.kubeconfig === undefined ? {} : { kubeconfig: source.kubeconfig },
      source.userAgent
    )
    const dataset = yield* AwsOperator.loadDataset().pipe(
      Effect.mapError(
        (error) => new InvalidInput({ message: `reading the AWS instance-type dataset: ${error.message}` })
      )
    )
    return {
      settings,
      region,
      kubernetesVersion: info.kubernetesVersion,
      caBundle: info.caBundle,
      kubeDnsIp: info.kubeDnsIp,
      dataset,
      reservedCapacity: options.featureGates.ReservedCapacity
    } satisfies AwsOperator.Environment
  })

/** Runs the operator until interrupted. */
export const run = (options: Options.Options, overrides: Overrides = {}) =>
  Effect.gen(function* () {
    yield* limitHeapGrowth
    const connection = {
      ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
      userAgent: `karpenter-effect/${version}`
    }
    const namespace = yield* ownNamespace(options)
    const kube = LiveKube.layer({ ...connection, qps: options.kubeClientQPS, burst: options.kubeClientBurst })
    // Built (and its settings checked) before the leader election starts.
    const process =
      options.cloudProvider === "aws"
        ? yield* Effect.map(awsEnvironment(options, connection), (environment) =>
            layer(options, aws(environment, overrides.awsServices ?? AwsOperator.sdkLayer(environment.region)), kube)
          )
        : layer(
            options,
            kwok({
              instanceTypes:
                options.instanceTypesFilePath === undefined
                  ? Catalog.kwok()
                  : yield* loadCatalogue(options.instanceTypesFilePath),
              namespace,
              reservedCapacity: options.featureGates.ReservedCapacity
            }),
            kube
          )

    const gate = options.disableLeaderElection
      ? Effect.succeed(Manager.alwaysLeader)
      : Effect.gen(function* () {
          // Lease calls must finish well within the renew deadline, so no long retries.
          const leaseClient = yield* LiveKube.make({
            ...connection,
            qps: leaderElectionQPS,
            burst: leaderElectionBurst,
            retries: 0,
            requestTimeout: "5 seconds"
          })
          const identity = `${hostname()}_${randomUUID()}`
          yield* Effect.logInfo("attempting to acquire leader lease").pipe(
            Effect.annotateLogs({
              logger: "leader-election",
              lease: `${namespace}/${options.leaderElectionName}`,
              identity
            })
          )
          return yield* LeaderElection.make({ name: options.leaderElectionName, namespace, identity }).pipe(
            Effect.provideService(KubeClient, leaseClient)
          )
        })

    const program = Effect.gen(function* () {
      const served = yield* Operator.serveOperations([
        { host: "0.0.0.0", port: options.metricsPort, endpoints: ["metrics"] },
        { host: "0.0.0.0", port: options.healthProbePort, endpoints: ["health"] }
      ])
      for (const server of served) {
        yield* Effect.logInfo("serving").pipe(
          Effect.annotateLogs({ logger: "operations", url: server.url, endpoints: server.endpoints.join(",") })
        )
      }
      yield* Effect.logInfo("starting manager").pipe(
        Effect.annotateLogs({ logger: "controller", version, leaderElection: !options.disableLeaderElection })
      )
      return yield* Effect.never
    })

    const leaderGate = yield* gate
    yield* program.pipe(Effect.provide(process), Effect.provideService(Manager.LeaderGate, leaderGate))
  }).pipe(
    Effect.scoped,
    Effect.catchTag("ConfigError", (error) => Effect.fail(new InvalidInput({ message: error.message }))),
    Effect.provide(Operator.logging(options.logLevel, "stdout"))
  )
