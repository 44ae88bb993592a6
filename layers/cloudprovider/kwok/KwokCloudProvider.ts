/**
 * The KWOK CloudProvider (upstream `kwok/cloudprovider`): "instances" are Node objects written to the API server
 * after the KWOKNodeClass's registration delay, with no machine behind them. Unlike upstream, everything is
 * deterministic: the cheapest offering wins with the CLI contract's tie rule, and the Node is named after the
 * NodeClaim (so is the providerID) instead of a random docker-style name.
 */
import { Effect, FiberMap, Layer, Schedule } from "effect"
import * as Duration from "../../../src/api/Duration.ts"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { Taint } from "../../../src/api/Meta.ts"
import type * as Node from "../../../src/api/Node.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import * as Taints from "../../../src/api/Taints.ts"
import * as Catalog from "../../../src/cloudprovider/Catalog.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import type * as KubeError from "../../../src/kube/KubeError.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as ResourceMath from "../../../src/scheduling/Resources.ts"

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

/** Options of {@link layer}. */
export interface Options {
  /** The catalogue; default: the built-in KWOK catalogue (`Catalog.kwok()`). */
  readonly instanceTypes?: ReadonlyArray<InstanceType.InstanceType>
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
 * requirements, the type's single-value requirements, the offering's zone and capacity type, and the NodeClass.
 */
export const launchedLabels = (nodeClaim: NodeClaim, choice: Choice): Record<string, string> => {
  const labels: Record<string, string> = { ...nodeClaim.metadata.labels }
  for (const requirement of nodeClaim.spec.requirements) {
    if (requirement.operator === "In" && requirement.values?.length === 1) {
      labels[requirement.key] = requirement.values[0]!
    }
  }
  labels[Labels.InstanceType] = choice.instanceType.name
  for (const [key, requirement] of choice.instanceType.requirements) {
    const values = Requirement.values(requirement)
    if (Requirement.operator(requirement) === "In" && values.length === 1) labels[key] = values[0]!
  }
  labels[Labels.Zone] = choice.offering.zone
  labels[Labels.CapacityType] = choice.offering.capacityType
  labels[KWOKNodeClass.NodeClassLabel] = nodeClaim.spec.nodeClassRef.name
  return labels
}

/** The Node a launched instance registers: the launched labels plus the node-only markers, unregistered taint. */
export const toNode = (launched: NodeClaim, price: number): typeof Resources.Nodes.schema.Encoded => {
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

// A Node the registry does not know (launched by an earlier process against the same API server), read back as
// its instance, as upstream's Node-backed Get and List do.
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

const nodeNameOf = (providerID: string): string | undefined =>
  providerID.startsWith(ProviderIDPrefix) ? providerID.slice(ProviderIDPrefix.length) : undefined

const unavailable = (method: string) => (error: KubeError.KubeUnavailable) =>
  new CloudProvider.CloudProviderError({ method, message: `${method}: ${error.message}` })

const notFound = (providerID: string) =>
  new CloudProvider.NodeClaimNotFound({ message: `nodeclaim not found, no kwok instance ${providerID}` })

// Exponential from 100ms, capped at 10s, for as long as the API server stays unavailable.
const registrationRetry = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")])

const make = (options: Options | undefined) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const instanceTypes = options?.instanceTypes ?? Catalog.kwok()
    const wellKnownLabels = wellKnownLabelsFor(instanceTypes)
    /** Launched instances by providerID: they exist from `create` on, whether or not their Node does yet. */
    const instances = new Map<string, NodeClaim>()
    // Owned by the layer's scope: a pending registration outlives the reconcile that launched it, and ends with
    // the provider (or when the instance is deleted first).
    const registrations = yield* FiberMap.make<string>()

    const register = (launched: NodeClaim, price: number, delayMillis: number) =>
      // No sleep for no delay: the Node is written as soon as the fiber starts, with no clock tick needed.
      (delayMillis > 0 ? Effect.sleep(delayMillis) : Effect.void).pipe(
        Effect.andThen(
          kube.create(Resources.Nodes, toNode(launched, price)).pipe(
            Effect.retry({ schedule: registrationRetry, while: (error) => error._tag === "KubeUnavailable" }),
            Effect.asVoid,
            Effect.catchTag("AlreadyExists", () => Effect.void),
            Effect.catch((error) =>
              Effect.logWarning("kwok: registering the node failed", {
                node: launched.metadata.name,
                error: error.message
              })
            )
          )
        )
      )

    const readNodeClass = (nodeClaim: NodeClaim) => {
      const ref = nodeClaim.spec.nodeClassRef
      const missing = new CloudProvider.InsufficientCapacity({
        message: `insufficient capacity, ${ref.kind} ${JSON.stringify(ref.name)} not found`
      })
      if (ref.group !== KWOKNodeClass.group || ref.kind !== KWOKNodeClass.kind) return Effect.fail(missing)
      return kube.get(Resources.KWOKNodeClasses, ref.name).pipe(
        Effect.catchTag("NotFound", () => Effect.fail(missing)),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(unavailable("create")(error))),
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

    const create = Effect.fn("Kwok.create")(function* (nodeClaim: NodeClaim) {
      const nodeClass = yield* readNodeClass(nodeClaim)
      const choice = choose(instanceTypes, nodeClaim, wellKnownLabels)
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
      instances.set(providerID, launched)
      if (nodeClass.spec.failRegistration === true) {
        // A relaunch of the same NodeClaim must not leave an earlier registration running.
        yield* FiberMap.remove(registrations, providerID)
      } else {
        const delay = Duration.toMillis(nodeClass.spec.nodeRegistrationDelay ?? "0s") ?? 0
        yield* FiberMap.run(registrations, providerID, register(launched, choice.offering.price, delay))
      }
      return launched
    })

    const deleteInstance = Effect.fn("Kwok.delete")(function* (nodeClaim: NodeClaim) {
      const providerID = nodeClaim.status?.providerID ?? ""
      const nodeName = nodeNameOf(providerID)
      if (nodeName === undefined) return yield* notFound(providerID)
      yield* FiberMap.remove(registrations, providerID)
      const known = instances.has(providerID)
      const deleted = yield* kube.delete(Resources.Nodes, nodeName).pipe(
        Effect.as(true),
        Effect.catchTag("NotFound", () => Effect.succeed(false)),
        Effect.catchTag("Conflict", () => Effect.succeed(true)),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(unavailable("delete")(error)))
      )
      instances.delete(providerID)
      // Termination is immediate, as upstream: the first call already reports the instance gone.
      return yield* new CloudProvider.NodeClaimNotFound({
        message: known || deleted ? `nodeclaim not found, instance terminated` : notFound(providerID).message
      })
    })

    const get = Effect.fn("Kwok.get")(function* (providerID: string) {
      const instance = instances.get(providerID)
      if (instance !== undefined) return instance
      const nodeName = nodeNameOf(providerID)
      if (nodeName === undefined) return yield* notFound(providerID)
      const node = yield* kube.get(Resources.Nodes, nodeName).pipe(
        Effect.catchTag("NotFound", () => Effect.fail(notFound(providerID))),
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(unavailable("get")(error)))
      )
      if (node.spec.providerID !== providerID || node.metadata.deletionTimestamp !== undefined) {
        return yield* notFound(providerID)
      }
      return fromNode(node)
    })

    const list = Effect.fn("Kwok.list")(function* () {
      const nodes = yield* kube.list(Resources.Nodes).pipe(
        Effect.catchTag("KubeUnavailable", (error) => Effect.fail(unavailable("list")(error))),
        Effect.catchTags({
          Invalid: (error) => Effect.die(error),
          Expired: (error) => Effect.die(error)
        })
      )
      const result = [...instances.values()]
      for (const node of nodes.items) {
        const providerID = node.spec.providerID ?? ""
        if (nodeNameOf(providerID) === undefined || instances.has(providerID)) continue
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
      getInstanceTypes: () => Effect.succeed(instanceTypes),
      isDrifted: () => Effect.succeed(undefined),
      repairPolicies: [],
      wellKnownLabels,
      supportedNodeClasses: [{ group: KWOKNodeClass.group, kind: KWOKNodeClass.kind }]
    })
  })

/** The KWOK CloudProvider over the KubeClient; pending Node registrations live as long as the layer. */
export const layer = (options?: Options): Layer.Layer<CloudProvider.CloudProvider, never, KubeClient.KubeClient> =>
  Layer.effect(CloudProvider.CloudProvider, make(options))
