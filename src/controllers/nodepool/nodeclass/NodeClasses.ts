/**
 * What the NodePool controllers share (upstream `pkg/utils/nodepool`): which NodePools the cloud provider manages,
 * the lookup of a NodePool's NodeClass, the NodeClass → NodePools mapping of their watches, and the optimistic-lock
 * status patch.
 */
import * as Effect from "effect/Effect"
import type { Condition } from "../../../api/Meta.ts"
import * as NodeClassRef from "../../../api/NodeClassRef.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import { CloudProvider, type NodeClassKind } from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import type * as KubeError from "../../../kube/KubeError.ts"
import type * as Resource from "../../../kube/Resource.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import type * as Informer from "../../../runtime/Informer.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"

/** What the controllers read of any NodeClass: its metadata and its conditions. */
export interface NodeClassObject extends Resource.KubeObject {
  readonly status?: { readonly conditions?: ReadonlyArray<Condition> | undefined } | undefined
}

/** A running informer over one supported NodeClass kind. */
export interface NodeClassInformer {
  readonly kind: NodeClassKind
  readonly informer: Informer.Informer<NodeClassObject>
}

/** Whether the NodePool's NodeClass kind is one the cloud provider supports (upstream `IsManaged`). */
export const isManaged = (nodePool: NodePool, cloudProvider: CloudProvider["Service"]): boolean =>
  supports(cloudProvider, nodePool.spec.template.spec.nodeClassRef)

/** Whether the provider supports the kind of a NodeClass reference. */
export const supports = (cloudProvider: CloudProvider["Service"], ref: NodeClassRef.NodeClassRef): boolean =>
  cloudProvider.supportedNodeClasses.some((kind) => kind.group === ref.group && kind.kind === ref.kind)

/** The descriptor of a NodeClass kind, if this project knows the kind. */
export const resourceOf = (kind: NodeClassKind): Resource.Resource<NodeClassObject> | undefined =>
  // Every NodeClass kind carries `status.conditions` in the NodeClassObject shape, whatever else its schema has.
  Resources.all.find((resource) => resource.group === kind.group && resource.kind === kind.kind) as
    | Resource.Resource<NodeClassObject>
    | undefined

/** The process's informer of every supported NodeClass kind this project has a descriptor for. */
export const makeInformers = Effect.fn("NodeClasses.makeInformers")(function* (
  cloudProvider: CloudProvider["Service"]
): Effect.fn.Return<ReadonlyArray<NodeClassInformer>, never, InformerCache.InformerCache> {
  const informers: Array<NodeClassInformer> = []
  for (const kind of cloudProvider.supportedNodeClasses) {
    const resource = resourceOf(kind)
    if (resource !== undefined) informers.push({ kind, informer: yield* InformerCache.informer(resource) })
  }
  return informers
})

/** The {@link NodeClassRef.key} of a NodeClass of `kind`, under which the NodeClass indices file its dependents. */
export const refKey = (kind: NodeClassKind, nodeClass: Resource.KubeObject): string =>
  NodeClassRef.key({ group: kind.group, kind: kind.kind, name: nodeClass.metadata.name ?? "" })

/** The NodeClass of a NodePool, as upstream's `GetNodeClass` finds it. */
export type Lookup =
  /** The provider does not support the kind: the NodePool is not Karpenter's to manage. */
  | { readonly _tag: "Unmanaged" }
  /** Supported, but this project has no descriptor for the kind (the fake provider's TestNodeClass). */
  | { readonly _tag: "Unreadable"; readonly kind: NodeClassKind }
  | { readonly _tag: "NotFound"; readonly kind: NodeClassKind }
  | { readonly _tag: "Found"; readonly kind: NodeClassKind; readonly nodeClass: NodeClassObject }

/** Finds a NodePool's NodeClass in the informers' caches. */
export const lookup = (
  nodePool: NodePool,
  cloudProvider: CloudProvider["Service"],
  informers: ReadonlyArray<NodeClassInformer>
): Effect.Effect<Lookup> => {
  const ref = nodePool.spec.template.spec.nodeClassRef
  const kind = cloudProvider.supportedNodeClasses.find(
    (candidate) => candidate.group === ref.group && candidate.kind === ref.kind
  )
  if (kind === undefined) return Effect.succeed({ _tag: "Unmanaged" })
  const source = informers.find((candidate) => candidate.kind.group === ref.group && candidate.kind.kind === ref.kind)
  if (source === undefined) return Effect.succeed({ _tag: "Unreadable", kind })
  return Effect.map(source.informer.get(ref.name), (nodeClass) =>
    nodeClass === undefined ? { _tag: "NotFound", kind } : { _tag: "Found", kind, nodeClass }
  )
}

/** The watches that queue the NodePools referencing a changed NodeClass (upstream `NodeClassEventHandler`). */
export const nodeClassWatches = (
  informers: ReadonlyArray<NodeClassInformer>,
  nodePools: Informer.Informer<NodePool>
): ReadonlyArray<Controller.Watch<NodeClassObject>> =>
  informers.map(({ kind, informer }) => ({
    source: informer,
    map: (nodeClass: NodeClassObject) =>
      Controller.keysByIndex(nodePools, Indices.nodePoolNodeClass, refKey(kind, nodeClass))
  }))

/**
 * Merge-patches a NodePool's status with `metadata.resourceVersion` as a precondition: a JSON merge patch replaces the
 * whole conditions list, so a concurrent writer's condition would be lost without the lock.
 */
export const patchStatus = (
  nodePool: NodePool,
  status: Readonly<Record<string, unknown>>
): Effect.Effect<NodePool, WriteError, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.NodePools,
      nodePool.metadata.name ?? "",
      {
        type: "merge",
        patch: {
          metadata:
            nodePool.metadata.resourceVersion === undefined
              ? {}
              : { resourceVersion: nodePool.metadata.resourceVersion },
          status
        }
      },
      { subresource: "status" }
    )
  )

/** The failures of a write. */
export type WriteError = KubeError.NotFound | KubeError.Conflict | KubeError.Invalid | KubeError.KubeUnavailable

/**
 * A reconcile's write, done: a NodePool gone needs nothing; a conflict means a newer version exists, whose watch event
 * queues the NodePool again (the work queue re-runs a key added while it was being processed).
 */
export const settleWrite = <R>(
  write: Effect.Effect<unknown, WriteError, R>
): Effect.Effect<Result.Result, KubeError.Invalid | KubeError.KubeUnavailable, R> =>
  write.pipe(
    Effect.as(Result.done),
    Effect.catchTag(["NotFound", "Conflict"], () => Effect.succeed(Result.done))
  )

/**
 * Starts a NodePool status controller (`nodepool.readiness`, `nodepool.registrationhealth`): ten workers over the
 * NodePools, re-queued when their NodeClass changes; `reconcile` gets each live NodePool with its NodeClass lookup.
 */
export const nodePoolController = <E>(
  name: string,
  reconcile: (nodePool: NodePool, lookup: Lookup) => Effect.Effect<Result.Result, E, KubeClient>
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const cloudProvider = yield* CloudProvider
    const nodePools = yield* InformerCache.informer(Resources.NodePools)
    const nodeClasses = yield* makeInformers(cloudProvider)
    return yield* Controller.make({
      name,
      for: nodePools,
      watches: nodeClassWatches(nodeClasses, nodePools),
      concurrency: 10,
      reconcile: (_key, nodePool) =>
        nodePool === undefined
          ? Effect.succeed(Result.done)
          : Effect.flatMap(lookup(nodePool, cloudProvider, nodeClasses), (found) => reconcile(nodePool, found)).pipe(
              Effect.provideService(KubeClient, kube)
            )
    })
  })
