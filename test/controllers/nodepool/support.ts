/** Helpers of the NodePool controller tests: wire objects, a CloudProvider and a ClusterState stub, a test harness. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { Condition } from "../../../src/api/Meta.ts"
import type { NodePool } from "../../../src/api/NodePool.ts"
import { CloudProvider } from "../../../src/cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as InformerCache from "../../../src/runtime/InformerCache.ts"
import type * as SchedulingResources from "../../../src/scheduling/ResourceLists.ts"
import { ClusterState } from "../../../src/state/ClusterState.ts"

export { settle } from "../../support/Settle.ts"

/** The KWOK NodeClass kind. */
export const kwokKind = { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind } as const

/** A CloudProvider that supports the KWOK NodeClass (only the fields the NodePool controllers read). */
export const cloudProvider = (options?: {
  readonly supportedNodeClasses?: ReadonlyArray<{ readonly group: string; readonly kind: string }>
  readonly wellKnownLabels?: ReadonlySet<string>
}): Layer.Layer<CloudProvider> =>
  Layer.succeed(
    CloudProvider,
    CloudProvider.of({
      name: "test",
      create: () => Effect.die("unused"),
      delete: () => Effect.die("unused"),
      get: () => Effect.die("unused"),
      list: () => Effect.die("unused"),
      getInstanceTypes: () => Effect.die("unused"),
      isDrifted: () => Effect.die("unused"),
      repairPolicies: [],
      wellKnownLabels: options?.wellKnownLabels ?? Labels.withProviderLabels(KWOKNodeClass.ProviderLabels),
      supportedNodeClasses: options?.supportedNodeClasses ?? [kwokKind]
    })
  )

/** What the ClusterState stub reports: mutate it from the test. */
export interface ClusterView {
  synced: boolean
  resources: Record<string, SchedulingResources.Resources>
}

/** A ClusterState stub implementing only `synced` and `nodePoolResources`. */
export const clusterState = (view: ClusterView): Layer.Layer<ClusterState> =>
  Layer.succeed(
    ClusterState,
    ClusterState.of({
      synced: Effect.sync(() => view.synced),
      nodePoolResources: (name: string) => Effect.sync(() => view.resources[name] ?? {})
    } as unknown as ClusterState["Service"])
  )

type Services = KubeClient | MemoryKube.MemoryApiServer | InformerCache.InformerCache | CloudProvider | ClusterState

/**
 * Runs a test body against a fresh in-memory API server and its informer cache, the test CloudProvider and a
 * ClusterState stub.
 */
export const run = <A, E, R>(
  body: Effect.Effect<A, E, R>,
  options?: {
    readonly cloudProvider?: Layer.Layer<CloudProvider>
    readonly cluster?: ClusterView
  }
): Effect.Effect<A, E, Exclude<R, Services>> =>
  Effect.provide(
    body,
    Layer.mergeAll(
      InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())),
      options?.cloudProvider ?? cloudProvider(),
      clusterState(options?.cluster ?? { synced: true, resources: {} })
    )
  ) as Effect.Effect<A, E, Exclude<R, Services>>

/** A NodePool's wire spec, with a default KWOK nodeClassRef and requirement. */
export const nodePoolSpec = (template?: {
  readonly metadata?: Record<string, unknown>
  readonly spec?: Record<string, unknown>
}) => ({
  template: {
    ...(template?.metadata === undefined ? {} : { metadata: template.metadata }),
    spec: {
      requirements: [{ key: Labels.CapacityType, operator: "In", values: ["on-demand"] }],
      nodeClassRef: { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: "default" },
      ...template?.spec
    }
  }
})

/** A NodePool manifest (wire form). */
export const nodePool = (
  name: string,
  options?: {
    readonly template?: Parameters<typeof nodePoolSpec>[0]
    readonly annotations?: Record<string, string>
    readonly spec?: Record<string, unknown>
  }
) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: options?.annotations === undefined ? { name } : { name, annotations: options.annotations },
  spec: { ...nodePoolSpec(options?.template), ...options?.spec }
})

/** A KWOKNodeClass manifest (wire form). */
export const kwokNodeClass = (name: string, options?: { readonly finalizers?: ReadonlyArray<string> }) => ({
  apiVersion: KWOKNodeClass.apiVersion,
  kind: KWOKNodeClass.kind,
  metadata: options?.finalizers === undefined ? { name } : { name, finalizers: options.finalizers },
  spec: {}
})

/** Creates objects in order. */
export const createNodePool = (object: ReturnType<typeof nodePool>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.NodePools, object as never))

/** Creates a KWOKNodeClass. */
export const createNodeClass = (object: ReturnType<typeof kwokNodeClass>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.KWOKNodeClasses, object as never))

/** Writes a KWOKNodeClass's conditions (status subresource). */
export const setNodeClassConditions = (name: string, conditions: ReadonlyArray<Condition>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.KWOKNodeClasses,
      name,
      { type: "merge", patch: { status: { conditions } } },
      { subresource: "status" }
    )
  )

/** The stored NodePool. */
export const getNodePool = (name: string): Effect.Effect<NodePool, unknown, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodePools, name))

/** The stored NodePool's condition of `type`. */
export const conditionOf = (name: string, type: string): Effect.Effect<Condition | undefined, unknown, KubeClient> =>
  Effect.map(getNodePool(name), (stored) => stored.status?.conditions?.find((condition) => condition.type === type))

/** Merge-patches a NodePool's spec (bumps its generation). */
export const patchNodePoolSpec = (name: string, spec: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.NodePools, name, { type: "merge", patch: { spec } })
  )
