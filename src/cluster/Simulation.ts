/**
 * The `simulate` driver: applies a scenario's objects and steps to the embedded cluster on a virtual clock, takes a
 * snapshot before each step and at the end (and, for the HTML report, a timeline sample every few virtual minutes), and
 * reports events, disruptions and a cost summary. Everything that happens in between — kube-scheduler, kubelet,
 * workload controllers, Karpenter's controllers — runs on the same clock, so hours pass in seconds and the same
 * scenario always gives the same result.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Labels from "../api/Labels.ts"
import { keyOf } from "../api/Pod.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import type * as DisruptionLog from "../controllers/disruption/DisruptionLog.ts"
import * as Admission from "../kube/Admission.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import type { KubeObject, Resource } from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as ResourceLists from "../scheduling/ResourceLists.ts"
import * as Scenario from "./Scenario.ts"
import { VirtualClock } from "./VirtualClock.ts"

/** A snapshot of the cluster (the CLI contract's shape). */
export interface Snapshot {
  readonly time: number
  readonly nodes: ReadonlyArray<{
    readonly name: string
    readonly nodePool: string
    readonly instanceType: string
    readonly zone: string
    readonly capacityType: string
    readonly pods: ReadonlyArray<string>
    readonly deleting?: true
  }>
  readonly nodeClaims: ReadonlyArray<{
    readonly name: string
    readonly nodePool: string
    readonly conditions: Readonly<Record<string, string>>
  }>
  readonly nodePools: ReadonlyArray<{
    readonly name: string
    readonly conditions: Readonly<Record<string, string>>
    readonly resources: Readonly<Record<string, string>>
  }>
  readonly pendingPods: ReadonlyArray<string>
}

/** One executed disruption command. */
export interface Disruption {
  readonly time: number
  readonly reason: string
  readonly candidates: ReadonlyArray<string>
  readonly replacements: ReadonlyArray<string>
}

/** The whole run (the CLI contract's shape). */
export interface Report {
  readonly snapshots: ReadonlyArray<Snapshot>
  readonly disruptions: ReadonlyArray<Disruption>
  readonly events: ReadonlyArray<{
    readonly time: number
    readonly reason: string
    readonly kind: string
    readonly name: string
    readonly message: string
  }>
  readonly summary: {
    readonly nodesLaunched: number
    readonly nodesTerminated: number
    readonly costUSD: number
    readonly peakNodes: number
  }
}

/** One point of a run's timeline (what the HTML report charts): the cluster's size, pods, cost and resources. */
export interface Sample {
  /** Seconds since the start. */
  readonly time: number
  /** Nodes (every Node object, as in a snapshot) per instance type and per capacity type, names sorted. */
  readonly instanceTypes: Readonly<Record<string, number>>
  readonly capacityTypes: Readonly<Record<string, number>>
  /** Pods on a listed node, and pods waiting for one (as a snapshot's `nodes[].pods` and `pendingPods`). */
  readonly boundPods: number
  readonly pendingPods: number
  /** What the nodes present cost per hour, and what every node has cost so far (the summary's `costUSD` at the end). */
  readonly costPerHour: number
  readonly costUSD: number
  /** Cores and bytes: what the bound pods request, and what the nodes can allocate. */
  readonly cpu: { readonly requested: number; readonly allocatable: number }
  readonly memory: { readonly requested: number; readonly allocatable: number }
}

/** A run: the CLI contract's report, and its timeline when one was asked for. */
export interface Run extends Report {
  readonly timeline?: ReadonlyArray<Sample>
}

/** At most about this many timeline points, however long the scenario, so the report stays small and fast to draw. */
const maxSamples = 1000

/** The timeline's spacing: a virtual minute, or a whole number of minutes for scenarios over 1,000 minutes. */
export const sampleInterval = (durationMillis: number): number =>
  Math.max(1, Math.ceil(durationMillis / maxSamples / 60_000)) * 60_000

/** How far a run has got, for a progress display. */
export interface Progress {
  /** Seconds of virtual time since the start. */
  readonly time: number
  /** Seconds the scenario runs. */
  readonly duration: number
  readonly nodes: number
  /** Pods on a node, and pods waiting for one. */
  readonly boundPods: number
  readonly pendingPods: number
}

/** Receives the run's progress after each virtual hour and at the end; unset (the default), none is sampled. */
export const ProgressSink = Context.Reference<((progress: Progress) => Effect.Effect<void>) | undefined>(
  "karpenter-effect/cluster/Simulation/ProgressSink",
  { defaultValue: () => undefined }
)

/** How far the clock moves at a time: progress is sampled in between. */
const progressStep = 3_600_000

/** A step the driver could not carry out (an unknown kind, an invalid object): one line, exit 2. */
export class StepFailed extends Schema.TaggedError<StepFailed>()("StepFailed", { message: Schema.String }) {}

const byName = <A extends KubeObject>(items: ReadonlyArray<A>) =>
  [...items].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))

const conditionMap = (conditions: ReadonlyArray<{ readonly type: string; readonly status: string }> | undefined) =>
  Object.fromEntries([...(conditions ?? [])].sort((a, b) => (a.type < b.type ? -1 : 1)).map((c) => [c.type, c.status]))

/** Lets every fiber the last change woke run until it blocks (work not started by a timer is not tracked). */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

const resourceFor = (kind: string, apiVersion?: string): Effect.Effect<Resource<KubeObject>, StepFailed> => {
  const resource = Resources.all.find(
    (r) => r.kind === kind && (apiVersion === undefined || r.apiVersion === apiVersion)
  )
  return resource === undefined
    ? Effect.fail(
        new StepFailed({ message: `unknown kind ${apiVersion === undefined ? "" : `${apiVersion} `}${kind}` })
      )
    : Effect.succeed(resource)
}

/** What a step names must exist as a kind, and what it applies must be a valid object. */
const check = (step: Scenario.Step): Effect.Effect<void, StepFailed> =>
  Effect.gen(function* () {
    for (const raw of step.apply ?? []) {
      const candidate = raw as { apiVersion?: string; kind?: string }
      const resource = yield* resourceFor(candidate.kind ?? "", candidate.apiVersion)
      const refusal = Admission.strictRefusal(resource, raw)
      if (refusal !== undefined) return yield* new StepFailed({ message: refusal })
      yield* resource.decode(raw).pipe(Effect.mapError((e) => new StepFailed({ message: e.message })))
    }
    for (const reference of step.delete ?? []) yield* resourceFor(reference.kind, reference.apiVersion)
    if (step.scale !== undefined) yield* resourceFor(step.scale.kind)
    if (step.patch !== undefined) yield* resourceFor(step.patch.kind, step.patch.apiVersion)
  })

/** Names the step (1-based, as written in the file) in a failure's message. */
const atStep =
  (step: Scenario.Step, index: number) =>
  (error: { readonly message: string }): StepFailed =>
    new StepFailed({ message: `step ${index + 1} (at ${step.at}): ${error.message}` })

/**
 * Runs a scenario. `objects` are applied at the start; `catalogue` prices the nodes for the summary; `disruptions`
 * reads the commands the disruption controller recorded; `timeline` asks for a {@link Sample} every
 * {@link sampleInterval} and with each snapshot.
 */
export const run = Effect.fn("Simulation.run")(function* (
  scenario: Scenario.Scenario,
  objects: ReadonlyArray<{ readonly resource: Resource<KubeObject>; readonly object: KubeObject }>,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  disruptions: () => ReadonlyArray<DisruptionLog.Entry> = () => [],
  options: { readonly timeline?: boolean } = {}
) {
  const kube = yield* KubeClient
  const clock = yield* VirtualClock
  const start = yield* Clock.currentTimeMillis
  const seconds = (millis: number) => Math.round((millis - start) / 1000)

  // Node lifetimes for the summary, from a watch that runs through the whole scenario.
  const lifetimes = new Map<string, { from: number; to?: number; price: number }>()
  let live = 0
  let peak = 0
  const priceOf = (labels: Readonly<Record<string, string>>) => {
    const instanceType = catalogue.find((candidate) => candidate.name === labels[Labels.InstanceType])
    const offering = instanceType?.offerings.find(
      (o) => o.zone === labels[Labels.Zone] && o.capacityType === labels[Labels.CapacityType]
    )
    return offering?.price ?? 0
  }
  const watcher = yield* Stream.runForEach(kube.watch(Resources.Nodes), (event) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      if (event.type === "BOOKMARK") return
      const name = event.object.metadata.name ?? ""
      if (event.type === "ADDED" && !lifetimes.has(name)) {
        lifetimes.set(name, { from: now, price: priceOf(event.object.metadata.labels ?? {}) })
        live++
        peak = Math.max(peak, live)
      } else if (event.type === "DELETED") {
        const lifetime = lifetimes.get(name)
        if (lifetime !== undefined && lifetime.to === undefined) {
          lifetime.to = now
          live--
        }
      }
    })
  ).pipe(Effect.forkChild)
  const costPerHour = () => {
    let total = 0
    for (const lifetime of lifetimes.values()) if (lifetime.to === undefined) total += lifetime.price
    return total
  }
  /** What every node has cost until `now`, to the micro-dollar. */
  const costUntil = (now: number) => {
    let cost = 0
    for (const lifetime of lifetimes.values())
      cost += (((lifetime.to ?? now) - lifetime.from) / 3_600_000) * lifetime.price
    return Math.round(cost * 1e6) / 1e6
  }

  const ensureNamespace = (namespace: string | undefined) =>
    namespace === undefined
      ? Effect.void
      : kube
          .create(Resources.Namespaces, { metadata: { name: namespace } } as never)
          .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))

  const apply = (resource: Resource<KubeObject>, object: KubeObject) =>
    Effect.gen(function* () {
      const namespace = resource.namespaced ? (object.metadata.namespace ?? "default") : undefined
      yield* ensureNamespace(namespace)
      const name = object.metadata.name ?? ""
      const created = yield* kube.create(resource, object as never, namespace === undefined ? {} : { namespace }).pipe(
        Effect.as(true),
        Effect.catchTag("AlreadyExists", () => Effect.succeed(false))
      )
      if (!created) {
        const { metadata: _metadata, status: _status, ...body } = object as KubeObject & { status?: unknown }
        yield* kube.patch(resource, name, { type: "merge", patch: body }, namespace === undefined ? {} : { namespace })
      }
    })

  const applyStep = (step: Scenario.Step) =>
    Effect.gen(function* () {
      if (step.apply !== undefined) {
        for (const raw of step.apply) {
          const candidate = raw as { apiVersion?: string; kind?: string }
          const resource = yield* resourceFor(candidate.kind ?? "", candidate.apiVersion)
          yield* apply(
            resource,
            yield* resource.decode(raw).pipe(Effect.mapError((e) => new StepFailed({ message: e.message })))
          )
        }
      }
      for (const reference of step.delete ?? []) {
        yield* kube
          .delete(yield* resourceFor(reference.kind, reference.apiVersion), reference.name, {
            ...(reference.namespace === undefined ? {} : { namespace: reference.namespace })
          })
          .pipe(Effect.catchTag("NotFound", () => Effect.void))
      }
      if (step.scale !== undefined) {
        const { kind, name, namespace, replicas } = step.scale
        yield* kube.patch(
          yield* resourceFor(kind),
          name,
          { type: "merge", patch: { spec: { replicas } } },
          {
            namespace: namespace ?? "default"
          }
        )
      }
      if (step.patch !== undefined) {
        const { kind, apiVersion, name, namespace, merge, subresource } = step.patch
        const resource = yield* resourceFor(kind, apiVersion)
        yield* kube.patch(
          resource,
          name,
          { type: "merge", patch: merge },
          {
            ...(resource.namespaced ? { namespace: namespace ?? "default" } : {}),
            ...(subresource === undefined ? {} : { subresource })
          }
        )
      }
    })

  const snapshot = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const pods = (yield* kube.list(Resources.Pods)).items
    const podsByNode = new Map<string, Array<string>>()
    const pending: Array<string> = []
    for (const pod of pods) {
      const phase = pod.status?.phase
      if (phase === "Succeeded" || phase === "Failed") continue
      const node = pod.spec.nodeName
      if (node === undefined || node === "") {
        pending.push(keyOf(pod))
        continue
      }
      const onNode = podsByNode.get(node)
      if (onNode === undefined) podsByNode.set(node, [keyOf(pod)])
      else onNode.push(keyOf(pod))
    }
    const nodes = byName((yield* kube.list(Resources.Nodes)).items).map((node) => {
      const labels = node.metadata.labels ?? {}
      const name = node.metadata.name ?? ""
      return {
        name,
        nodePool: labels[Labels.NodePool] ?? "",
        instanceType: labels[Labels.InstanceType] ?? "",
        zone: labels[Labels.Zone] ?? "",
        capacityType: labels[Labels.CapacityType] ?? "",
        pods: (podsByNode.get(name) ?? []).sort(),
        ...(node.metadata.deletionTimestamp === undefined ? {} : { deleting: true as const })
      }
    })
    const nodeClaims = byName((yield* kube.list(Resources.NodeClaims)).items).map((claim) => ({
      name: claim.metadata.name ?? "",
      nodePool: claim.metadata.labels?.[Labels.NodePool] ?? "",
      conditions: conditionMap(claim.status?.conditions)
    }))
    const nodePools = byName((yield* kube.list(Resources.NodePools)).items).map((nodePool) => ({
      name: nodePool.metadata.name ?? "",
      conditions: conditionMap(nodePool.status?.conditions),
      resources: Object.fromEntries(
        Object.entries(nodePool.status?.resources ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
      )
    }))
    return { time: seconds(now), nodes, nodeClaims, nodePools, pendingPods: pending.sort() } satisfies Snapshot
  })

  const timeline: Array<Sample> | undefined = options.timeline === true ? [] : undefined
  const sampleInto = (points: Array<Sample>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const nodes = (yield* kube.list(Resources.Nodes)).items
      const instanceTypes: Record<string, number> = {}
      const capacityTypes: Record<string, number> = {}
      const listed = new Set<string>()
      const cpu = { requested: 0, allocatable: 0 }
      const memory = { requested: 0, allocatable: 0 }
      for (const node of nodes) {
        const labels = node.metadata.labels ?? {}
        listed.add(node.metadata.name ?? "")
        const instanceType = labels[Labels.InstanceType] ?? ""
        const capacityType = labels[Labels.CapacityType] ?? ""
        instanceTypes[instanceType] = (instanceTypes[instanceType] ?? 0) + 1
        capacityTypes[capacityType] = (capacityTypes[capacityType] ?? 0) + 1
        const allocatable = ResourceLists.fromResourceList(node.status?.allocatable)
        cpu.allocatable += (allocatable.cpu ?? 0) / 1000
        memory.allocatable += (allocatable.memory ?? 0) / 1000
      }
      let boundPods = 0
      let pendingPods = 0
      for (const pod of (yield* kube.list(Resources.Pods)).items) {
        const phase = pod.status?.phase
        if (phase === "Succeeded" || phase === "Failed") continue
        const node = pod.spec.nodeName
        if (node === undefined || node === "") pendingPods++
        else if (listed.has(node)) {
          boundPods++
          const requests = ResourceLists.podRequests(pod.spec)
          cpu.requested += (requests.cpu ?? 0) / 1000
          memory.requested += (requests.memory ?? 0) / 1000
        }
      }
      const sorted = (counts: Record<string, number>) =>
        Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)))
      const point: Sample = {
        time: seconds(now),
        instanceTypes: sorted(instanceTypes),
        capacityTypes: sorted(capacityTypes),
        boundPods,
        pendingPods,
        costPerHour: Math.round(costPerHour() * 1e6) / 1e6,
        costUSD: costUntil(now),
        cpu,
        memory
      }
      // Points at one time (steps at the same moment) keep the latest state, as the last snapshot taken then.
      if (points.at(-1)?.time === point.time) points.pop()
      points.push(point)
    })
  const recordSample = timeline === undefined ? Effect.void : sampleInto(timeline)

  const duration = Scenario.millis(scenario.spec.duration)
  const interval = sampleInterval(duration)
  const sink = yield* ProgressSink
  const reportProgress = Effect.gen(function* () {
    if (sink === undefined) return
    const now = yield* Clock.currentTimeMillis
    let boundPods = 0
    let pendingPods = 0
    for (const pod of (yield* kube.list(Resources.Pods)).items) {
      const phase = pod.status?.phase
      if (phase === "Succeeded" || phase === "Failed") continue
      if (pod.spec.nodeName === undefined || pod.spec.nodeName === "") pendingPods++
      else boundPods++
    }
    yield* sink({ time: seconds(now), duration: duration / 1000, nodes: live, boundPods, pendingPods })
  })

  for (const { resource, object } of objects) yield* apply(resource, object)
  yield* settle
  yield* recordSample

  const snapshots: Array<Snapshot> = []
  let elapsed = 0
  const nextMultiple = (step: number) => (Math.floor(elapsed / step) + 1) * step
  // The clock moves a virtual hour at a time (a sample interval with a timeline), so a long run can show how far it
  // got; the virtual clock wakes the same sleepers in the same order as in one move (each wake runs to idle), so the
  // report is the same.
  const advanceTo = (offset: number) =>
    Effect.gen(function* () {
      while (offset > elapsed) {
        const next = Math.min(
          offset,
          nextMultiple(progressStep),
          timeline === undefined ? Number.POSITIVE_INFINITY : nextMultiple(interval)
        )
        yield* clock.adjust(next - elapsed)
        elapsed = next
        if (next === offset || next % progressStep === 0) yield* reportProgress
        // The point at `offset` itself is taken with the snapshot there, once the cluster has settled.
        if (next < offset && next % interval === 0) yield* recordSample
      }
      yield* settle
    })
  const steps = [...(scenario.spec.steps ?? [])]
    .map((step, index) => ({ step, index, at: Scenario.millis(step.at) }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
  // A step that can never work fails the run before it starts, naming the step, not hours into it.
  for (const { step, index } of steps) yield* check(step).pipe(Effect.mapError(atStep(step, index)))
  for (const { step, index, at } of steps) {
    if (at > duration) break
    yield* advanceTo(at)
    snapshots.push(yield* snapshot)
    yield* recordSample
    yield* applyStep(step).pipe(Effect.mapError(atStep(step, index)))
    yield* settle
  }
  yield* advanceTo(duration)
  snapshots.push(yield* snapshot)
  yield* recordSample
  const end = yield* Clock.currentTimeMillis
  yield* Fiber.interrupt(watcher)

  const events = (yield* kube.list(Resources.Events)).items
    .map((event) => ({
      time: seconds(Date.parse(event.firstTimestamp ?? event.lastTimestamp ?? "") || start),
      reason: event.reason ?? "",
      kind: event.involvedObject.kind ?? "",
      name: event.involvedObject.name ?? "",
      message: event.message ?? "",
      order: Number(event.metadata.resourceVersion ?? 0)
    }))
    .sort((a, b) => a.time - b.time || a.order - b.order)
    .map(({ order: _order, ...event }) => event)

  let terminated = 0
  for (const lifetime of lifetimes.values()) if (lifetime.to !== undefined) terminated++
  return {
    snapshots,
    disruptions: disruptions().map((entry) => ({
      time: seconds(entry.time),
      reason: entry.reason,
      candidates: entry.candidates,
      replacements: entry.replacements
    })),
    events,
    summary: {
      nodesLaunched: lifetimes.size,
      nodesTerminated: terminated,
      costUSD: costUntil(end),
      peakNodes: peak
    },
    ...(timeline === undefined ? {} : { timeline })
  } satisfies Run
})
