/**
 * Helpers of the disruption controller tests: a whole Karpenter process (every controller, disruption included) on
 * the KWOK provider with a small, hand-priced catalogue and the embedded control plane, all on the TestClock;
 * NodeClaims launched directly (so each test lays out its nodes exactly), pods bound to them, and a disruption log.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as KwokCloudProvider from "../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import * as Taints from "../../../src/api/Taints.ts"
import * as Catalog from "../../../src/cloudprovider/Catalog.ts"
import type * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as CapacityBufferController from "../../../src/controllers/capacitybuffer/CapacityBufferController.ts"
import * as Disruption from "../../../src/controllers/disruption/Disruption.ts"
import * as DisruptionLog from "../../../src/controllers/disruption/DisruptionLog.ts"
import * as Health from "../../../src/controllers/node/health/Health.ts"
import * as Termination from "../../../src/controllers/node/termination/Termination.ts"
import * as DisruptionConditions from "../../../src/controllers/nodeclaim/disruption/DisruptionConditions.ts"
import * as Expiration from "../../../src/controllers/nodeclaim/expiration/Expiration.ts"
import * as Lifecycle from "../../../src/controllers/nodeclaim/lifecycle/Lifecycle.ts"
import * as PodEvents from "../../../src/controllers/nodeclaim/podevents/PodEvents.ts"
import * as NodeOverlayController from "../../../src/controllers/nodeoverlay/NodeOverlayController.ts"
import * as Hash from "../../../src/controllers/nodepool/hash/Hash.ts"
import * as NodePoolControllers from "../../../src/controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../../../src/controllers/provisioning/Provisioner.ts"
import type * as Scheduler from "../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import * as StaticCapacity from "../../../src/controllers/static/StaticCapacity.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"

export const Zone = "test-zone-a"

/** A capacity reservation of an instance type: its id, how many instances it holds, and its price. */
export interface Reservation {
  readonly id: string
  readonly capacity: number
  readonly price: number
}

/**
 * A linux/amd64 instance type in one zone, `cpu` cores and 4 GiB per core, no overhead: on-demand at `price`, spot
 * at `spotPrice` and reserved through `reservation` when given.
 */
export const instanceType = (
  name: string,
  cpu: number,
  price: number,
  options: { readonly spotPrice?: number; readonly reservation?: Reservation } = {}
): InstanceType.InstanceType =>
  Catalog.toInstanceType({
    name,
    architecture: "amd64",
    operatingSystems: ["linux"],
    cpu: String(cpu),
    memory: `${cpu * 4}Gi`,
    pods: 110,
    overhead: { cpu: "0", memory: "0" },
    offerings: [
      { zone: Zone, capacityType: Labels.CapacityTypeOnDemand, price, available: true },
      ...(options.spotPrice === undefined
        ? []
        : [{ zone: Zone, capacityType: Labels.CapacityTypeSpot, price: options.spotPrice, available: true }]),
      ...(options.reservation === undefined
        ? []
        : [
            {
              zone: Zone,
              capacityType: Labels.CapacityTypeReserved,
              price: options.reservation.price,
              available: true,
              reservationID: options.reservation.id,
              reservationCapacity: options.reservation.capacity
            }
          ])
    ]
  })

/**
 * The default catalogue: price is not linear in size, so one large node is cheaper than two medium ones
 * (small 2 cpu $0.10, medium 4 cpu $0.20, large 8 cpu $0.30).
 */
export const catalogue = (): Array<InstanceType.InstanceType> => [
  instanceType("small", 2, 0.1),
  instanceType("medium", 4, 0.2),
  instanceType("large", 8, 0.3)
]

/**
 * The in-memory API server and the KWOK provider selling `instanceTypes` (their reservations only under the
 * ReservedCapacity gate, `reservedCapacity`).
 */
export const base = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType> = catalogue(),
  options: { readonly reservedCapacity?: boolean } = {}
): Layer.Layer<KubeClient | MemoryKube.MemoryApiServer | CloudProvider.CloudProvider> =>
  KwokCloudProvider.layer({ instanceTypes, ...options }).pipe(Layer.provideMerge(MemoryKube.layer()))

/**
 * Starts one Karpenter process with every controller (as the operator composes them) and the embedded control plane.
 * `disruption` wraps the disruption controller's start (a test may run it on another Clock). Returns the log of the
 * disruption decisions.
 */
export const start = (
  options: {
    readonly disruption?: Disruption.Options
    /** The StaticCapacity feature gate. */
    readonly staticCapacity?: boolean
    /** The NodeOverlay feature gate: the controllers see the overlaid provider and the overlay controller runs. */
    readonly nodeOverlay?: boolean
    /** Node repair's options (its NodeRepair gate is off unless given). */
    readonly health?: Health.Options
    /** The ReservedCapacity feature gate, for the provisioner and the disruption controller. */
    readonly reservedCapacity?: boolean
    /** MIN_VALUES_POLICY, for the provisioner and the disruption controller's simulations (as the operator passes it). */
    readonly minValuesPolicy?: Scheduler.MinValuesPolicy
    /** The CapacityBuffer feature gate: the buffer controller runs; provisioning and disruption see virtual pods. */
    readonly capacityBuffer?: boolean
    readonly wrapDisruption?: <A, E, R>(
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E, R | CloudProvider.CloudProvider>
  } = {}
) =>
  Effect.gen(function* () {
    const log = DisruptionLog.inMemory()
    const wrap = options.wrapDisruption ?? ((effect) => effect)
    const minValuesPolicy = options.minValuesPolicy === undefined ? {} : { minValuesPolicy: options.minValuesPolicy }
    const controllers = NodeOverlayController.gated(
      { nodeOverlay: options.nodeOverlay === true },
      Layer.mergeAll(
        S.controlPlane,
        NodePoolControllers.layer,
        Layer.effectDiscard(Lifecycle.make),
        Layer.effectDiscard(DisruptionConditions.make),
        Layer.effectDiscard(PodEvents.make),
        Layer.effectDiscard(Expiration.make),
        Layer.effectDiscard(
          wrap(
            Disruption.make({
              ...options.disruption,
              ...minValuesPolicy,
              reservedCapacity: options.reservedCapacity === true,
              capacityBuffer: options.capacityBuffer === true
            })
          )
        ),
        Layer.effectDiscard(Termination.make),
        Layer.effectDiscard(Health.run(options.health)),
        Layer.effectDiscard(
          Provisioner.run({
            ...minValuesPolicy,
            reservedCapacity: options.reservedCapacity === true,
            capacityBuffer: options.capacityBuffer === true
          })
        ),
        Layer.effectDiscard(StaticCapacity.make({ staticCapacity: options.staticCapacity === true })),
        options.capacityBuffer === true ? Layer.effectDiscard(CapacityBufferController.make()) : Layer.empty
      )
    ).pipe(Layer.provideMerge(S.processServices))
    yield* Layer.build(controllers.pipe(Layer.provide(Layer.succeed(DisruptionLog.DisruptionLog, log.service))))
    yield* S.settle
    return log
  })

/** A budget of a NodePool. */
export interface Budget {
  readonly nodes: string
  readonly schedule?: string
  readonly duration?: string
  readonly reasons?: ReadonlyArray<string>
}

/** A requirement of a NodePool's template, with its minValues. */
export interface Requirement {
  readonly key: string
  readonly operator: string
  readonly values?: ReadonlyArray<string>
  readonly minValues?: number
}

/**
 * A NodePool on the KWOK NodeClass, on-demand only unless `capacityTypes` says otherwise, with further `requirements`
 * and disruption settings.
 */
export const nodePool = (
  name: string,
  options: {
    readonly capacityTypes?: ReadonlyArray<string>
    readonly requirements?: ReadonlyArray<Requirement>
    readonly consolidateAfter?: string
    readonly consolidationPolicy?: "WhenEmpty" | "WhenEmptyOrUnderutilized" | "Balanced"
    readonly budgets?: ReadonlyArray<Budget>
    readonly labels?: Record<string, string>
    readonly expireAfter?: string
    readonly terminationGracePeriod?: string
  } = {}
) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name },
  spec: {
    template: {
      ...(options.labels === undefined ? {} : { metadata: { labels: options.labels } }),
      spec: {
        nodeClassRef: S.kwokNodeClassRef,
        requirements: [
          { key: Labels.CapacityType, operator: "In", values: options.capacityTypes ?? [Labels.CapacityTypeOnDemand] },
          ...(options.requirements ?? [])
        ],
        ...(options.expireAfter === undefined ? {} : { expireAfter: options.expireAfter }),
        ...(options.terminationGracePeriod === undefined
          ? {}
          : { terminationGracePeriod: options.terminationGracePeriod })
      }
    },
    disruption: {
      consolidateAfter: options.consolidateAfter ?? "30s",
      consolidationPolicy: options.consolidationPolicy ?? "WhenEmptyOrUnderutilized",
      ...(options.budgets === undefined ? {} : { budgets: options.budgets })
    }
  }
})

/** Creates the KWOK NodeClass (registration without delay) and the NodePool. */
export const setup = (pool: ReturnType<typeof nodePool>) =>
  Effect.gen(function* () {
    yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
    yield* S.createNodePool(pool as never)
  })

/**
 * Launches a NodeClaim of `instanceType` for the NodePool, as the provisioner would write it (labels, the NodePool's
 * hash, its template's expireAfter and terminationGracePeriod), on-demand unless `capacityType` says otherwise; KWOK registers its Node (same
 * name) at once.
 */
export const launch = (
  name: string,
  type: string,
  options: { readonly nodePool?: string; readonly capacityType?: string } = {}
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const pool = yield* kube.get(Resources.NodePools, options.nodePool ?? "default")
    const poolName = pool.metadata.name ?? ""
    yield* kube.create(Resources.NodeClaims, {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: {
        name,
        labels: {
          ...pool.spec.template.metadata?.labels,
          [Labels.NodePool]: poolName,
          [KWOKNodeClass.NodeClassLabel]: "default"
        },
        annotations: {
          [Labels.NodePoolHashAnnotation]: Hash.hashOf(pool),
          [Labels.NodePoolHashVersionAnnotation]: Labels.NodePoolHashVersion
        }
      },
      spec: {
        nodeClassRef: S.kwokNodeClassRef,
        requirements: [
          { key: Labels.NodePool, operator: "In", values: [poolName] },
          { key: Labels.InstanceType, operator: "In", values: [type] },
          { key: Labels.CapacityType, operator: "In", values: [options.capacityType ?? Labels.CapacityTypeOnDemand] }
        ],
        expireAfter: pool.spec.template.spec.expireAfter,
        ...(pool.spec.template.spec.terminationGracePeriod === undefined
          ? {}
          : { terminationGracePeriod: pool.spec.template.spec.terminationGracePeriod })
      }
    } as never)
  })

/** A pod bound to `node` (the kubelet starts it), requesting `cpu`. */
export const boundPod = (
  name: string,
  node: string,
  options: {
    readonly cpu?: string
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
  } = {}
) =>
  S.createPod({
    ...S.pod(name, {
      cpu: options.cpu ?? "1",
      ...(options.labels === undefined ? {} : { labels: options.labels }),
      spec: { nodeName: node }
    }),
    ...(options.annotations === undefined
      ? {}
      : {
          metadata: {
            name,
            namespace: "default",
            labels: options.labels ?? { app: name },
            annotations: options.annotations
          }
        })
  } as never)

/** Creates a PodDisruptionBudget in `default` selecting the pods labelled `app: <app>`. */
export const createPodDisruptionBudget = (
  name: string,
  app: string,
  limit: { readonly maxUnavailable: number | string } | { readonly minAvailable: number | string }
) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(
      Resources.PodDisruptionBudgets,
      {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name, namespace: "default" },
        spec: { ...limit, selector: { matchLabels: { app } } }
      } as never,
      { namespace: "default" }
    )
  )

/**
 * Creates a DaemonSet in `default` whose pods (labelled `app: <name>`) run on the node `node` only, with the
 * template's `tolerations`.
 */
export const createDaemonSet = (
  name: string,
  node: string,
  tolerations: ReadonlyArray<{ readonly key?: string; readonly operator: string; readonly effect?: string }> = []
) =>
  S.createDaemonSet(name, {
    nodeSelector: { [Labels.Hostname]: node },
    tolerations,
    containers: [S.container("100m", "64Mi")]
  })

/** Names of the Nodes that exist and are not being deleted. */
export const liveNodes = Effect.map(S.listNodes, (nodes) =>
  nodes.filter((node) => node.metadata.deletionTimestamp === undefined).map((node) => node.metadata.name ?? "")
)

/** Every Node's name (deleting ones too). */
export const nodeNames = Effect.map(S.listNodes, (nodes) => nodes.map((node) => node.metadata.name ?? ""))

/** The instance type of each live Node, by name. */
export const nodeTypes = Effect.map(S.listNodes, (nodes) =>
  Object.fromEntries(
    nodes
      .filter((node) => node.metadata.deletionTimestamp === undefined)
      .map((node) => [node.metadata.name ?? "", node.metadata.labels?.[Labels.InstanceType] ?? ""])
  )
)

/** Names of the NodeClaims that are Initialized (and not deleting). */
export const initializedClaims = Effect.map(S.listNodeClaims, (claims) =>
  claims
    .filter(
      (claim) =>
        claim.metadata.deletionTimestamp === undefined &&
        Conditions.isTrue(claim.status?.conditions, ConditionTypes.Initialized)
    )
    .map((claim) => claim.metadata.name ?? "")
)

/**
 * How many of the NodePool's nodes are being disrupted now: NodeClaims deleting, or Nodes carrying the
 * disrupted taint (marked by a command whose replacements are still launching).
 */
export const disrupting = Effect.gen(function* () {
  const claims = yield* S.listNodeClaims
  const nodes = yield* S.listNodes
  const names = new Set<string>()
  for (const claim of claims) if (claim.metadata.deletionTimestamp !== undefined) names.add(claim.metadata.name ?? "")
  for (const node of nodes) {
    if (node.metadata.deletionTimestamp !== undefined) names.add(node.metadata.name ?? "")
    if ((node.spec.taints ?? []).some((taint) => taint.key === Taints.DisruptedNoSchedule.key))
      names.add(node.metadata.name ?? "")
  }
  return names.size
})

/** The Events with a reason, as `name: message`. */
export const eventsWithReason = (reason: string) =>
  Effect.map(S.listEvents, (events) =>
    events.filter((event) => event.reason === reason).map((event) => `${event.involvedObject.name}: ${event.message}`)
  )

/** The Events with a reason, as `kind/name: message` (to tell a Node's from its NodeClaim's). */
export const eventsOn = (reason: string) =>
  Effect.map(S.listEvents, (events) =>
    events
      .filter((event) => event.reason === reason)
      .map((event) => `${event.involvedObject.kind}/${event.involvedObject.name}: ${event.message}`)
  )

/** A pod bound to `node` that only that node can take (it selects the node's hostname), requesting `cpu`. */
export const pinnedPod = (name: string, node: string, cpu = "1") =>
  S.createPod(S.pod(name, { cpu, spec: { nodeName: node, nodeSelector: { "kubernetes.io/hostname": node } } }) as never)

/**
 * Watches the Nodes from now on and tracks how many are being disrupted at once (tainted karpenter.sh/disrupted or
 * deleting), at every write the API server sees: `most()` is the peak, `now()` the current count; `seen()` every
 * Node that appeared, with its instance type (`seenLabels()`: with the labels it first had); `liveCounts()` how many
 * Nodes were live (not deleting) after each change of that number.
 */
export const trackDisrupting = Effect.gen(function* () {
  const kube = yield* KubeClient
  const current = new Set<string>()
  const live = new Set<string>()
  const liveCounts: Array<number> = []
  const seen = new Map<string, string>()
  const seenLabels = new Map<string, Readonly<Record<string, string>>>()
  let most = 0
  yield* Stream.runForEach(kube.watch(Resources.Nodes), (event) =>
    Effect.sync(() => {
      if (event.type === "BOOKMARK") return
      const node = event.object
      const name = node.metadata.name ?? ""
      if (!seen.has(name)) {
        seen.set(name, node.metadata.labels?.[Labels.InstanceType] ?? "")
        seenLabels.set(name, node.metadata.labels ?? {})
      }
      const disrupted =
        event.type !== "DELETED" &&
        (node.metadata.deletionTimestamp !== undefined ||
          (node.spec.taints ?? []).some((taint) => taint.key === Taints.DisruptedNoSchedule.key))
      if (disrupted) current.add(name)
      else current.delete(name)
      most = Math.max(most, current.size)
      if (event.type !== "DELETED" && node.metadata.deletionTimestamp === undefined) live.add(name)
      else live.delete(name)
      if (liveCounts.at(-1) !== live.size) liveCounts.push(live.size)
    })
  ).pipe(Effect.forkScoped)
  yield* S.settle
  return {
    most: () => most,
    now: () => current.size,
    seen: () => new Map(seen),
    seenLabels: () => new Map(seenLabels),
    liveCounts: () => [...liveCounts]
  }
})

/** A disruption log's commands as reason, candidates and replacements (without their times). */
export const summary = (log: {
  entries: () => ReadonlyArray<{
    reason: string
    candidates: ReadonlyArray<string>
    replacements: ReadonlyArray<string>
  }>
}) => log.entries().map(({ reason, candidates, replacements }) => ({ reason, candidates, replacements }))
