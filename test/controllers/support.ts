/**
 * Helpers of the controller tests that run Karpenter's controllers together on the in-memory API server: the
 * environments (fake or KWOK provider, with or without the embedded control plane), manifests, and virtual time.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Fake from "../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as KwokCloudProvider from "../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import * as KWOKNodeClass from "../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../src/api/Labels.ts"
import type { Condition } from "../../src/api/Meta.ts"
import type { NodeClaim } from "../../src/api/NodeClaim.ts"
import type { Pod } from "../../src/api/Pod.ts"
import type * as CloudProvider from "../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as ControlPlane from "../../src/cluster/ControlPlane.ts"
import * as Termination from "../../src/controllers/node/termination/Termination.ts"
import * as Lifecycle from "../../src/controllers/nodeclaim/lifecycle/Lifecycle.ts"
import * as NodePoolControllers from "../../src/controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../../src/controllers/provisioning/Provisioner.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as Requirement from "../../src/scheduling/Requirement.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"
import * as ClusterStateLayer from "../../src/state/Cluster.ts"
import type { ClusterState } from "../../src/state/ClusterState.ts"
import { settle } from "../support/Settle.ts"

export { settle }

/**
 * Options of the suites that run controllers: a few seconds of wall clock each, more on a loaded machine, so the
 * 5 s default is raised (virtual time keeps them from depending on it otherwise).
 */
export const controllerSuite = { timeout: 30_000 } as const

/**
 * Advances the virtual clock by `millis`: first lets the work the test started settle, then moves in steps of at
 * most `step` (the TestClock wakes every timer due on the way, in order), letting fibers settle after each.
 */
export const advance = (millis: number, step = 5_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* settle
    let left = millis
    while (left > 0) {
      const by = Math.min(step, left)
      yield* TestClock.adjust(by)
      yield* settle
      left -= by
    }
  })

/**
 * What one Karpenter "process" runs on: its own informer cache (fresh, never another process's), the event recorder
 * and the cluster state (its in-memory bookkeeping).
 */
export const processServices: Layer.Layer<
  InformerCache.InformerCache | EventRecorder | ClusterState,
  never,
  KubeClient
> = Layer.mergeAll(EventRecorder.layer, ClusterStateLayer.layer).pipe(
  Layer.provideMerge(Layer.fresh(InformerCache.layer))
)

/**
 * One Karpenter process: its services and the controllers under test — provisioning, the NodeClaim lifecycle, node
 * termination and the NodePool controllers (validation, readiness, hash, counter, registration health). Disruption
 * and the other NodeClaim controllers are left out, so nothing else deletes or replaces nodes during a test. The
 * provider and the API server are shared by every process of a test.
 */
export const karpenter = (
  options?: Provisioner.Options
): Layer.Layer<
  InformerCache.InformerCache | EventRecorder | ClusterState,
  never,
  KubeClient | CloudProvider.CloudProvider
> =>
  Layer.mergeAll(
    NodePoolControllers.layer,
    Layer.effectDiscard(Lifecycle.make),
    Layer.effectDiscard(Termination.make),
    Layer.effectDiscard(Provisioner.run(options))
  ).pipe(Layer.provideMerge(processServices))

/** The in-memory API server and the fake provider (shared by every process of a test). */
export const fakeBase: Layer.Layer<
  KubeClient | MemoryKube.MemoryApiServer | CloudProvider.CloudProvider | Fake.FakeCloudProvider
> = Layer.mergeAll(MemoryKube.layer(), Fake.layer)

/** The in-memory API server and the KWOK provider. */
export const kwokBase: Layer.Layer<KubeClient | MemoryKube.MemoryApiServer | CloudProvider.CloudProvider> =
  KwokCloudProvider.layer().pipe(Layer.provideMerge(MemoryKube.layer()))

/** Builds a layer in a new Scope (a restartable process); close the Scope to stop it. */
export const startIn = <ROut, E, RIn>(layer: Layer.Layer<ROut, E, RIn>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(layer, scope)
    yield* settle
    return scope
  })

/**
 * The embedded control plane (kube-scheduler, kubelet, workloads, DaemonSets, PDBs, pod GC, volume attachment), on an
 * informer cache of its own: another process, as in a real cluster.
 */
export const controlPlane: Layer.Layer<never, never, KubeClient> = ControlPlane.layer.pipe(
  Layer.provide(Layer.fresh(InformerCache.layer))
)

// ---------------------------------------------------------------------------------------------------------------
// Manifests (wire form)

/** The fake provider's NodeClass reference. */
export const fakeNodeClassRef = {
  group: FakeInstanceTypes.NodeClassGroup,
  kind: FakeInstanceTypes.NodeClassKind,
  name: "default"
} as const

/** The KWOK NodeClass reference. */
export const kwokNodeClassRef = { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: "default" } as const

/** A NodePool manifest. */
export const nodePool = (
  name: string,
  options: {
    readonly nodeClassRef?: { readonly group: string; readonly kind: string; readonly name: string }
    readonly requirements?: ReadonlyArray<{
      key: string
      operator: string
      values?: ReadonlyArray<string>
      minValues?: number
    }>
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly limits?: Record<string, string>
    readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
    readonly startupTaints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  } = {}
) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name },
  spec: {
    template: {
      ...(options.labels === undefined && options.annotations === undefined
        ? {}
        : {
            metadata: {
              ...(options.labels === undefined ? {} : { labels: options.labels }),
              ...(options.annotations === undefined ? {} : { annotations: options.annotations })
            }
          }),
      spec: {
        nodeClassRef: options.nodeClassRef ?? fakeNodeClassRef,
        requirements: options.requirements ?? [],
        ...(options.taints === undefined ? {} : { taints: options.taints }),
        ...(options.startupTaints === undefined ? {} : { startupTaints: options.startupTaints })
      }
    },
    ...(options.limits === undefined ? {} : { limits: options.limits })
  }
})

/** A KWOKNodeClass manifest. */
export const kwokNodeClass = (
  name: string,
  spec: { failRegistration?: boolean; nodeRegistrationDelay?: string } = {}
) => ({
  apiVersion: KWOKNodeClass.apiVersion,
  kind: KWOKNodeClass.kind,
  metadata: { name },
  spec
})

/** Creates the DaemonSet `name` in `default`, its pods labelled `app: name` and made from `podSpec`; the stored object. */
export const createDaemonSet = (name: string, podSpec: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(
      Resources.DaemonSets,
      {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: { name, namespace: "default" },
        spec: {
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: podSpec }
        }
      } as never,
      { namespace: "default" }
    )
  )

/** A container spec requesting `cpu` and `memory`. */
export const container = (cpu: string, memory = "1Gi", extra: Record<string, unknown> = {}) => ({
  name: "app",
  image: "app",
  resources: { requests: { cpu, memory } },
  ...extra
})

/** A Pod manifest in `default`. */
export const pod = (
  name: string,
  options: {
    readonly cpu?: string
    readonly memory?: string
    readonly labels?: Record<string, string>
    readonly spec?: Record<string, unknown>
    readonly container?: Record<string, unknown>
  } = {}
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: options.labels ?? { app: name } },
  spec: {
    containers: [container(options.cpu ?? "1", options.memory ?? "1Gi", options.container)],
    ...options.spec
  }
})

/** The label naming a node's NodeClass (`<group>/<lowercased kind>`). */
export const nodeClassLabelOf = (ref: { readonly group: string; readonly kind: string }): string =>
  `${ref.group}/${ref.kind.toLowerCase()}`

/** A NodeClaim manifest, as the provisioner would write it (NodePool and NodeClass labels; no other requirement). */
export const nodeClaim = (
  name: string,
  options: {
    readonly nodePool?: string
    readonly nodeClassRef?: { readonly group: string; readonly kind: string; readonly name: string }
    readonly finalizers?: ReadonlyArray<string>
  } = {}
) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  metadata: {
    name,
    labels: {
      [Labels.NodePool]: options.nodePool ?? "default",
      [nodeClassLabelOf(options.nodeClassRef ?? fakeNodeClassRef)]: (options.nodeClassRef ?? fakeNodeClassRef).name
    },
    ...(options.finalizers === undefined ? {} : { finalizers: options.finalizers })
  },
  spec: {
    requirements: [{ key: Labels.NodePool, operator: "In", values: [options.nodePool ?? "default"] }],
    nodeClassRef: options.nodeClassRef ?? fakeNodeClassRef
  }
})

/** A Node manifest with capacity (= allocatable), labels and a providerID; `ready` writes the Ready condition. */
export const node = (
  name: string,
  options: {
    readonly providerID?: string
    readonly labels?: Record<string, string>
    readonly capacity?: Record<string, string>
    readonly finalizers?: ReadonlyArray<string>
    readonly ready?: boolean
  } = {}
) => {
  const capacity = options.capacity ?? { cpu: "4", memory: "16Gi", pods: "110" }
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: { [Labels.Hostname]: name, ...options.labels },
      ...(options.finalizers === undefined ? {} : { finalizers: options.finalizers })
    },
    spec: options.providerID === undefined ? {} : { providerID: options.providerID },
    status: {
      capacity,
      allocatable: capacity,
      ...(options.ready === undefined
        ? {}
        : { conditions: [{ type: "Ready", status: options.ready ? "True" : "False" }] })
    }
  }
}

/** A CSI PersistentVolume `name` of `driver` (volume handle `handle-<name>`), bound to the claim `default/<claim>`. */
export const csiVolume = (name: string, claim: string, driver = "ebs.csi.aws.com") => ({
  apiVersion: "v1",
  kind: "PersistentVolume",
  metadata: { name },
  spec: {
    capacity: { storage: "10Gi" },
    accessModes: ["ReadWriteOnce"],
    csi: { driver, volumeHandle: `handle-${name}` },
    claimRef: { namespace: "default", name: claim }
  }
})

/** A PersistentVolumeClaim `name` in `default`, bound to the PersistentVolume `volume`. */
export const boundClaim = (name: string, volume: string) => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name, namespace: "default" },
  spec: { volumeName: volume, accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } }
})

// ---------------------------------------------------------------------------------------------------------------
// API helpers

/** Creates the CSI volume `volume` (of `driver`) and the claim `claim` in `default` bound to it. */
export const createCsiClaim = (claim: string, volume: string, driver?: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.create(Resources.PersistentVolumes, csiVolume(volume, claim, driver) as never)
    yield* kube.create(Resources.PersistentVolumeClaims, boundClaim(claim, volume) as never, { namespace: "default" })
  })

/** Every VolumeAttachment, sorted by the name of its PersistentVolume. */
export const listVolumeAttachments = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.VolumeAttachments), ({ items }) =>
    [...items].sort((a, b) =>
      (a.spec.source.persistentVolumeName ?? "") < (b.spec.source.persistentVolumeName ?? "") ? -1 : 1
    )
  )
)

/** Creates a NodeClaim. */
export const createNodeClaim = (object: ReturnType<typeof nodeClaim>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.NodeClaims, object as never))

/** Creates a Node. */
export const createNode = (object: ReturnType<typeof node>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.Nodes, object as never))

/** A NodeClaim, if it exists. */
export const findNodeClaim = (name: string) =>
  Effect.map(listNodeClaims, (claims) => claims.find((claim) => claim.metadata.name === name))

/** Creates a NodePool. */
export const createNodePool = (object: ReturnType<typeof nodePool>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.NodePools, object as never))

/** Creates a KWOKNodeClass. */
export const createKwokNodeClass = (object: ReturnType<typeof kwokNodeClass>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.KWOKNodeClasses, object as never))

/** Creates a pod. */
export const createPod = (object: ReturnType<typeof pod>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.Pods, object as never, { namespace: "default" })
  )

/** What kube-scheduler writes on a pod it cannot place: PodScheduled=False, reason Unschedulable. */
export const markUnschedulable = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.Pods,
      name,
      {
        type: "merge",
        patch: {
          status: {
            phase: "Pending",
            conditions: [
              {
                type: "PodScheduled",
                status: "False",
                reason: "Unschedulable",
                message: "0/0 nodes are available"
              }
            ]
          }
        }
      },
      { namespace: "default", subresource: "status" }
    )
  )

/** Creates a pod and marks it unschedulable (the kube-scheduler's verdict, without a control plane). */
export const createPendingPod = (object: ReturnType<typeof pod>) =>
  Effect.andThen(createPod(object), markUnschedulable(object.metadata.name))

/** Every NodeClaim, sorted by name. */
export const listNodeClaims: Effect.Effect<ReadonlyArray<NodeClaim>, unknown, KubeClient> = Effect.flatMap(
  Effect.service(KubeClient),
  (kube) =>
    Effect.map(kube.list(Resources.NodeClaims), ({ items }) =>
      [...items].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))
    )
)

/** Every Node, sorted by name. */
export const listNodes = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.Nodes), ({ items }) =>
    [...items].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))
  )
)

/** Every pod in `default`, sorted by name. */
export const listPods: Effect.Effect<ReadonlyArray<Pod>, unknown, KubeClient> = Effect.flatMap(
  Effect.service(KubeClient),
  (kube) =>
    Effect.map(kube.list(Resources.Pods, { namespace: "default" }), ({ items }) =>
      [...items].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))
    )
)

/** A pod in `default`. */
export const getPod = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.Pods, name, { namespace: "default" }))

/** The stored NodePool. */
export const getNodePool = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodePools, name))

/** A condition of a list by type. */
export const conditionOf = (conditions: ReadonlyArray<Condition> | undefined, type: string): Condition | undefined =>
  conditions?.find((condition) => condition.type === type)

/** Every Event (any namespace). */
export const listEvents = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.Events), ({ items }) => items)
)

/**
 * The fake provider's default catalogue, each type also defining the fake NodeClass label and `labels` (custom labels
 * a NodePool's template adds): instance types that constrain those keys, so a NodeClaim must ask for them to launch.
 */
export const fakeCatalogue = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType> = FakeInstanceTypes.defaults(),
  labels: Readonly<Record<string, string>> = {}
): Array<InstanceType.InstanceType> =>
  instanceTypes.map((instanceType) =>
    InstanceType.make({
      ...instanceType,
      requirements: Requirements.make(
        ...instanceType.requirements.values(),
        ...Object.entries({ [fakeNodeClassLabel]: "default", ...labels }).map(([key, value]) =>
          Requirement.make(key, "In", [value])
        )
      )
    })
  )

/** The label naming a node's fake NodeClass. */
export const fakeNodeClassLabel = nodeClassLabelOf(fakeNodeClassRef)
