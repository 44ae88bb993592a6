/**
 * The output of `schedule`: one provisioning pass rendered as the CLI contract's JSON document, or as text for people.
 */
import * as InstanceType from "../cloudprovider/InstanceType.ts"
import type * as Requirements from "../scheduling/Requirements.ts"

/** A requirement as printed: a node selector requirement. */
export interface RequirementJson {
  readonly key: string
  readonly operator: string
  readonly values: ReadonlyArray<string>
}

/** The result of one provisioning pass, as the scheduler produces it. */
export interface PassResult {
  readonly nodeClaims: ReadonlyArray<{
    readonly nodePool: string
    readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType> // already cheapest first
    readonly requirements: ReadonlyArray<{
      readonly key: string
      readonly operator: string
      readonly values: ReadonlyArray<string>
    }>
    readonly requirementsForLaunch: Requirements.Requirements // what offerings must be compatible with
    readonly pods: ReadonlyArray<string> // "ns/name"
    /** The CapacityBuffers (`ns/name`) whose headroom the NodeClaim holds, one entry per virtual pod. */
    readonly buffers?: ReadonlyArray<string>
  }>
  readonly existingNodes: ReadonlyArray<{
    readonly name: string
    readonly pods: ReadonlyArray<string>
    readonly buffers?: ReadonlyArray<string>
  }>
  readonly unschedulable: ReadonlyArray<{ readonly pod: string; readonly reason: string }>
  /** CapacityBuffer virtual pods that fit nowhere. */
  readonly unschedulableHeadroom?: ReadonlyArray<UnschedulableHeadroomJson>
}

/** A CapacityBuffer virtual pod that fits nowhere (beyond the contract, which lists only input pods). */
export interface UnschedulableHeadroomJson {
  readonly buffer: string
  readonly pod: string
  readonly reason: string
}

/** What the KWOK provider would launch for a NodeClaim. */
export interface LaunchJson {
  readonly instanceType: string
  readonly zone: string
  readonly capacityType: string
  readonly price: number
}

/** Headroom a NodeClaim or node holds for a CapacityBuffer (beyond the contract: its virtual pods are no input pods). */
export interface CapacityBufferJson {
  readonly buffer: string
  readonly virtualPods: number
}

/** One new NodeClaim of the JSON output. */
export interface NodeClaimJson {
  readonly nodePool: string
  readonly instanceTypes: ReadonlyArray<string>
  readonly requirements: ReadonlyArray<RequirementJson>
  readonly pods: ReadonlyArray<string>
  /** `null` when no instance type has an available offering compatible with the requirements. */
  readonly launch: LaunchJson | null
  /** Present when the NodeClaim is launched (also) for CapacityBuffer headroom. */
  readonly capacityBuffers?: ReadonlyArray<CapacityBufferJson>
}

/** One existing node taking pods (or headroom) in the JSON output. */
export interface ExistingNodeJson {
  readonly name: string
  readonly pods: ReadonlyArray<string>
  readonly capacityBuffers?: ReadonlyArray<CapacityBufferJson>
}

/** The `schedule -o json` document (CLI contract). */
export interface ScheduleJson {
  readonly nodeClaims: ReadonlyArray<NodeClaimJson>
  readonly existingNodes: ReadonlyArray<ExistingNodeJson>
  readonly unschedulable: ReadonlyArray<{ readonly pod: string; readonly reason: string }>
  /** Present when some CapacityBuffer headroom fits nowhere. */
  readonly unschedulableHeadroom?: ReadonlyArray<UnschedulableHeadroomJson>
}

// Code-unit order, not locale order: the output must be the same on every machine.
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const sorted = (values: ReadonlyArray<string>): Array<string> => [...values].sort(compareStrings)

// compareOfferings breaks price ties by capacity type and then zone; across instance types the contract puts the
// instance type name before the zone, so the zone is neutralised here and compared last.
const withoutZone = (offering: InstanceType.Offering): InstanceType.Offering => ({ ...offering, zone: "" })

/**
 * The cheapest available offering compatible with `requirements` over all `instanceTypes`; ties: capacity type
 * (reserved, spot, on-demand), then instance type name, then zone. `null` when nothing is launchable.
 */
export const launchOf = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): LaunchJson | null => {
  let best: { readonly name: string; readonly offering: InstanceType.Offering } | undefined
  for (const instanceType of instanceTypes) {
    for (const offering of InstanceType.compatibleOfferings(instanceType, requirements, wellKnown)) {
      const better =
        best === undefined ||
        (InstanceType.compareOfferings(withoutZone(offering), withoutZone(best.offering)) ||
          compareStrings(instanceType.name, best.name) ||
          compareStrings(offering.zone, best.offering.zone)) < 0
      if (better) best = { name: instanceType.name, offering }
    }
  }
  return best === undefined
    ? null
    : {
        instanceType: best.name,
        zone: best.offering.zone,
        capacityType: best.offering.capacityType,
        price: best.offering.price
      }
}

/**
 * The CLI contract's JSON document. NodeClaims keep the scheduler's order (their instance types too: cheapest
 * first); existing nodes are sorted by name and those without new pods left out; pods are sorted within each entry;
 * unschedulable pods are sorted by pod.
 */
export const toJson = (result: PassResult, wellKnown: ReadonlySet<string>): ScheduleJson => ({
  nodeClaims: result.nodeClaims.map((claim) => ({
    nodePool: claim.nodePool,
    instanceTypes: claim.instanceTypes.map((instanceType) => instanceType.name),
    requirements: claim.requirements.map(({ key, operator, values }) => ({ key, operator, values: [...values] })),
    pods: sorted(claim.pods),
    launch: launchOf(claim.instanceTypes, claim.requirementsForLaunch, wellKnown),
    ...capacityBuffersOf(claim.buffers)
  })),
  existingNodes: result.existingNodes
    .filter((node) => node.pods.length > 0 || (node.buffers ?? []).length > 0)
    .map((node) => ({ name: node.name, pods: sorted(node.pods), ...capacityBuffersOf(node.buffers) }))
    .sort((a, b) => compareStrings(a.name, b.name)),
  unschedulable: result.unschedulable
    .map(({ pod, reason }) => ({ pod, reason }))
    .sort((a, b) => compareStrings(a.pod, b.pod) || compareStrings(a.reason, b.reason)),
  ...((result.unschedulableHeadroom ?? []).length === 0
    ? {}
    : {
        unschedulableHeadroom: (result.unschedulableHeadroom ?? [])
          .map(({ buffer, pod, reason }) => ({ buffer, pod, reason }))
          .sort((a, b) => compareStrings(a.pod, b.pod))
      })
})

/** The `capacityBuffers` field of an entry: virtual pods counted by buffer, by buffer name; none without any. */
const capacityBuffersOf = (
  buffers: ReadonlyArray<string> | undefined
): { readonly capacityBuffers?: ReadonlyArray<CapacityBufferJson> } => {
  if (buffers === undefined || buffers.length === 0) return {}
  const counts = new Map<string, number>()
  for (const buffer of buffers) counts.set(buffer, (counts.get(buffer) ?? 0) + 1)
  return {
    capacityBuffers: sorted([...counts.keys()]).map((buffer) => ({ buffer, virtualPods: counts.get(buffer) ?? 0 }))
  }
}

const headroomLines = (entry: { readonly capacityBuffers?: ReadonlyArray<CapacityBufferJson> }, indent: string) =>
  (entry.capacityBuffers ?? []).map(
    ({ buffer, virtualPods }) => `${indent}headroom for capacitybuffer ${buffer}: ${plural(virtualPods, "virtual pod")}`
  )

const plural = (count: number, singular: string, pluralForm = `${singular}s`): string =>
  `${count} ${count === 1 ? singular : pluralForm}`

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ")

const formatLaunch = (launch: LaunchJson | null): string =>
  launch === null
    ? "none (no available offering compatible with the requirements)"
    : `${launch.instanceType} in ${launch.zone}, ${launch.capacityType}, $${launch.price}/hour`

/**
 * `3 pods on 1 new NodeClaim, 2 on existing nodes, 1 unschedulable`, and `; headroom: 2 virtual pods` when
 * CapacityBuffers hold some.
 */
export const summary = (json: ScheduleJson): string => {
  const onNew = json.nodeClaims.reduce((n, claim) => n + claim.pods.length, 0)
  const onExisting = json.existingNodes.reduce((n, node) => n + node.pods.length, 0)
  const headroom = [...json.nodeClaims, ...json.existingNodes]
    .flatMap((entry) => entry.capacityBuffers ?? [])
    .reduce((n, buffer) => n + buffer.virtualPods, 0)
  return (
    `${plural(onNew, "pod")} on ${plural(json.nodeClaims.length, "new NodeClaim")}, ` +
    `${onExisting} on existing nodes, ${json.unschedulable.length} unschedulable` +
    (headroom === 0 ? "" : `; headroom: ${plural(headroom, "virtual pod")}`)
  )
}

/** The text rendering of a JSON document: NodeClaim blocks, existing nodes, unschedulable pods, a summary line. */
export const renderText = (json: ScheduleJson): string => {
  const lines: Array<string> = []
  for (const [index, claim] of json.nodeClaims.entries()) {
    lines.push(`NodeClaim ${index + 1} (nodepool ${claim.nodePool})`)
    lines.push(`  launch:   ${formatLaunch(claim.launch)}`)
    lines.push(`  options:  ${plural(claim.instanceTypes.length, "instance type")}`)
    lines.push(`  pods (${claim.pods.length}):`)
    for (const pod of claim.pods) lines.push(`    ${pod}`)
    lines.push(...headroomLines(claim, "  "))
    lines.push("")
  }
  if (json.existingNodes.length > 0) {
    lines.push("Existing nodes")
    for (const node of json.existingNodes) {
      lines.push(`  ${node.name} (${plural(node.pods.length, "pod")}):`)
      for (const pod of node.pods) lines.push(`    ${pod}`)
      lines.push(...headroomLines(node, "    "))
    }
    lines.push("")
  }
  if (json.unschedulable.length > 0) {
    lines.push("Unschedulable pods")
    for (const { pod, reason } of json.unschedulable) lines.push(`  ${pod}: ${oneLine(reason)}`)
    lines.push("")
  }
  if (json.unschedulableHeadroom !== undefined) {
    lines.push("Headroom that fits nowhere")
    for (const { buffer, pod, reason } of json.unschedulableHeadroom) {
      lines.push(`  capacitybuffer ${buffer} (${pod}): ${oneLine(reason)}`)
    }
    lines.push("")
  }
  lines.push(summary(json))
  return lines.join("\n")
}

/** The text output of `schedule -o text`. */
export const toText = (result: PassResult, wellKnown: ReadonlySet<string>): string =>
  renderText(toJson(result, wellKnown))
