/**
 * Helpers of the termination tests: the in-memory API server with a KubeClient that logs every eviction answer, the
 * fake provider, an in-memory event sink, manifests, and stepping the virtual clock.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { Node } from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import type { Pod } from "../../../../src/api/Pod.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import { type Event, EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { settle } from "../../../support/Settle.ts"

export { settle }

import * as InformerCache from "../../../../src/runtime/InformerCache.ts"

/** One answer of the eviction API: when (virtual ms), which pod, and `ok` or the error's tag. */
export interface Eviction {
  readonly at: number
  readonly pod: string
  readonly outcome: string
}

/** What a test can inspect besides the API server. */
export interface Recorder {
  readonly evictions: Array<Eviction>
  readonly events: Array<Event>
}

/** A fresh recorder. */
export const recorder = (): Recorder => ({ evictions: [], events: [] })

/** The in-memory API server whose KubeClient logs eviction answers into `log`. */
const recordingKube = (log: Array<Eviction>): Layer.Layer<KubeClient | MemoryKube.MemoryApiServer> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const memory = yield* MemoryKube.MemoryApiServer
      const inner = MemoryKube.makeClient(memory.server)
      const client: KubeClient["Service"] = {
        ...inner,
        evict: (namespace, name, options) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            inner.evict(namespace, name, options).pipe(
              Effect.tap(() => Effect.sync(() => log.push({ at, pod: name, outcome: "ok" }))),
              Effect.tapError((error) => Effect.sync(() => log.push({ at, pod: name, outcome: error._tag })))
            )
          )
      }
      return Context.make(KubeClient, KubeClient.of(client)).pipe(Context.add(MemoryKube.MemoryApiServer, memory))
    })
  ).pipe(Layer.provide(MemoryKube.layer()))

/**
 * The fake provider, whose instances take `shutdownMillis` to terminate: `delete` removes the instance at once (as the
 * fake does) but keeps answering success, not NodeClaimNotFound, for that long after the first call.
 */
const provider = (shutdownMillis: number): Layer.Layer<CloudProvider.CloudProvider | Fake.FakeCloudProvider> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const fake = yield* CloudProvider.CloudProvider
      const controls = yield* Fake.FakeCloudProvider
      const shuttingDownSince = new Map<string, number>()
      const cloud: CloudProvider.CloudProvider["Service"] = {
        ...fake,
        delete: (nodeClaim) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const providerID = nodeClaim.status?.providerID ?? ""
            const since = shuttingDownSince.get(providerID)
            if (since !== undefined && now - since < shutdownMillis) return Effect.void
            return Effect.tap(fake.delete(nodeClaim), () =>
              Effect.sync(() => {
                shuttingDownSince.set(providerID, now)
              })
            )
          })
      }
      return Context.make(CloudProvider.CloudProvider, CloudProvider.CloudProvider.of(cloud)).pipe(
        Context.add(Fake.FakeCloudProvider, controls)
      )
    })
  ).pipe(Layer.provide(Fake.layer))

/**
 * The API server, the fake provider (instances shutting down for `shutdownMillis`, default 0), an event sink and the
 * process's informer cache.
 */
export const environment = (
  recorded: Recorder,
  options: { readonly shutdownMillis?: number } = {}
): Layer.Layer<
  | KubeClient
  | MemoryKube.MemoryApiServer
  | InformerCache.InformerCache
  | CloudProvider.CloudProvider
  | Fake.FakeCloudProvider
  | EventRecorder
> =>
  Layer.mergeAll(
    InformerCache.layer.pipe(Layer.provideMerge(recordingKube(recorded.evictions))),
    provider(options.shutdownMillis ?? 0),
    EventRecorder.layerMemory(recorded.events)
  )

/** Advances the virtual clock by `millis` in steps of `step`, settling after each. */
export const advance = (millis: number, step = 100): Effect.Effect<void> =>
  Effect.gen(function* () {
    let left = millis
    while (left > 0) {
      const by = Math.min(step, left)
      yield* TestClock.adjust(by)
      yield* settle
      left -= by
    }
  })

/** The label naming the fake provider's NodeClass on its nodes. */
export const fakeNodeClassLabel = `${FakeInstanceTypes.NodeClassGroup}/${FakeInstanceTypes.NodeClassKind.toLowerCase()}`

const condition = (type: string) => ({
  type,
  status: "True",
  reason: type,
  message: "",
  lastTransitionTime: "1970-01-01T00:00:00Z"
})

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** `spec.terminationGracePeriod` of the NodeClaim. */
  readonly terminationGracePeriod?: string
  /** Whether the NodeClaim is Registered (and its Node exists); default true. */
  readonly registered?: boolean
  /** Whether the Node reports Ready; default true. */
  readonly ready?: boolean
  /** Taints of the Node. */
  readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  /** Whether the Node carries the fake NodeClass label (is managed); default true. */
  readonly managed?: boolean
}

/**
 * A NodeClaim `name` launched on the fake provider, Launched, Registered and Initialized, with its finalizer, and its
 * Node `name` (with the termination finalizer, Ready). Returns the providerID.
 */
export const launch = (name: string, options: LaunchOptions = {}) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const cloud = yield* CloudProvider.CloudProvider
    const labels = { [Labels.NodePool]: "default", [fakeNodeClassLabel]: "default" }
    const created = yield* kube.create(Resources.NodeClaims, {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: { name, labels, finalizers: [Labels.TerminationFinalizer] },
      spec: {
        nodeClassRef: {
          group: FakeInstanceTypes.NodeClassGroup,
          kind: FakeInstanceTypes.NodeClassKind,
          name: "default"
        },
        requirements: [],
        ...(options.terminationGracePeriod === undefined
          ? {}
          : { terminationGracePeriod: options.terminationGracePeriod })
      }
    } as never)
    const instance = yield* cloud.create(created)
    const providerID = instance.status?.providerID ?? ""
    const registered = options.registered ?? true
    yield* kube.patch(
      Resources.NodeClaims,
      name,
      {
        type: "merge",
        patch: {
          status: {
            providerID,
            nodeName: name,
            conditions: (registered ? ["Launched", "Registered", "Initialized", "Ready"] : ["Launched"]).map(condition)
          }
        }
      },
      { subresource: "status" }
    )
    if (registered) {
      yield* kube.create(Resources.Nodes, {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          labels: options.managed === false ? { [Labels.NodePool]: "default" } : labels,
          finalizers: [Labels.TerminationFinalizer]
        },
        spec: { providerID, ...(options.taints === undefined ? {} : { taints: options.taints }) },
        status: {
          allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
          conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }]
        }
      } as never)
    }
    return providerID
  })

/** Options of {@link createPod}. */
export interface PodOptions {
  readonly grace?: number
  readonly priorityClassName?: string
  readonly daemonSet?: boolean
  readonly doNotDisrupt?: boolean
  readonly labels?: Record<string, string>
  readonly tolerations?: ReadonlyArray<Record<string, string>>
  /** PersistentVolumeClaims (in `default`) the pod mounts, each as a volume of its name. */
  readonly claims?: ReadonlyArray<string>
}

/** Creates pod `name` in `default`, bound to `node`. */
export const createPod = (name: string, node: string, options: PodOptions = {}) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(
      Resources.Pods,
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: "default",
          labels: options.labels ?? { app: name },
          ...(options.doNotDisrupt === true ? { annotations: { [Labels.DoNotDisruptAnnotation]: "true" } } : {}),
          ...(options.daemonSet === true
            ? {
                ownerReferences: [
                  { apiVersion: "apps/v1", kind: "DaemonSet", name: "ds", uid: "ds-uid", controller: true }
                ]
              }
            : {})
        },
        spec: {
          nodeName: node,
          containers: [{ name: "app", image: "app" }],
          ...(options.grace === undefined ? {} : { terminationGracePeriodSeconds: options.grace }),
          ...(options.priorityClassName === undefined ? {} : { priorityClassName: options.priorityClassName }),
          ...(options.tolerations === undefined ? {} : { tolerations: options.tolerations }),
          ...(options.claims === undefined
            ? {}
            : {
                volumes: options.claims.map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claim } }))
              })
        }
      } as never,
      { namespace: "default" }
    )
  )

/** A PodDisruptionBudget `web` over `app: web` with `minAvailable`. */
export const createBudget = (minAvailable: number) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(
      Resources.PodDisruptionBudgets,
      {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "web", namespace: "default" },
        spec: { minAvailable, selector: { matchLabels: { app: "web" } } }
      } as never,
      { namespace: "default" }
    )
  )

/** Sets the budget's `minAvailable` (the disruption controller recomputes what it allows). */
export const setMinAvailable = (minAvailable: number) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.PodDisruptionBudgets,
      "web",
      { type: "merge", patch: { spec: { minAvailable } } },
      { namespace: "default" }
    )
  )

/** The Node, or undefined once it is gone. */
export const findNode = (name: string): Effect.Effect<Node | undefined, unknown, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.get(Resources.Nodes, name).pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined)))
  )

/** The NodeClaim, or undefined once it is gone. */
export const findNodeClaim = (name: string): Effect.Effect<NodeClaim | undefined, unknown, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.get(Resources.NodeClaims, name).pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined)))
  )

/** The pod in `default`, or undefined once it is gone. */
export const findPod = (name: string): Effect.Effect<Pod | undefined, unknown, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube
      .get(Resources.Pods, name, { namespace: "default" })
      .pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined)))
  )

/**
 * Records, in a fiber of the current Scope, `Kind/name` of every Node and NodeClaim as it is removed for good, in
 * order.
 */
export const recordRemovals = Effect.gen(function* () {
  const kube = yield* KubeClient
  const removed: Array<string> = []
  const note = (kind: string) => (event: { readonly type: string; readonly object?: Node | NodeClaim }) =>
    Effect.sync(() => {
      if (event.type === "DELETED") removed.push(`${kind}/${event.object?.metadata.name}`)
    })
  yield* Stream.runForEach(kube.watch(Resources.Nodes), note("Node")).pipe(Effect.ignore, Effect.forkScoped)
  yield* Stream.runForEach(kube.watch(Resources.NodeClaims), note("NodeClaim")).pipe(Effect.ignore, Effect.forkScoped)
  return removed
})

/** The reasons of the recorded events about `kind`/`name`. */
export const reasonsFor = (recorded: Recorder, kind: string, name: string): ReadonlyArray<string> =>
  recorded.events
    .filter((event) => event.involvedObject.kind === kind && event.involvedObject.name === name)
    .map((event) => event.reason)
