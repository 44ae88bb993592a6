/**
 * `schedule`: a dry-run of one provisioning pass over manifests — which pods would go to existing capacity, which
 * NodeClaims would be launched for the rest (and as what), and why any pod cannot be placed.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Conditions from "../api/Conditions.ts"
import * as EC2NodeClass from "../api/EC2NodeClass.ts"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import * as Meta from "../api/Meta.ts"
import type { NodeClassRef } from "../api/NodeClassRef.ts"
import type * as NodeOverlay from "../api/NodeOverlay.ts"
import type { NodePool } from "../api/NodePool.ts"
import type * as Pod from "../api/Pod.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as CapacityBuffers from "../controllers/capacitybuffer/CapacityBuffers.ts"
import * as OverlayStore from "../controllers/nodeoverlay/Store.ts"
import * as Readiness from "../controllers/nodepool/readiness/Readiness.ts"
import * as Provisioner from "../controllers/provisioning/Provisioner.ts"
import * as ClusterView from "../controllers/provisioning/scheduling/ClusterView.ts"
import * as Scheduler from "../controllers/provisioning/scheduling/Scheduler.ts"
import * as Requirements from "../scheduling/Requirements.ts"
import * as AwsWorld from "./AwsWorld.ts"
import * as Manifests from "./Manifests.ts"
import * as Options from "./Options.ts"
import * as ScheduleOutput from "./ScheduleOutput.ts"

/** Input the command cannot use: printed as one line, exit code 2. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", { message: Schema.String }) {}

/** Reads an instance-type catalogue file (the format of data/kwok-instance-types.json). */
export const loadCatalogue = Effect.fn("Schedule.loadCatalogue")(function* (path: string) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs
    .readFileString(path)
    .pipe(Effect.mapError((error) => new InvalidInput({ message: `${path}: ${error.message.split("\n")[0]}` })))
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) => new InvalidInput({ message: `${path}: not JSON: ${(error as Error).message}` })
  })
  return yield* Catalog.fromJson(json).pipe(
    Effect.mapError((error) => new InvalidInput({ message: `${path}: ${error.message}` }))
  )
})

/** The well-known labels for a catalogue: KWOK's, plus every extra label a catalogue entry declares. */
export const wellKnownFor = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>): ReadonlySet<string> => {
  const keys = new Set(Catalog.kwokWellKnownLabels)
  for (const instanceType of instanceTypes) {
    for (const key of instanceType.requirements.keys()) keys.add(key)
  }
  return keys
}

const kwokKind = { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind }

const isKwok = (ref: NodeClassRef): boolean => ref.group === kwokKind.group && ref.kind === kwokKind.kind

/** A Ready condition for people: its reason (else its status) and its message. */
const conditionText = (condition: { readonly status: string; readonly reason?: string; readonly message?: string }) =>
  [condition.reason || `Ready=${condition.status}`, ...(condition.message ? [condition.message] : [])].join(": ")

/**
 * Why the pass leaves a NodePool out, or undefined when it uses it: the provisioner's test of the NodePool's own Ready,
 * then the readiness controller's of its KWOKNodeClass (when the input gives KWOKNodeClasses). Status is rarely part
 * of manifests, so a NodePool without a Ready condition counts as ready, as does a KWOKNodeClass without conditions.
 */
const notReadyBecause = (
  nodePool: NodePool,
  nodeClasses: ReadonlyArray<KWOKNodeClass.KWOKNodeClass>
): string | undefined => {
  const name = `nodepool "${nodePool.metadata.name}" is not ready`
  const ready = Meta.findCondition(nodePool.status?.conditions, Conditions.Ready)
  if (ready !== undefined && !Provisioner.isReady(nodePool)) return `${name}: ${conditionText(ready)}`
  const ref = nodePool.spec.template.spec.nodeClassRef
  if (!isKwok(ref) || nodeClasses.length === 0) return undefined
  const nodeClass = nodeClasses.find((candidate) => candidate.metadata.name === ref.name)
  const readiness = Readiness.readinessOf(
    nodeClass === undefined ? { _tag: "NotFound", kind: kwokKind } : { _tag: "Found", kind: kwokKind, nodeClass }
  )
  if (readiness === undefined || readiness.status === "True") return undefined
  return `${name}: KWOKNodeClass "${ref.name}": ${conditionText(readiness)}`
}

/**
 * The NodePools a pass launches from, and why each other one is left out: each offers the KWOK `catalogue`, or, for
 * an input on EC2NodeClasses, what the AWS provider `offered` it in the fake AWS world.
 */
export const usableNodePools = (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  offered?: AwsWorld.Offered
): { readonly nodePools: Array<Scheduler.NodePoolInput>; readonly skipped: Array<string> } => {
  const nodePools: Array<Scheduler.NodePoolInput> = []
  const skipped: Array<string> = []
  for (const nodePool of manifests.nodePools) {
    if (nodePool.metadata.deletionTimestamp !== undefined) continue
    const name = nodePool.metadata.name ?? ""
    const ec2NotReady = offered?.notReady.get(name)
    const notReady =
      notReadyBecause(nodePool, manifests.nodeClasses) ??
      (ec2NotReady === undefined ? undefined : `nodepool "${name}" is not ready: ${ec2NotReady}`)
    if (notReady !== undefined) {
      skipped.push(notReady)
      continue
    }
    const ref = nodePool.spec.template.spec.nodeClassRef
    nodePools.push({
      nodePool,
      instanceTypes: offered === undefined ? catalogue : (offered.instanceTypes.get(name) ?? []),
      labels: isKwok(ref)
        ? { [KWOKNodeClass.NodeClassLabel]: ref.name }
        : offered === undefined
          ? {}
          : { [EC2NodeClass.NodeClassLabel]: ref.name }
    })
  }
  return { nodePools: withOverlays(manifests.nodeOverlays, nodePools), skipped }
}

/**
 * The NodePools' instance types with the input's NodeOverlays applied, as the NodeOverlay controller resolves them
 * (giving NodeOverlay documents to `schedule` is asking for them: no feature gate here).
 */
const withOverlays = (
  overlays: ReadonlyArray<NodeOverlay.NodeOverlay>,
  nodePools: ReadonlyArray<Scheduler.NodePoolInput>
): Array<Scheduler.NodePoolInput> => {
  if (overlays.length === 0) return [...nodePools]
  const { store } = OverlayStore.resolve(
    overlays,
    nodePools,
    wellKnownFor(nodePools.flatMap((pool) => pool.instanceTypes))
  )
  return nodePools.map((pool) => {
    const name = pool.nodePool.metadata.name ?? ""
    return { ...pool, instanceTypes: pool.instanceTypes.map((it) => OverlayStore.applyTo(store, name, it)) }
  })
}

/**
 * One provisioning pass over the manifests, as the contract's result: on the KWOK `catalogue`, or, for an input on
 * EC2NodeClasses, on what the AWS provider `offered` each NodePool in the fake AWS world.
 */
export const plan = Effect.fn("Schedule.plan")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  offered?: AwsWorld.Offered,
  minValuesPolicy?: Options.MinValuesPolicy,
  /** The CapacityBuffer gate: the input's CapacityBuffers hold headroom in the pass. */
  capacityBuffer?: boolean
) {
  const wellKnown = offered?.wellKnownLabels ?? wellKnownFor(catalogue)
  const unschedulable: Array<{ pod: string; reason: string }> = []
  const { nodePools, skipped: skippedPools } = usableNodePools(manifests, catalogue, offered)
  const volumes = ClusterView.volumeContext(manifests)
  const virtualPods =
    capacityBuffer === true
      ? CapacityBuffers.resolvedVirtualPods(manifests.capacityBuffers, CapacityBuffers.workloadsOf(manifests))
      : []
  const { pending, bound, boundByNode, ignored } = ClusterView.podSets(
    { ...manifests, virtualPods },
    wellKnown,
    volumes,
    yield* Clock.currentTimeMillis
  )
  unschedulable.push(...ignored)
  const results = yield* Scheduler.solve({
    nodePools,
    existingNodes: ClusterView.existingNodes(manifests, boundByNode, catalogue, volumes),
    pods: pending,
    boundPods: bound,
    boundPodsByNode: boundByNode,
    daemonSetPods: ClusterView.daemonSetPods(manifests),
    namespaces: manifests.namespaces,
    volumes,
    wellKnownLabels: wellKnown,
    ...(minValuesPolicy === undefined ? {} : { minValuesPolicy })
  })
  // Virtual pods are no input pods: headroom that fits nowhere is reported by its buffer, apart from the contract's list.
  const bufferOfVirtual = new Map(virtualPods.map((pod) => [ClusterView.podKey(pod), CapacityBuffers.bufferOf(pod)]))
  const unschedulableHeadroom: Array<{ buffer: string; pod: string; reason: string }> = []
  for (const [pod, reason] of results.errors) {
    // The NodePools left out may be the ones the pod would have fitted: name them and why.
    const why =
      skippedPools.length === 0 ? reason : [...(nodePools.length === 0 ? [] : [reason]), ...skippedPools].join("; ")
    const buffer = bufferOfVirtual.get(pod)
    if (buffer === undefined) unschedulable.push({ pod, reason: why })
    else unschedulableHeadroom.push({ buffer, pod, reason: why })
  }
  const result: ScheduleOutput.PassResult = {
    nodeClaims: results.newNodeClaims.map((claim) => ({
      nodePool: claim.nodePool.metadata.name ?? "",
      instanceTypes: claim.instanceTypes,
      requirements: Requirements.toNodeSelectorRequirements(claim.requirements).map(({ key, operator, values }) => ({
        key,
        operator,
        values
      })),
      requirementsForLaunch: claim.requirements,
      ...podsAndBuffers(claim.pods)
    })),
    existingNodes: results.existingNodes.map((node) => ({ name: node.name, ...podsAndBuffers(node.pods) })),
    unschedulable,
    unschedulableHeadroom
  }
  return { result, wellKnown }
})

/** The keys of the real pods, and the buffers of the virtual ones (one entry each). */
const podsAndBuffers = (pods: ReadonlyArray<Pod.Pod>) => ({
  pods: pods.filter((pod) => !CapacityBuffers.isVirtual(pod)).map(ClusterView.podKey),
  buffers: pods.flatMap((pod) => {
    const buffer = CapacityBuffers.bufferOf(pod)
    return buffer === undefined ? [] : [buffer]
  })
})

/**
 * The provider an input runs on (see {@link AwsWorld.providerOf}), refusing a mix of NodeClass kinds, a catalogue
 * file for AWS (its instance types are EC2's), and AWS when the composition root gave no world.
 */
export const providerFor = (
  manifests: Manifests.Manifests,
  options: { readonly instanceTypes: string | undefined; readonly aws: Effect.Effect<AwsWorld.AwsWorld> | undefined }
): Effect.Effect<AwsWorld.Provider, InvalidInput> => {
  const provider = AwsWorld.providerOf(manifests)
  if (provider === "mixed") return Effect.fail(new InvalidInput({ message: AwsWorld.mixedProviders }))
  if (provider === "kwok") return Effect.succeed(provider)
  if (options.instanceTypes !== undefined) {
    return Effect.fail(
      new InvalidInput({
        message: "--instance-types is a KWOK catalogue: an input on EC2NodeClasses runs on EC2's instance types"
      })
    )
  }
  return options.aws === undefined
    ? Effect.fail(new InvalidInput({ message: "this build has no fake AWS world for inputs on EC2NodeClasses" }))
    : Effect.succeed(provider)
}

/** Runs the command: read, plan (on the fake AWS world when the input is on EC2NodeClasses), print. */
export const run = Effect.fn("Schedule.run")(function* (options: {
  readonly files: ReadonlyArray<string>
  readonly instanceTypes: string | undefined
  readonly output: "json" | "text"
  /** The fake AWS world, for inputs on EC2NodeClasses. */
  readonly aws?: Effect.Effect<AwsWorld.AwsWorld>
  /** `--feature-gates`: checked as the controller checks them. */
  readonly featureGates?: string | undefined
  /** `--min-values-policy`; default Strict. */
  readonly minValuesPolicy?: Options.MinValuesPolicy
}) {
  const gates = Options.offlineFeatureGates(options.featureGates)
  if (Result.isFailure(gates)) return yield* new InvalidInput({ message: `--feature-gates: ${gates.failure}` })
  const manifests = yield* Manifests.load(options.files).pipe(
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  const provider = yield* providerFor(manifests, { instanceTypes: options.instanceTypes, aws: options.aws })
  const offered =
    provider === "aws" && options.aws !== undefined
      ? yield* Effect.flatMap(options.aws, (world) => world.offered(Manifests.objects(manifests), manifests.nodePools))
      : undefined
  // On EC2, the region's types size the existing capacity (built only when the input has some).
  const catalogue =
    offered !== undefined
      ? manifests.nodes.length + manifests.nodeClaims.length === 0
        ? []
        : offered.catalogue()
      : options.instanceTypes === undefined
        ? Catalog.kwok()
        : yield* loadCatalogue(options.instanceTypes)
  const { result, wellKnown } = yield* plan(
    manifests,
    catalogue,
    offered,
    options.minValuesPolicy,
    gates.success.CapacityBuffer
  )
  return options.output === "json"
    ? JSON.stringify(ScheduleOutput.toJson(result, wellKnown), null, 2)
    : ScheduleOutput.toText(result, wellKnown)
})
