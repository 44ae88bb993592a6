/**
 * Helpers of the NodeClaim disruption-condition, pod-event and expiration tests: the in-memory API server with the
 * fake provider, NodeClaims created in a given state, and virtual time.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { Condition } from "../../../../src/api/Meta.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import type { CloudProvider } from "../../../../src/cloudprovider/CloudProvider.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import { settle } from "../../../support/Settle.ts"

export { settle }

/** Advances the virtual clock by `millis` in one step, then lets fibers settle. */
export const advance = (millis: number): Effect.Effect<void> => Effect.andThen(TestClock.adjust(millis), settle)

type Services =
  | KubeClient
  | MemoryKube.MemoryApiServer
  | InformerCache.InformerCache
  | CloudProvider
  | Fake.FakeCloudProvider
  | EventRecorder

/** Runs a test body against a fresh in-memory API server, its informer cache, the fake provider and event recorder. */
export const run = <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Services>> =>
  Effect.provide(
    body,
    Layer.mergeAll(EventRecorder.layer, InformerCache.layer).pipe(
      Layer.provideMerge(Layer.mergeAll(MemoryKube.layer(), Fake.layer))
    )
  ) as Effect.Effect<A, E, Exclude<R, Services>>

/** The fake provider's NodeClass reference. */
export const nodeClassRef = {
  group: FakeInstanceTypes.NodeClassGroup,
  kind: FakeInstanceTypes.NodeClassKind,
  name: "default"
} as const

/** The zones the default NodePool allows. */
export const zoneRequirement = (...zones: ReadonlyArray<string>) => ({
  key: Labels.Zone,
  operator: "In",
  values: zones
})

/** Creates a NodePool (wire form) and returns it decoded. */
export const createNodePool = (
  name: string,
  options: {
    readonly requirements?: ReadonlyArray<{ key: string; operator: string; values?: ReadonlyArray<string> }>
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly consolidateAfter?: string
  } = {}
) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.NodePools, {
      apiVersion: "karpenter.sh/v1",
      kind: "NodePool",
      metadata: options.annotations === undefined ? { name } : { name, annotations: options.annotations },
      spec: {
        template: {
          ...(options.labels === undefined ? {} : { metadata: { labels: options.labels } }),
          spec: {
            nodeClassRef,
            requirements: options.requirements ?? [zoneRequirement("test-zone-1", "test-zone-2")]
          }
        },
        disruption: { consolidateAfter: options.consolidateAfter ?? "30s" }
      }
    } as never)
  )

/** Merge-patches a NodePool (metadata or spec). */
export const patchNodePool = (name: string, patch: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.patch(Resources.NodePools, name, { type: "merge", patch }))

/** The labels the fake provider would give a NodeClaim of `default-instance-type`, on-demand in test-zone-1. */
export const launchedLabels = (nodePool = "default"): Record<string, string> => ({
  [Labels.NodePool]: nodePool,
  [Labels.InstanceType]: "default-instance-type",
  [Labels.Zone]: "test-zone-1",
  [Labels.CapacityType]: Labels.CapacityTypeOnDemand,
  [Labels.Arch]: Labels.ArchAmd64
})

/** Creates a NodeClaim (wire form) and returns it decoded. */
export const createNodeClaim = (
  name: string,
  options: {
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly expireAfter?: string
    readonly nodeClassRef?: { readonly group: string; readonly kind: string; readonly name: string }
    readonly finalizers?: ReadonlyArray<string>
  } = {}
) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.NodeClaims, {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: {
        name,
        labels: options.labels ?? launchedLabels(),
        ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
        ...(options.finalizers === undefined ? {} : { finalizers: options.finalizers })
      },
      spec: {
        nodeClassRef: options.nodeClassRef ?? nodeClassRef,
        requirements: [],
        ...(options.expireAfter === undefined ? {} : { expireAfter: options.expireAfter })
      }
    } as never)
  )

/** Conditions True since `now`, as the lifecycle writes them. */
export const trueConditions = (types: ReadonlyArray<string>) =>
  Effect.map(
    Clock.currentTimeMillis,
    (now): ReadonlyArray<Condition> =>
      types.map((type) => ({ type, status: "True", lastTransitionTime: Conditions.timestamp(now), reason: type }))
  )

/** Writes a NodeClaim's status (status subresource, merge patch). */
export const patchNodeClaimStatus = (name: string, status: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.NodeClaims, name, { type: "merge", patch: { status } }, { subresource: "status" })
  )

/** The stored NodeClaim. */
export const getNodeClaim = (name: string): Effect.Effect<NodeClaim, unknown, KubeClient> =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodeClaims, name))

/** The stored NodeClaim's condition of `type`, if any. */
export const conditionOf = (name: string, type: string): Effect.Effect<Condition | undefined, unknown, KubeClient> =>
  Effect.map(getNodeClaim(name), (claim) => Conditions.get(claim.status?.conditions, type))

/** Creates a Node with a providerID. */
export const createNode = (name: string, providerID: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.Nodes, { apiVersion: "v1", kind: "Node", metadata: { name }, spec: { providerID } } as never)
  )

/** Creates a pod in `default`, bound to `nodeName` when given. */
export const createPod = (
  name: string,
  options: { readonly nodeName?: string; readonly ownerReferences?: ReadonlyArray<Record<string, unknown>> } = {}
) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(
      Resources.Pods,
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: "default",
          ...(options.ownerReferences === undefined ? {} : { ownerReferences: options.ownerReferences })
        },
        spec: {
          containers: [{ name: "app", image: "app" }],
          ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName })
        }
      } as never,
      { namespace: "default" }
    )
  )
