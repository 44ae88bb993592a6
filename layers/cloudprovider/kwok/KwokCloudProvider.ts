/**
 * The KWOK CloudProvider (upstream `kwok/cloudprovider`): "instances" are Node objects written to the API server
 * after the KWOKNodeClass's registration delay, with no machine behind them. Unlike upstream, everything is
 * deterministic: the cheapest offering wins with the CLI contract's tie rule, and the Node is named after the
 * NodeClaim (so is the providerID) instead of a random docker-style name.
 *
 * The "cloud" lives in the API server, not in the process that launched an instance: each launch writes an instance
 * record (a ConfigMap: the NodeClaim as launched, the Node to register and when), and every process running this
 * provider watches the records and writes each Node when its time comes. A leader that dies during the registration
 * delay thus loses nothing: the next process registers the Node on time (upstream's goroutine dies with its process,
 * and the NodeClaim waits for garbage collection).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type * as ConfigMap from "../../../src/api/ConfigMap.ts"
import * as Duration from "../../../src/api/Duration.ts"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { Taint } from "../../../src/api/Meta.ts"
import * as Node from "../../../src/api/Node.ts"
import { NodeClaim } from "../../../src/api/NodeClaim.ts"
import * as Taints from "../../../src/api/Taints.ts"
import * as Catalog from "../../../src/cloudprovider/Catalog.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import type * as KubeError from "../../../src/kube/KubeError.ts"
import type { KubeObject, Resource } from "../../../src/kube/Resource.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Informer from "../../../src/runtime/Informer.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as ResourceMath from "../../../src/scheduling/ResourceLists.ts"

/** The provider's name. */
export const name = "kwok"

/** The scheme of KWOK providerIDs: `kwok://<node name>`. */
export const ProviderIDPrefix = "kwok://"

/** The imageID every KWOK instance reports. */
export const ImageID = "kwok"

/** The kubelet version KWOK Nodes report. */
export const KubeletVersion = "v1.32.0"

/** The providerID of the instance launched for a NodeClaim (and of its Node). */
export const providerIDFor = (nodeClaimName: string): string => `${ProviderIDPrefix}${nodeClaimName}`

/** The label that marks a ConfigMap as an instance record (the provider lists and watches by it). */
export const InstanceRecordLabel = "karpenter.kwok.sh/instance"

/** Where the instance records live unless told: a namespace every cluster has. */
export const defaultNamespace = "kube-system"

/** Options of {@link layer}. */
export interface Options {
  /** The catalogue; default: the built-in KWOK catalogue (`Catalog.kwok()`). */
  readonly instanceTypes?: ReadonlyArray<InstanceType.InstanceType>
  /** The namespace of the instance records; default {@link defaultNamespace}. */
  readonly namespace?: string
  /** The ReservedCapacity feature gate: when off (the default), the catalogue's reservations are not offered. */
  readonly reservedCapacity?: boolean
}

/** Karpenter's and KWOK's well-known labels plus every key an instance type of `instanceTypes` defines. */
export const wellKnownLabelsFor = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>): ReadonlySet<string> =>
  new Set([
    ...Catalog.kwokWellKnownLabels,
    ...instanceTypes.flatMap((instanceType) => [...instanceType.requirements.keys()])
  ])

/** What was launched for a NodeClaim: the instance type and offering chosen. */
export interface Choice {
  readonly instanceType: InstanceType.InstanceType
  readonly offering: InstanceType.Offering
}

// Code-unit order: the choice must not depend on the machine's locale.
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// compareOfferings ranks price, then capacity type, then zone; across types the contract puts the type's name
// before the zone, so the zone is neutralised for the first comparison and compared last.
const withoutZone = (offering: InstanceType.Offering): InstanceType.Offering => ({ ...offering, zone: "" })

const compareChoices = (a: Choice, b: Choice): number =>
  InstanceType.compareOfferings(withoutZone(a.offering), withoutZone(b.offering)) ||
  compareStrings(a.instanceType.name, b.instanceType.name) ||
  compareStrings(a.offering.zone, b.offering.zone)

/**
 * The launch choice for a NodeClaim: among instance types whose requirements intersect the NodeClaim's (which
 * restricts them to its instance-type values, when it has any) and whose allocatable fits its requests, the
 * cheapest available compatible offering; ties: spot before on-demand, then type name, then zone.
 */
export const choose = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  nodeClaim: NodeClaim,
  wellKnown: ReadonlySet<string>
): Choice | undefined => {
  const requirements = Requirements.fromNodeSelectorRequirements(nodeClaim.spec.requirements)
  const requests = ResourceMath.fromResourceList(nodeClaim.spec.resources?.requests)
  let best: Choice | undefined
  for (const instanceType of instanceTypes) {
    if (!Requirements.hasIntersection(instanceType.requirements, requirements)) continue
    if (!ResourceMath.fits(requests, instanceType.allocatable)) continue
    for (const offering of InstanceType.compatibleOfferings(instanceType, requirements, wellKnown)) {
      const candidate = { instanceType, offering }
      if (best === undefined || compareChoices(candidate, best) < 0) best = candidate
    }
  }
  return best
}

/**
 * Upstream's `addInstanceLabels` without the node-only markers: the NodeClaim's labels, its single-value `In`
 * requirements, the type's and the offering's single-value requirements (its zone, capacity type and reservation id:
 * a NodeClaim that may launch into several reservations learns which one it got), and the NodeClass.
 */
export const launchedLabels = (nodeClaim: NodeClaim, choice: Choice): Record<string, string> => {
  const labels: Record<string, string> = { ...nodeClaim.metadata.labels }
  for (const requirement of nodeClaim.spec.requirements) {
    if (requirement.operator === "In" && requirement.values?.length === 1) {
      labels[requirement.key] = requirement.values[0]!
    }
  }
  labels[Labels.InstanceType] = choice.instanceType.name
  for (const requirements of [choice.instanceType.requirements, choice.offering.requirements]) {
    for (const [key, requirement] of requirements) {
      const values = Requirement.values(requirement)
      if (Requirement.operator(requirement) === "In" && values.length === 1) labels[key] = values[0]!
    }
  }
  labels[KWOKNodeClass.NodeClassLabel] = nodeClaim.spec.nodeClassRef.name
  return labels
}

/** The Node a launched instance registers: the launched labels plus the node-only markers, unregistered taint. */
export const toNode = (launched: NodeClaim, price: number): Node.Node => {
  const nodeName = launched.metadata.name ?? ""
  const taints: Array<Taint> = []
  // Kubernetes rejects two taints with the same key and effect; the first declaration wins.
  for (const taint of [
    ...(launched.spec.taints ?? []),
    ...(launched.spec.startupTaints ?? []),
    Taints.UnregisteredNoExecute
  ]) {
    if (taints.some((seen) => seen.key === taint.key && seen.effect === taint.effect)) continue
    taints.push({ key: taint.key, ...(taint.value === undefined ? {} : { value: taint.value }), effect: taint.effect })
  }
  const labels = launched.metadata.labels ?? {}
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: nodeName,
      labels: {
        ...labels,
        [KWOKNodeClass.PartitionLabel]: "a",
        [Labels.Hostname]: nodeName,
        [KWOKNodeClass.KwokNodeLabel]: "fake"
      },
      annotations: {
        [KWOKNodeClass.KwokNodeLabel]: "fake",
        [KWOKNodeClass.InstancePriceLabel]: String(price)
      }
    },
    spec: { providerID: launched.status?.providerID ?? providerIDFor(nodeName), taints },
    status: {
      ...(launched.status?.capacity === undefined ? {} : { capacity: launched.status.capacity }),
      ...(launched.status?.allocatable === undefined ? {} : { allocatable: launched.status.allocatable }),
      conditions: [],
      nodeInfo: {
        kubeletVersion: KubeletVersion,
        ...(labels[Labels.Arch] === undefined ? {} : { architecture: labels[Labels.Arch] }),
        ...(labels[Labels.OS] === undefined ? {} : { operatingSystem: labels[Labels.OS] })
      }
    }
  }
}

// A Node without an instance record (launched before records existed, or created by hand) is an instance too, read
// back as upstream's Node-backed Get and List do.
const fromNode = (node: Node.Node): NodeClaim => {
  const labels = node.metadata.labels ?? {}
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: { name: node.metadata.name ?? "", labels },
    spec: {
      requirements: [],
      nodeClassRef: {
        group: KWOKNodeClass.group,
        kind: KWOKNodeClass.kind,
        name: labels[KWOKNodeClass.NodeClassLabel] ?? ""
      },
      expireAfter: "720h"
    },
    status: {
      ...(node.metadata.name === undefined ? {} : { nodeName: node.metadata.name }),
      providerID: node.spec.providerID ?? "",
      imageID: ImageID,
      ...(node.status?.capacity === undefined ? {} : { capacity: node.status.capacity }),
      ...(node.status?.allocatable === undefined ? {} : { allocatable: node.status.allocatable })
    }
  }
}

/**
 * What an instance record's data holds: the NodeClaim as launched (what get and list return), the Node its "kubelet"
 * registers, and when (RFC 3339, in milliseconds; absent for a NodeClass that fails registration).
 */
const InstanceRecord = Schema.Struct({
  nodeClaim: Schema.fromJsonString(NodeClaim),
  node: Schema.fromJsonString(Node.Node),
  registersAt: Schema.optionalKey(Schema.String)
})
type InstanceRecord = typeof InstanceRecord.Type

const encodeRecord = Schema.encodeSync(InstanceRecord)
const decodeRecord = Schema.decodeUnknownOption(InstanceRecord)

/** The ConfigMap of an instance record, named after the instance; labelled with its type, zone and capacity type. */
const recordObject = (
  name: string,
  namespace: string,
  choice: Choice,
  record: InstanceRecord
): typeof Resources.ConfigMaps.schema.Encoded => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name,
    namespace,
    labels: {
      [InstanceRecordLabel]: "true",
      [Labels.InstanceType]: choice.instanceType.name,
      [Labels.Zone]: choice.offering.zone,
      [Labels.CapacityType]: choice.offering.capacityType,
      ...reservationLabelOf(choice.offering)
    }
  },
  data: encodeRecord(record)
})

/** The reservation-id label of a reserved offering (none for others). */
const reservationLabelOf = (offering: InstanceType.Offering): Record<string, string> => {
  const id = InstanceType.reservationIDOf(offering, KWOKNodeClass.ReservationIDLabel)
  return id === "" ? {} : { [KWOKNodeClass.ReservationIDLabel]: id }
}

/**
 * The catalogue as offered now: each reservation's declared capacity less the instances launched into it (by the
 * reservation-id label of their records), so a reservation used up is unavailable until one of them terminates.
 */
export const withReservationsUsed = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  records: ReadonlyArray<ConfigMap.ConfigMap>
): ReadonlyArray<InstanceType.InstanceType> => {
  const used = new Map<string, number>()
  for (const record of records) {
    const id = record.metadata.labels?.[KWOKNodeClass.ReservationIDLabel]
    if (id !== undefined) used.set(id, (used.get(id) ?? 0) + 1)
  }
  return InstanceType.withReservationCapacity(instanceTypes, (_, offering) =>
    Math.max(
      0,
      (offering.reservationCapacity ?? 0) -
        (used.get(InstanceType.reservationIDOf(offering, KWOKNodeClass.ReservationIDLabel)) ?? 0)
    )
  )
}

const nodeNameOf = (providerID: string): string | undefined =>
  providerID.startsWith(ProviderIDPrefix) ? providerID.slice(ProviderIDPrefix.length) : undefined

const apiFailure = (method: string) => (error: KubeError.KubeError) =>
  new CloudProvider.CloudProviderError({ method, message: `${method}: ${error.message}` })

const notFound = (providerID: string) =>
  new CloudProvider.NodeClaimNotFound({ message: `nodeclaim not found, no kwok instance ${providerID}` })

// Exponential from 100ms, capped at 10s, for as long as the API server stays unavailable.
const registrationRetry = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")])

const make = (options: Options | undefined) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const catalogue = options?.instanceTypes ?? Catalog.kwok()
    const instanceTypes =
      options?.reservedCapacity === true ? catalogue : InstanceType.withoutReservedOfferings(catalogue)
    const hasReservations = instanceTypes.some((instanceType) =>
      instanceType.offerings.some((offering) => offering.capacityType === Labels.CapacityTypeReserved)
    )
    // Launches into reservations take turns: counting what a reservation has left and writing the record is one step.
    const reservationLaunches = yield* Semaphore.make(1)
    const wellKnownLabels = wellKnownLabelsFor(instanceTypes)
    const namespace = options?.namespace ?? defaultNamespace
    const inNamespace = { namespace }
    // Owned by the layer's scope: a pending registration outlives the reconcile that launched it, and ends with
    // the provider (or when the instance is deleted first). Keyed by instance (= Node) name.
    const registrations = yield* FiberMap.make<string>()

    // Each stored version of a record is parsed once (the in-memory API server hands out the same object until it
    // changes); a record that does not parse is no instance, so garbage collection replaces its NodeClaim.
    const parsed = new WeakMap<ConfigMap.ConfigMap, Option.Option<InstanceRecord>>()
    const recordOf = (configMap: ConfigMap.ConfigMap): InstanceRecord | undefined => {
      let record = parsed.get(configMap)
      if (record === undefined) {
        record = decodeRecord(configMap.data)
        parsed.set(configMap, record)
      }
      return Option.getOrUndefined(record)
    }

    const register = (record: InstanceRecord, registersAt: number) =>
      Effect.gen(function* () {
        const wait = registersAt - (yield* Clock.currentTimeMillis)
        // No sleep when the time has come: the Node is written as soon as the fiber starts, with no clock tick.
        if (wait > 0) yield* Effect.sleep(wait)
        // Every process watching the records writes the Node: the first one wins, the others find it there.
        yield* kube.create(Resources.Nodes, record.node).pipe(
          Effect.retry({ schedule: registrationRetry, while: (error) => error._tag === "KubeUnavailable" }),
          Effect.asVoid,
          Effect.catchTag("AlreadyExists", () => Effect.void),
          Effect.catch((error) =>
            Effect.logWarning("kwok: registering the node failed", {
              node: record.node.metadata.name,
              error: error.message
            })
          )
        )
      })

    /**
     * Schedules the registration of a record's Node. A record just written `replace`s whatever is scheduled under its
     * name (left by an earlier instance of that name whose deletion this process has not seen yet); a record seen
     * again keeps the registration already scheduled.
     */
    const schedule = (name: string, record: InstanceRecord, replace: boolean) => {
      const registersAt = record.registersAt === undefined ? Number.NaN : Date.parse(record.registersAt)
      if (Number.isNaN(registersAt)) return replace ? FiberMap.remove(registrations, name) : Effect.void
      return Effect.asVoid(
        FiberMap.run(registrations, name, register(record, registersAt), { onlyIfMissing: !replace })
      )
    }

    // The records launched anywhere: the first list resumes what a stopped process launched, the watch follows
    // what other processes launch and delete, so whichever process leads next registers their Nodes on time. Once
    // synced, every cached record is followed too, in case the first list was published before the subscription.
    const records = yield* Informer.make(Resources.ConfigMaps, { ...inNamespace, labelSelector: InstanceRecordLabel })
    const follow = (configMap: ConfigMap.ConfigMap) => {
      const record = recordOf(configMap)
      return record === undefined ? Effect.void : schedule(configMap.metadata.name ?? "", record, false)
    }
    yield* Stream.runForEach(yield* records.subscribe, (change) =>
      change.type === "DELETED"
        ? FiberMap.remove(registrations, change.object.metadata.name ?? "")
        : follow(change.object)
    ).pipe(Effect.forkScoped)
    yield* Effect.andThen(
      records.synced,
      Effect.flatMap(records.list(), (all) => Effect.forEach(all, follow, { discard: true }))
    ).pipe(Effect.forkScoped)

    const readNodeClass = (nodeClaim: NodeClaim) => {
      const ref = nodeClaim.spec.nodeClassRef
      const missing = new CloudProvider.InsufficientCapacity({
        message: `insufficient capacity, ${ref.kind} ${JSON.stringify(ref.name)} not found`
      })
      if (ref.group !== KWOKNodeClass.group || ref.kind !== KWOKNodeClass.kind) return Effect.fail(missing)
      return kube.get(Resources.KWOKNodeClasses, ref.name).pipe(
        Effect.catchTag("NotFound", () => Effect.fail(missing)),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure("create")(error))),
        Effect.flatMap((nodeClass) =>
          nodeClass.metadata.deletionTimestamp === undefined
            ? Effect.succeed(nodeClass)
            : Effect.fail(
                new CloudProvider.NodeClassNotReady({
                  message: `NodeClassRef not ready, ${ref.kind} ${JSON.stringify(ref.name)} is being deleted`
                })
              )
        )
      )
    }

    /** The record of an instance, if it has one. */
    const getRecord = (method: string, name: string) =>
      kube.get(Resources.ConfigMaps, name, inNamespace).pipe(
        Effect.map(recordOf),
        Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure(method)(error)))
      )

    /** The catalogue with what each reservation has left, read from the instance records in the API server. */
    // Without reservations the catalogue is fixed: asked for every NodePool by every provisioning and disruption pass
    // (21,000 times in a simulated day), it is handed out without a traced call.
    const fixed = Effect.succeed(instanceTypes)
    const offeredWithReservations = Effect.fn("Kwok.offered")(function* (method: string) {
      const recorded = yield* kube
        .list(Resources.ConfigMaps, { ...inNamespace, labelSelector: InstanceRecordLabel })
        .pipe(
          Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure(method)(error))),
          Effect.catchTags({ Invalid: (error) => Effect.die(error), Expired: (error) => Effect.die(error) })
        )
      return withReservationsUsed(instanceTypes, recorded.items)
    })
    const offered = (method: string) => (hasReservations ? offeredWithReservations(method) : fixed)

    const create = (nodeClaim: NodeClaim) =>
      hasReservations ? reservationLaunches.withPermits(1)(launch(nodeClaim)) : launch(nodeClaim)

    const launch = Effect.fn("Kwok.create")(function* (nodeClaim: NodeClaim) {
      const nodeClass = yield* readNodeClass(nodeClaim)
      const choice = choose(yield* offered("create"), nodeClaim, wellKnownLabels)
      if (choice === undefined) {
        const requirements = Requirements.fromNodeSelectorRequirements(nodeClaim.spec.requirements)
        const requests = nodeClaim.spec.resources?.requests
        return yield* new CloudProvider.InsufficientCapacity({
          message:
            `insufficient capacity, no available offering satisfies requirements ${Requirements.format(requirements)}` +
            (requests === undefined || Object.keys(requests).length === 0
              ? ""
              : ` and fits requests ${JSON.stringify(requests)}`)
        })
      }
      const nodeClaimName = nodeClaim.metadata.name ?? ""
      const providerID = providerIDFor(nodeClaimName)
      const launched: NodeClaim = {
        ...nodeClaim,
        metadata: { ...nodeClaim.metadata, labels: launchedLabels(nodeClaim, choice) },
        status: {
          ...nodeClaim.status,
          providerID,
          imageID: ImageID,
          capacity: ResourceMath.toResourceList(choice.instanceType.capacity),
          allocatable: ResourceMath.toResourceList(choice.instanceType.allocatable)
        }
      }
      const now = yield* Clock.currentTimeMillis
      const delay = Duration.toMillis(nodeClass.spec.nodeRegistrationDelay ?? "0s") ?? 0
      const record: InstanceRecord = {
        nodeClaim: launched,
        node: toNode(launched, choice.offering.price),
        ...(nodeClass.spec.failRegistration === true ? {} : { registersAt: new Date(now + delay).toISOString() })
      }
      const written = yield* kube
        .create(Resources.ConfigMaps, recordObject(nodeClaimName, namespace, choice, record), inNamespace)
        .pipe(
          Effect.as(true),
          // The instance of this NodeClaim exists already (a launch whose result was never recorded on the
          // NodeClaim): launching is idempotent, the instance stays as it was.
          Effect.catchTag("AlreadyExists", () => Effect.succeed(false)),
          Effect.catch((error) => Effect.fail(apiFailure("create")(error)))
        )
      if (written) {
        yield* schedule(nodeClaimName, record, true)
        return launched
      }
      const existing = yield* getRecord("create", nodeClaimName)
      if (existing === undefined) {
        return yield* new CloudProvider.CloudProviderError({
          method: "create",
          message: `create: the record of kwok instance ${providerID} is unreadable or gone`
        })
      }
      yield* schedule(nodeClaimName, existing, false)
      return existing.nodeClaim
    })

    const deleteInstance = Effect.fn("Kwok.delete")(function* (nodeClaim: NodeClaim) {
      const providerID = nodeClaim.status?.providerID ?? ""
      const nodeName = nodeNameOf(providerID)
      if (nodeName === undefined) return yield* notFound(providerID)
      yield* FiberMap.remove(registrations, nodeName)
      // The record first: once it is gone no process registers the Node again.
      const deleteObject = <A extends KubeObject, I>(resource: Resource<A, I>, where?: typeof inNamespace) =>
        kube.delete(resource, nodeName, where).pipe(
          Effect.as(true),
          Effect.catchTag("NotFound", () => Effect.succeed(false)),
          Effect.catchTag("Conflict", () => Effect.succeed(true)),
          Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure("delete")(error)))
        )
      const recorded = yield* deleteObject(Resources.ConfigMaps, inNamespace)
      const deleted = yield* deleteObject(Resources.Nodes)
      // Termination is immediate, as upstream: the first call already reports the instance gone.
      return yield* new CloudProvider.NodeClaimNotFound({
        message: recorded || deleted ? `nodeclaim not found, instance terminated` : notFound(providerID).message
      })
    })

    const get = Effect.fn("Kwok.get")(function* (providerID: string) {
      const nodeName = nodeNameOf(providerID)
      if (nodeName === undefined) return yield* notFound(providerID)
      const record = yield* getRecord("get", nodeName)
      if (record !== undefined) return record.nodeClaim
      const node = yield* kube.get(Resources.Nodes, nodeName).pipe(
        Effect.catchTag("NotFound", () => Effect.fail(notFound(providerID))),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure("get")(error)))
      )
      if (node.spec.providerID !== providerID || node.metadata.deletionTimestamp !== undefined) {
        return yield* notFound(providerID)
      }
      return fromNode(node)
    })

    const list = Effect.fn("Kwok.list")(function* () {
      const listAll = <A extends KubeObject, I>(resource: Resource<A, I>, selection?: KubeClient.Selection) =>
        kube.list(resource, selection).pipe(
          Effect.catchTag("KubeUnavailable", (error) => Effect.fail(apiFailure("list")(error))),
          Effect.catchTags({
            Invalid: (error) => Effect.die(error),
            Expired: (error) => Effect.die(error)
          })
        )
      const recorded = yield* listAll(Resources.ConfigMaps, { ...inNamespace, labelSelector: InstanceRecordLabel })
      const nodes = yield* listAll(Resources.Nodes)
      const result: Array<NodeClaim> = []
      for (const configMap of recorded.items) {
        const record = recordOf(configMap)
        if (record !== undefined) result.push(record.nodeClaim)
      }
      const known = new Set(result.map((instance) => instance.status?.providerID))
      for (const node of nodes.items) {
        const providerID = node.spec.providerID ?? ""
        if (nodeNameOf(providerID) === undefined || known.has(providerID)) continue
        if (node.metadata.deletionTimestamp !== undefined) continue
        result.push(fromNode(node))
      }
      return result
    })

    return CloudProvider.CloudProvider.of({
      name,
      create,
      delete: deleteInstance,
      get,
      list,
      getInstanceTypes: () => offered("getInstanceTypes"),
      isDrifted: () => Effect.succeed(undefined),
      repairPolicies: [],
      wellKnownLabels,
      supportedNodeClasses: [{ group: KWOKNodeClass.group, kind: KWOKNodeClass.kind }]
    })
  })

/**
 * The KWOK CloudProvider over the KubeClient: its instance records live in the API server; this process registers
 * their Nodes (pending registrations, and the watch on the records, live as long as the layer).
 */
export const layer = (options?: Options): Layer.Layer<CloudProvider.CloudProvider, never, KubeClient.KubeClient> =>
  Layer.effect(CloudProvider.CloudProvider, make(options))
