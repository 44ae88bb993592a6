/**
 * A scriptable CloudProvider for tests, following upstream's fake provider (`pkg/cloudprovider/fake`): instance
 * types per NodePool, injected errors, a limit on create calls, drift, and a log of every call.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import type { NodePool } from "../../../src/api/NodePool.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"
import * as FakeInstanceTypes from "./InstanceTypes.ts"

/** The errors `create` can be made to fail with. */
export type CreateFailure =
  | CloudProvider.InsufficientCapacity
  | CloudProvider.NodeClassNotReady
  | CloudProvider.CreateError
  | CloudProvider.CloudProviderError

/** The test's handle on the fake: script it, then inspect what the code under test asked of it. */
export interface Controls {
  /** Replaces the catalogue every NodePool sees (unless it has its own). */
  setInstanceTypes(instanceTypes: ReadonlyArray<InstanceType.InstanceType>): Effect.Effect<void>
  setInstanceTypesForNodePool(
    nodePool: string,
    instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  ): Effect.Effect<void>
  /** Makes `getInstanceTypes` fail for a NodePool until cleared with `undefined`. */
  setErrorForNodePool(nodePool: string, error: CloudProvider.CloudProviderError | undefined): Effect.Effect<void>
  /** The next call of the operation fails with `error` (once). */
  failNextCreate(error: CreateFailure): Effect.Effect<void>
  failNextGet(error: CloudProvider.NodeClaimNotFound | CloudProvider.CloudProviderError): Effect.Effect<void>
  failNextDelete(error: CloudProvider.NodeClaimNotFound | CloudProvider.CloudProviderError): Effect.Effect<void>
  /** Create calls beyond this many fail (upstream `AllowedCreateCalls`). */
  setAllowedCreateCalls(count: number): Effect.Effect<void>
  /** What `isDrifted` answers for every NodeClaim. */
  setDrifted(reason: CloudProvider.DriftReason | undefined): Effect.Effect<void>
  readonly createCalls: Effect.Effect<ReadonlyArray<NodeClaim>>
  readonly deleteCalls: Effect.Effect<ReadonlyArray<NodeClaim>>
  readonly getCalls: Effect.Effect<ReadonlyArray<string>>
  /** Instances that exist, by providerID. */
  readonly instances: Effect.Effect<ReadonlyMap<string, NodeClaim>>
  /** Back to the initial state: default catalogue, no errors, no instances, empty logs. */
  readonly reset: Effect.Effect<void>
}

/** The controls of the fake CloudProvider. */
export class FakeCloudProvider extends Context.Service<FakeCloudProvider, Controls>()(
  "karpenter-effect/layers/cloudprovider/fake/FakeCloudProvider"
) {}

interface State {
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  instanceTypesForNodePool: Map<string, ReadonlyArray<InstanceType.InstanceType>>
  errorsForNodePool: Map<string, CloudProvider.CloudProviderError>
  nextCreateError: CreateFailure | undefined
  nextGetError: CloudProvider.NodeClaimNotFound | CloudProvider.CloudProviderError | undefined
  nextDeleteError: CloudProvider.NodeClaimNotFound | CloudProvider.CloudProviderError | undefined
  allowedCreateCalls: number
  drifted: CloudProvider.DriftReason | undefined
  createCalls: Array<NodeClaim>
  deleteCalls: Array<NodeClaim>
  getCalls: Array<string>
  instances: Map<string, NodeClaim>
  /** Remaining capacity of reserved offerings, by instance type and reservation. */
  reservations: Map<string, number>
  launched: number
}

const initialState = (): State => ({
  instanceTypes: FakeInstanceTypes.defaults(),
  instanceTypesForNodePool: new Map(),
  errorsForNodePool: new Map(),
  nextCreateError: undefined,
  nextGetError: undefined,
  nextDeleteError: undefined,
  allowedCreateCalls: Number.MAX_SAFE_INTEGER,
  drifted: undefined,
  createCalls: [],
  deleteCalls: [],
  getCalls: [],
  instances: new Map(),
  reservations: new Map(),
  launched: 0
})

const reservationKey = (instanceType: InstanceType.InstanceType, offering: InstanceType.Offering): string =>
  `${instanceType.name}/${offering.zone}/${Requirement.values(Requirements.get(offering.requirements, FakeInstanceTypes.ReservationIDLabel)).join(",")}`

const catalogueFor = (state: State, nodePool: string | undefined) =>
  (nodePool === undefined ? undefined : state.instanceTypesForNodePool.get(nodePool)) ?? state.instanceTypes

/** What a reserved offering has left: its declared capacity less the launches into it (upstream's fake counts down). */
const reservationLeft = (state: State, instanceType: InstanceType.InstanceType, offering: InstanceType.Offering) =>
  state.reservations.get(reservationKey(instanceType, offering)) ?? offering.reservationCapacity ?? 0

/** The NodePool's catalogue as offered now: reservations with what they have left, unavailable once used up. */
const offeredTo = (state: State, nodePool: string | undefined) =>
  InstanceType.withReservationCapacity(catalogueFor(state, nodePool), (instanceType, offering) =>
    reservationLeft(state, instanceType, offering)
  )

/**
 * Upstream's choice: among types compatible with the NodeClaim's requirements, with an available compatible offering,
 * and whose allocatable fits the requested resources, the cheapest; then a reserved offering with capacity left if
 * there is one, else the cheapest offering.
 *
 * Compatibility is upstream's `reqs.Compatible(it.Requirements, AllowUndefinedWellKnownLabels)`: the NodeClaim's
 * requirements are the receiver, so every (non-well-known) key the instance type constrains must be defined by the
 * NodeClaim, while keys only the NodeClaim constrains (its NodeClass label, template labels such as `team`) need not
 * be defined by the type; keys on both sides must intersect.
 */
const launch = (state: State, nodeClaim: NodeClaim): NodeClaim | CloudProvider.InsufficientCapacity => {
  const requirements = Requirements.fromNodeSelectorRequirements(nodeClaim.spec.requirements)
  const requests = Resources.fromResourceList(nodeClaim.spec.resources?.requests)
  const nodePool = nodeClaim.metadata.labels?.[Labels.NodePool]
  const wellKnown = FakeInstanceTypes.wellKnownLabels
  const candidates = offeredTo(state, nodePool).filter(
    (instanceType) =>
      Requirements.isCompatible(requirements, instanceType.requirements, { allowUndefined: wellKnown }) &&
      InstanceType.compatibleOfferings(instanceType, requirements, wellKnown).length > 0 &&
      Resources.fits(requests, instanceType.allocatable)
  )
  const [instanceType] = InstanceType.orderByPrice(candidates, requirements, wellKnown)
  if (instanceType === undefined) {
    return new CloudProvider.InsufficientCapacity({
      message: `insufficient capacity, no instance type satisfies ${Requirements.format(requirements)}`
    })
  }
  const offerings = InstanceType.compatibleOfferings(instanceType, requirements, wellKnown)
  const reserved = offerings.find((offering) => offering.capacityType === Labels.CapacityTypeReserved)
  const offering = reserved ?? [...offerings].sort(InstanceType.compareOfferings)[0]!
  if (reserved !== undefined) {
    state.reservations.set(reservationKey(instanceType, reserved), reservationLeft(state, instanceType, reserved) - 1)
  }
  // Upstream labels every In requirement of the type with its first value; narrowing by the NodeClaim's own
  // requirement first keeps the label compatible with what was asked for.
  const labels: Record<string, string> = {}
  for (const [key, requirement] of instanceType.requirements) {
    const narrowed = Requirement.intersection(requirement, Requirements.get(requirements, key))
    if (Requirement.operator(narrowed) === "In") labels[key] = Requirement.values(narrowed)[0]!
  }
  // Upstream propagates the offering's requirements: zone, capacity type and reservation id.
  for (const [key, requirement] of offering.requirements) {
    const [value] = Requirement.values(requirement)
    if (Requirement.operator(requirement) === "In" && value !== undefined) labels[key] = value
  }
  state.launched += 1
  return {
    ...nodeClaim,
    metadata: { ...nodeClaim.metadata, labels: { ...labels, ...nodeClaim.metadata.labels } },
    status: {
      ...nodeClaim.status,
      providerID: `fake://${nodeClaim.metadata.name ?? "nodeclaim"}-${state.launched}`,
      capacity: Resources.toResourceList(instanceType.capacity),
      allocatable: Resources.toResourceList(instanceType.allocatable)
    }
  }
}

const make = Effect.sync(() => {
  let state = initialState()
  const providerIDOf = (nodeClaim: NodeClaim) => nodeClaim.status?.providerID ?? ""

  const cloudProvider = CloudProvider.CloudProvider.of({
    name: "fake",
    create: (nodeClaim) =>
      Effect.suspend(() => {
        state.createCalls.push(nodeClaim)
        const injected = state.nextCreateError
        if (injected !== undefined) {
          state.nextCreateError = undefined
          return Effect.fail(injected)
        }
        if (state.createCalls.length > state.allowedCreateCalls) {
          return Effect.fail(
            new CloudProvider.CloudProviderError({
              method: "create",
              message: "erroring as number of AllowedCreateCalls has been exceeded"
            })
          )
        }
        const launched = launch(state, nodeClaim)
        if (launched instanceof CloudProvider.InsufficientCapacity) return Effect.fail(launched)
        state.instances.set(providerIDOf(launched), launched)
        return Effect.succeed(launched)
      }),
    delete: (nodeClaim) =>
      Effect.suspend(() => {
        state.deleteCalls.push(nodeClaim)
        const injected = state.nextDeleteError
        if (injected !== undefined) {
          state.nextDeleteError = undefined
          return Effect.fail(injected)
        }
        if (state.instances.delete(providerIDOf(nodeClaim))) return Effect.void
        return Effect.fail(
          new CloudProvider.NodeClaimNotFound({
            message: `nodeclaim not found, no instance ${providerIDOf(nodeClaim)}`
          })
        )
      }),
    get: (providerID) =>
      Effect.suspend(() => {
        state.getCalls.push(providerID)
        const injected = state.nextGetError
        if (injected !== undefined) {
          state.nextGetError = undefined
          return Effect.fail(injected)
        }
        const instance = state.instances.get(providerID)
        return instance === undefined
          ? Effect.fail(
              new CloudProvider.NodeClaimNotFound({ message: `nodeclaim not found, no instance ${providerID}` })
            )
          : Effect.succeed(instance)
      }),
    list: () => Effect.sync(() => [...state.instances.values()]),
    getInstanceTypes: (nodePool: NodePool) =>
      Effect.suspend(() => {
        const error = state.errorsForNodePool.get(nodePool.metadata.name ?? "")
        if (error !== undefined) return Effect.fail(error)
        return Effect.succeed(offeredTo(state, nodePool.metadata.name))
      }),
    isDrifted: () => Effect.sync(() => state.drifted),
    repairPolicies: [{ conditionType: "BadNode", conditionStatus: "False", tolerationMillis: 30 * 60_000 }],
    wellKnownLabels: FakeInstanceTypes.wellKnownLabels,
    supportedNodeClasses: [{ group: FakeInstanceTypes.NodeClassGroup, kind: FakeInstanceTypes.NodeClassKind }]
  })

  const controls = FakeCloudProvider.of({
    setInstanceTypes: (instanceTypes) =>
      Effect.sync(() => {
        state.instanceTypes = instanceTypes
      }),
    setInstanceTypesForNodePool: (nodePool, instanceTypes) =>
      Effect.sync(() => {
        state.instanceTypesForNodePool.set(nodePool, instanceTypes)
      }),
    setErrorForNodePool: (nodePool, error) =>
      Effect.sync(() =>
        error === undefined ? state.errorsForNodePool.delete(nodePool) : state.errorsForNodePool.set(nodePool, error)
      ),
    failNextCreate: (error) =>
      Effect.sync(() => {
        state.nextCreateError = error
      }),
    failNextGet: (error) =>
      Effect.sync(() => {
        state.nextGetError = error
      }),
    failNextDelete: (error) =>
      Effect.sync(() => {
        state.nextDeleteError = error
      }),
    setAllowedCreateCalls: (count) =>
      Effect.sync(() => {
        state.allowedCreateCalls = count
      }),
    setDrifted: (reason) =>
      Effect.sync(() => {
        state.drifted = reason
      }),
    createCalls: Effect.sync(() => [...state.createCalls]),
    deleteCalls: Effect.sync(() => [...state.deleteCalls]),
    getCalls: Effect.sync(() => [...state.getCalls]),
    instances: Effect.sync(() => new Map(state.instances)),
    reset: Effect.sync(() => {
      state = initialState()
    })
  })

  return Context.make(CloudProvider.CloudProvider, cloudProvider).pipe(Context.add(FakeCloudProvider, controls))
})

/** The fake provider and its controls, sharing one state. */
export const layer: Layer.Layer<CloudProvider.CloudProvider | FakeCloudProvider> = Layer.effectContext(make)
