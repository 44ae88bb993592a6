/**
 * `schedule`: a dry-run of one provisioning pass over manifests — which pods would go to existing capacity, which
 * NodeClaims would be launched for the rest (and as what), and why any pod cannot be placed.
 */
import { Effect, FileSystem, Schema } from "effect"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as ClusterView from "../scheduling/ClusterView.ts"
import * as Requirements from "../scheduling/Requirements.ts"
import * as Scheduler from "../scheduling/Scheduler.ts"
import * as Manifests from "./Manifests.ts"
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

/** One provisioning pass over the manifests, as the contract's result. */
export const plan = Effect.fn("Schedule.plan")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>
) {
  const wellKnown = wellKnownFor(catalogue)
  const unschedulable: Array<{ pod: string; reason: string }> = []
  const nodeClassNames = new Set(manifests.nodeClasses.map((nodeClass) => nodeClass.metadata.name ?? ""))
  const nodePools: Array<Scheduler.NodePoolInput> = []
  const skippedPools: Array<string> = []
  for (const nodePool of manifests.nodePools) {
    if (nodePool.metadata.deletionTimestamp !== undefined) continue
    const ref = nodePool.spec.template.spec.nodeClassRef
    const isKwok = ref.group === KWOKNodeClass.group && ref.kind === KWOKNodeClass.kind
    if (isKwok && nodeClassNames.size > 0 && !nodeClassNames.has(ref.name)) {
      skippedPools.push(`nodepool "${nodePool.metadata.name}": KWOKNodeClass "${ref.name}" not found`)
      continue
    }
    nodePools.push({
      nodePool,
      instanceTypes: catalogue,
      labels: isKwok ? { [KWOKNodeClass.NodeClassLabel]: ref.name } : {}
    })
  }
  const volumes = ClusterView.volumeContext(manifests)
  const { pending, bound, boundByNode, ignored } = ClusterView.podSets(manifests, wellKnown, volumes)
  unschedulable.push(...ignored)
  const results = yield* Scheduler.solve({
    nodePools,
    existingNodes: ClusterView.existingNodes(manifests, boundByNode, catalogue, volumes),
    pods: pending,
    boundPods: bound,
    boundPodsByNode: boundByNode,
    daemonSetPods: manifests.daemonSets.map(ClusterView.daemonPod),
    namespaces: manifests.namespaces,
    volumes,
    wellKnownLabels: wellKnown
  })
  for (const [pod, reason] of results.errors) {
    const why = nodePools.length === 0 && skippedPools.length > 0 ? skippedPools.join("; ") : reason
    unschedulable.push({ pod, reason: why })
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
      pods: claim.pods.map(ClusterView.podKey)
    })),
    existingNodes: results.existingNodes.map((node) => ({ name: node.name, pods: node.pods.map(ClusterView.podKey) })),
    unschedulable
  }
  return { result, wellKnown }
})

/** Runs the command: read, plan, print. */
export const run = Effect.fn("Schedule.run")(function* (options: {
  readonly files: ReadonlyArray<string>
  readonly instanceTypes: string | undefined
  readonly output: "json" | "text"
}) {
  const manifests = yield* Manifests.load(options.files).pipe(
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  const catalogue = options.instanceTypes === undefined ? Catalog.kwok() : yield* loadCatalogue(options.instanceTypes)
  const { result, wellKnown } = yield* plan(manifests, catalogue)
  return options.output === "json"
    ? JSON.stringify(ScheduleOutput.toJson(result, wellKnown), null, 2)
    : ScheduleOutput.toText(result, wellKnown)
})
