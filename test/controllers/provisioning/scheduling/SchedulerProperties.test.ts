/**
 * Properties of `Scheduler.solve` over random cases drawn by fast-check: NodePools (taints, requirements on zone, arch,
 * capacity type, KWOK instance family and cpu, template labels, limits), existing nodes with bound pods, DaemonSets,
 * and deployment-like groups of pending pods (requests, node selectors, tolerations, zone and hostname spread, hostname
 * anti-affinity, zonal affinity, host ports, preferences). Every property checks the same seeded cases, each solved
 * once; a failure is shrunk to a small `Spec`, which fast-check prints with the seed and path that replay it.
 * `PROPERTY_CASES=3000` runs more cases (with `--testTimeout` raised).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as NodePoolApi from "../../../../src/api/NodePool.ts"
import type * as PodApi from "../../../../src/api/Pod.ts"
import type { TaintLike } from "../../../../src/api/Taints.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as HostPorts from "../../../../src/scheduling/HostPorts.ts"
import * as PodRequirements from "../../../../src/scheduling/PodRequirements.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"
import * as Tolerations from "../../../../src/scheduling/Tolerations.ts"
import * as Property from "../../../support/Property.ts"
import { nodePool, pod } from "./fixtures.ts"
import {
  boundPod,
  CpuLabel,
  canonical,
  FamilyLabel,
  input,
  node,
  placements,
  priceUnder,
  singleValue,
  spread,
  term,
  wellKnown,
  zones
} from "./support.ts"

// -- The generator -----------------------------------------------------------------------------------------------
// fast-check draws a `Spec`, plain choices that `build` turns into the scheduler's input: a shrunk counterexample
// reads as those choices rather than as decoded objects over the whole catalogue. References to other apps and to
// NodePools are drawn as indices and taken modulo the number there are, so they stay valid while lists shrink.

/** A deployment-like group of identical pending pods (so every spread group's selected pods share its constraint). */
interface App {
  readonly name: string
  readonly replicas: number
  readonly zoneSpread: number | undefined
  readonly hostnameSpread: number | undefined
  /** App selected by a required hostname anti-affinity term. */
  readonly antiAffinity: string | undefined
  /** App selected by a required zonal affinity term. */
  readonly zoneAffinity: string | undefined
  readonly nodeSelector: Record<string, string> | undefined
  /** The zones the last required node-affinity term allows (earlier terms are unsatisfiable). */
  readonly requiredZones: ReadonlyArray<string> | undefined
}

interface Case {
  /** Generated cases always list their bound pods. */
  readonly input: Scheduler.Input & { readonly boundPods: ReadonlyArray<PodApi.Pod> }
  readonly apps: ReadonlyArray<App>
}

const arches = ["amd64", "arm64"] as const
const capacityTypes = [Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand] as const
const families = ["c", "s", "m"] as const
const teams = ["a", "b"] as const
const linux = { key: Labels.OS, operator: "In", values: ["linux"] }

type NodePoolOptions = NonNullable<Parameters<typeof nodePool>[1]>
type NodeSelectorRequirement = NonNullable<NodePoolOptions["requirements"]>[number]

/** A non-empty subset, in the original order. */
const subset = <A>(items: ReadonlyArray<A>): fc.Arbitrary<Array<A>> => fc.subarray([...items], { minLength: 1 })

const requirement = (key: string, operator: string, values?: ReadonlyArray<string>): NodeSelectorRequirement => ({
  key,
  operator,
  ...(values === undefined ? {} : { values })
})

const nodePoolOptions: fc.Arbitrary<NodePoolOptions> = fc
  .record({
    linux: Property.chance(0.85),
    zone: Property.weighted<NodeSelectorRequirement | undefined>(
      [51, fc.constant(undefined)],
      [40, subset(zones).map((values) => requirement(Labels.Zone, "In", values))],
      [9, fc.constantFrom(...zones).map((zone) => requirement(Labels.Zone, "NotIn", [zone]))]
    ),
    arch: Property.sometimes(
      0.3,
      fc.constantFrom(...arches).map((arch) => requirement(Labels.Arch, "In", [arch]))
    ),
    capacityType: Property.sometimes(
      0.3,
      subset(capacityTypes).map((values) => requirement(Labels.CapacityType, "In", values))
    ),
    family: Property.weighted<NodeSelectorRequirement | undefined>(
      [71, fc.constant(undefined)],
      [
        25,
        fc
          .tuple(subset(families), Property.sometimes(0.4, fc.integer({ min: 1, max: families.length })))
          .map(([values, minValues]) => ({
            ...requirement(FamilyLabel, "In", values),
            ...(minValues === undefined ? {} : { minValues: Math.min(minValues, values.length) })
          }))
      ],
      [4, fc.constant({ key: FamilyLabel, operator: "Exists", minValues: 4 })]
    ),
    cpu: Property.weighted<NodeSelectorRequirement | undefined>(
      [70, fc.constant(undefined)],
      [15, fc.constantFrom(1, 2, 4).map((cores) => requirement(CpuLabel, "Gt", [String(cores)]))],
      [15, fc.constantFrom(8, 16, 33).map((cores) => requirement(CpuLabel, "Lt", [String(cores)]))]
    ),
    taint: Property.sometimes(
      0.25,
      fc.record({
        key: fc.constant("dedicated"),
        value: fc.constantFrom(...teams),
        effect: fc.constantFrom("NoSchedule", "NoSchedule", "PreferNoSchedule")
      })
    ),
    cpuLimit: Property.sometimes(0.3, fc.integer({ min: 4, max: 48 })),
    memoryLimit: Property.sometimes(0.1, fc.integer({ min: 8, max: 96 })),
    team: Property.sometimes(0.3, fc.constantFrom(...teams)),
    weight: Property.sometimes(0.6, fc.constantFrom(1, 10, 10, 50))
  })
  .map((drawn) => {
    const requirements = [
      drawn.linux ? linux : undefined,
      drawn.zone,
      drawn.arch,
      drawn.capacityType,
      drawn.family,
      drawn.cpu
    ].filter((r) => r !== undefined)
    const limits = {
      ...(drawn.cpuLimit === undefined ? {} : { cpu: String(drawn.cpuLimit) }),
      ...(drawn.memoryLimit === undefined ? {} : { memory: `${drawn.memoryLimit}Gi` })
    }
    return {
      requirements,
      ...(drawn.taint === undefined ? {} : { taints: [drawn.taint] }),
      ...(drawn.team === undefined ? {} : { labels: { team: drawn.team } }),
      ...(Object.keys(limits).length === 0 ? {} : { limits }),
      ...(drawn.weight === undefined ? {} : { weight: drawn.weight })
    }
  })

/** Another app, by index (modulo the number of apps), or the app itself. */
type AppReference = "self" | number

const appReference = (self: number): fc.Arbitrary<AppReference> =>
  Property.weighted<AppReference>([self, fc.constant("self")], [100 - self, fc.nat({ max: 3 })])

/** The choices behind one app and its pods. */
interface AppSpec {
  /** The creation day of each replica. */
  readonly days: ReadonlyArray<number>
  readonly zoneSpread: number | undefined
  readonly hostnameSpread: number | undefined
  readonly antiAffinity: AppReference | undefined
  readonly zoneAffinity: AppReference | undefined
  readonly nodeSelector: Record<string, string> | undefined
  readonly requiredZones: ReadonlyArray<string> | undefined
  readonly cpu: string
  readonly memory: string
  /** A soft hostname spread, when there is no required one. */
  readonly softHostnameSpread: boolean
  /** An unsatisfiable required node-affinity term before the one with `requiredZones`. */
  readonly unsatisfiableTermFirst: boolean
  /** A preferred zone, when the app neither selects nor requires one. */
  readonly preferredZone: string | undefined
  readonly tolerations: ReadonlyArray<Record<string, string>> | undefined
  readonly hostPort: boolean
}

const appSpec: fc.Arbitrary<AppSpec> = fc.record({
  days: fc.array(fc.integer({ min: 1, max: 28 }), { minLength: 1, maxLength: 8 }),
  zoneSpread: Property.sometimes(0.35, fc.integer({ min: 1, max: 2 })),
  hostnameSpread: Property.sometimes(0.2, fc.integer({ min: 1, max: 2 })),
  antiAffinity: Property.sometimes(0.2, appReference(70)),
  zoneAffinity: Property.sometimes(0.15, appReference(50)),
  nodeSelector: Property.sometimes(
    0.25,
    fc.oneof(
      fc.constantFrom(...zones).map((zone): Record<string, string> => ({ [Labels.Zone]: zone })),
      fc.constantFrom(...arches).map((arch): Record<string, string> => ({ [Labels.Arch]: arch })),
      fc.constantFrom(...capacityTypes).map((type): Record<string, string> => ({ [Labels.CapacityType]: type })),
      fc.constantFrom(...teams).map((team): Record<string, string> => ({ team })),
      fc.constantFrom(...families).map((family): Record<string, string> => ({ [FamilyLabel]: family }))
    )
  ),
  requiredZones: Property.sometimes(0.15, subset(zones)),
  cpu: fc.constantFrom("100m", "250m", "500m", "1", "2", "3", "7"),
  memory: fc.constantFrom("128Mi", "512Mi", "1Gi", "4Gi"),
  softHostnameSpread: Property.chance(0.15),
  unsatisfiableTermFirst: Property.chance(0.3),
  preferredZone: Property.sometimes(0.15, fc.constantFrom(...zones)),
  tolerations: Property.sometimes(
    0.3,
    fc.constantFrom<ReadonlyArray<Record<string, string>>>(
      [{ key: "dedicated", operator: "Exists" }],
      [{ operator: "Exists" }],
      [{ key: "dedicated", operator: "Equal", value: "a", effect: "NoSchedule" }]
    )
  ),
  hostPort: Property.chance(0.1)
})

/** The choices behind one existing node and the pods bound to it. */
const existingSpec = fc.record({
  /** Its NodePool, by index (modulo the number of NodePools). */
  nodePool: Property.sometimes(0.6, fc.nat({ max: 2 })),
  arch: fc.constantFrom(...arches),
  capacityType: fc.constantFrom(...capacityTypes),
  zone: Property.sometimes(0.9, fc.constantFrom(...zones)),
  team: Property.sometimes(0.2, fc.constantFrom(...teams)),
  daemonRunning: Property.chance(0.3),
  cpu: fc.constantFrom("2", "4", "8"),
  memory: fc.constantFrom("4Gi", "8Gi", "16Gi"),
  requestedCpu: fc.constantFrom("0", "500m", "1", "2"),
  tainted: Property.chance(0.2),
  initialized: Property.chance(0.8),
  /** Bound pods: each of an app (by index), sometimes anti-affine to an app on hostname or zone. */
  bound: fc.array(
    fc.record({
      app: fc.nat({ max: 3 }),
      antiAffinity: Property.sometimes(
        0.2,
        fc.record({ topologyKey: fc.constantFrom(Labels.Hostname, Labels.Zone), app: fc.nat({ max: 3 }) })
      )
    }),
    { maxLength: 2 }
  )
})

/** The choices behind one DaemonSet pod. */
const daemonSpec = fc.record({
  cpu: fc.constantFrom("100m", "200m", "500m"),
  nodeSelector: Property.sometimes(
    0.3,
    fc.oneof(
      fc.constantFrom(...arches).map((arch): Record<string, string> => ({ [Labels.Arch]: arch })),
      fc.constantFrom(...teams).map((team): Record<string, string> => ({ team }))
    )
  ),
  tolerateAll: Property.chance(0.3),
  hostPort: Property.chance(0.15)
})

/** A random cluster, as choices. */
const specs = fc.record({
  nodePools: fc.array(nodePoolOptions, { minLength: 1, maxLength: 3 }),
  apps: fc.array(appSpec, { minLength: 1, maxLength: 4 }),
  existingNodes: fc.array(existingSpec, { maxLength: 3 }),
  daemonSetPods: fc.array(daemonSpec, { maxLength: 2 })
})

type Spec = typeof specs extends fc.Arbitrary<infer A> ? A : never

const appName = (index: number) => `app-${index}`

const resolve = (reference: AppReference | undefined, self: number, appCount: number): string | undefined =>
  reference === undefined ? undefined : appName(reference === "self" ? self : reference % appCount)

const appPods = (app: App, spec: AppSpec): Array<PodApi.Pod> => {
  const constraints: Array<Record<string, unknown>> = []
  if (app.zoneSpread !== undefined) constraints.push(spread(Labels.Zone, app.zoneSpread, app.name))
  if (app.hostnameSpread !== undefined) constraints.push(spread(Labels.Hostname, app.hostnameSpread, app.name))
  else if (spec.softHostnameSpread) {
    constraints.push(spread(Labels.Hostname, 1, app.name, { whenUnsatisfiable: "ScheduleAnyway" }))
  }
  const affinity: Record<string, unknown> = {}
  if (app.requiredZones !== undefined) {
    const last = [{ key: Labels.Zone, operator: "In", values: app.requiredZones }]
    const terms = spec.unsatisfiableTermFirst
      ? [[{ key: Labels.Zone, operator: "In", values: ["nowhere"] }], last]
      : [last]
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((matchExpressions) => ({ matchExpressions }))
      }
    }
  }
  // A preferred zone conflicting with a required one intersects to DoesNotExist, which an existing node without a zone
  // label satisfies (upstream does the same): keep preferred zones to apps that do not require one.
  if (
    app.nodeSelector?.[Labels.Zone] === undefined &&
    app.requiredZones === undefined &&
    spec.preferredZone !== undefined
  ) {
    affinity.nodeAffinity = {
      ...(affinity.nodeAffinity as Record<string, unknown> | undefined),
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 10,
          preference: { matchExpressions: [{ key: Labels.Zone, operator: "In", values: [spec.preferredZone] }] }
        }
      ]
    }
  }
  if (app.antiAffinity !== undefined) {
    affinity.podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Hostname, app.antiAffinity)]
    }
  }
  if (app.zoneAffinity !== undefined) {
    affinity.podAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, app.zoneAffinity)] }
  }
  const podSpec: Record<string, unknown> = {
    ...(constraints.length === 0 ? {} : { topologySpreadConstraints: constraints }),
    ...(Object.keys(affinity).length === 0 ? {} : { affinity }),
    ...(app.nodeSelector === undefined ? {} : { nodeSelector: app.nodeSelector }),
    ...(spec.tolerations === undefined ? {} : { tolerations: spec.tolerations })
  }
  return spec.days.map((day, i) =>
    pod(`${app.name}-${i}`, {
      cpu: spec.cpu,
      memory: spec.memory,
      labels: { app: app.name },
      spec: podSpec,
      creationTimestamp: `2024-01-${String(day).padStart(2, "0")}T00:00:00Z`,
      ...(spec.hostPort ? { hostPort: 8080 } : {})
    })
  )
}

/** The scheduler's input and the apps a spec describes. */
const build = (spec: Spec): Case => {
  const nodePools = spec.nodePools.map((options, i) => nodePool(`pool-${i}`, options))
  const appCount = spec.apps.length
  const apps = spec.apps.map(
    (app, i): App => ({
      name: appName(i),
      replicas: app.days.length,
      zoneSpread: app.zoneSpread,
      hostnameSpread: app.hostnameSpread,
      antiAffinity: resolve(app.antiAffinity, i, appCount),
      zoneAffinity: resolve(app.zoneAffinity, i, appCount),
      nodeSelector: app.nodeSelector,
      requiredZones: app.requiredZones
    })
  )
  const existingNodes = spec.existingNodes.map((existing, i) =>
    node(`node-${i}`, {
      labels: {
        [Labels.OS]: "linux",
        [Labels.Arch]: existing.arch,
        [Labels.CapacityType]: existing.capacityType,
        ...(existing.zone === undefined ? {} : { [Labels.Zone]: existing.zone }),
        ...(existing.nodePool === undefined
          ? {}
          : { [Labels.NodePool]: nodePools[existing.nodePool % nodePools.length]!.metadata.name }),
        ...(existing.team === undefined ? {} : { team: existing.team })
      },
      cpu: existing.cpu,
      memory: existing.memory,
      requested: {
        cpu: existing.requestedCpu,
        memory: "1Gi",
        ...(existing.daemonRunning ? { pods: "1" } : {})
      },
      ...(existing.daemonRunning ? { daemonSetRequested: { cpu: "100m", memory: "128Mi", pods: "1" } } : {}),
      ...(existing.tainted ? { taints: [{ key: "dedicated", value: "a", effect: "NoSchedule" }] } : {}),
      initialized: existing.initialized
    })
  )
  const boundPods = spec.existingNodes.flatMap((existing, n) =>
    existing.bound.map((bound, i) =>
      boundPod(`bound-node-${n}-${i}`, `node-${n}`, {
        labels: { app: appName(bound.app % appCount) },
        ...(bound.antiAffinity === undefined
          ? {}
          : {
              spec: {
                affinity: {
                  podAntiAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                      term(bound.antiAffinity.topologyKey, appName(bound.antiAffinity.app % appCount))
                    ]
                  }
                }
              }
            })
      })
    )
  )
  const daemonSetPods = spec.daemonSetPods.map((daemon, i) =>
    pod(`daemon-${i}`, {
      cpu: daemon.cpu,
      memory: "128Mi",
      ownerKind: "DaemonSet",
      spec: {
        ...(daemon.nodeSelector === undefined ? {} : { nodeSelector: daemon.nodeSelector }),
        ...(daemon.tolerateAll ? { tolerations: [{ operator: "Exists" }] } : {})
      },
      ...(daemon.hostPort ? { hostPort: 9100 + i } : {})
    })
  )
  const pods = apps.flatMap((app, i) => appPods(app, spec.apps[i]!))
  return { apps, input: { ...input({ nodePools, pods, existingNodes, boundPods, daemonSetPods }), boundPods } }
}

// -- Solving and checking ----------------------------------------------------------------------------------------

/** Every property draws the same cases (one seed), so each case is built and solved once for all of them. */
const parameters: Property.Parameters = { seed: 20240501, numRuns: Number(process.env.PROPERTY_CASES ?? 200) }

const solved = new Map<string, { readonly case: Case; readonly results: Scheduler.Results }>()

/** The case a spec describes and its solution, computed on first use. */
const solvedCase = (spec: Spec): Effect.Effect<{ readonly case: Case; readonly results: Scheduler.Results }> => {
  const key = JSON.stringify(spec)
  const cached = solved.get(key)
  if (cached !== undefined) return Effect.succeed(cached)
  const c = build(spec)
  return Scheduler.solve(c.input).pipe(
    Effect.map((results) => ({ case: c, results })),
    Effect.tap((entry) => Effect.sync(() => solved.set(key, entry)))
  )
}

/** Checks `check` on every case; a failing case reports every violation it has. */
const forEveryCase = (check: (c: Case, results: Scheduler.Results, violation: (message: string) => void) => void) =>
  Property.check(
    specs,
    (spec) =>
      Effect.flatMap(solvedCase(spec), ({ case: c, results }) =>
        Effect.sync(() => {
          const violations: Array<string> = []
          check(c, results, (message) => violations.push(message))
          assert.deepStrictEqual(violations, [])
        })
      ),
    parameters
  )

const inputPod = (c: Case, key: string): PodApi.Pod =>
  c.input.pods.find((p) => Scheduler.podKey(p) === key) ?? assert.fail(`no input pod ${key}`)

const appOf = (p: PodApi.Pod): string | undefined => p.metadata.labels?.app

const templateRequirements = (np: NodePoolApi.NodePool): Requirements.Requirements =>
  Requirements.addAll(
    Requirements.fromNodeSelectorRequirements(np.spec.template.spec.requirements),
    Requirements.fromLabels({ ...np.spec.template.metadata?.labels, [Labels.NodePool]: np.metadata.name ?? "" })
  )

/** Whether a DaemonSet pod runs on new nodes of a NodePool (its selector only; PreferNoSchedule always tolerated). */
const daemonOnPool = (daemon: PodApi.Pod, np: NodePoolApi.NodePool): boolean =>
  Tolerations.tolerates(
    [...(daemon.spec.tolerations ?? []), Tolerations.preferNoScheduleToleration],
    np.spec.template.spec.taints ?? []
  ) === undefined &&
  Requirements.isCompatible(templateRequirements(np), Requirements.fromLabels(daemon.spec.nodeSelector), {
    allowUndefined: wellKnown
  })

/** Whether a DaemonSet pod runs on an existing node, strictly (upstream: its labels must define the keys). */
const daemonOnNode = (daemon: PodApi.Pod, existing: Scheduler.ExistingNodeInput): boolean =>
  Tolerations.tolerates(daemon.spec.tolerations, existing.taints) === undefined &&
  Requirements.isCompatible(Requirements.fromLabels(existing.labels), Requirements.fromLabels(daemon.spec.nodeSelector))

const requestsOf = (pods: ReadonlyArray<PodApi.Pod>): Resources.Resources =>
  Resources.requestsForPods(...pods.map((p) => p.spec))

const sameResources = (a: Resources.Resources, b: Resources.Resources): boolean => {
  const names = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...names].every((name) => (a[name] ?? 0) === (b[name] ?? 0))
}

/** Where each placed pod (by key) is: its host name and the single zone it is known to be in, if any. */
interface Host {
  readonly host: string
  readonly zone: string | undefined
  /** Zones it may be in. */
  readonly zones: ReadonlyArray<string>
  readonly existing: Scheduler.ExistingNodeInput | undefined
}

const hostsOf = (c: Case, results: Scheduler.Results): Map<string, Host> => {
  const hosts = new Map<string, Host>()
  results.newNodeClaims.forEach((claim, index) => {
    const zoneRequirement = Requirements.get(claim.requirements, Labels.Zone)
    const possible = zones.filter((zone) => Requirement.has(zoneRequirement, zone))
    const host: Host = {
      host: `claim-${index}`,
      zone: singleValue(claim, Labels.Zone),
      zones: possible,
      existing: undefined
    }
    for (const p of claim.pods) hosts.set(Scheduler.podKey(p), host)
  })
  for (const placed of results.existingNodes) {
    const existing = c.input.existingNodes.find((n) => n.name === placed.name)!
    const zone = existing.labels[Labels.Zone]
    const host: Host = { host: placed.name, zone, zones: zone === undefined ? [] : [zone], existing }
    for (const p of placed.pods) hosts.set(Scheduler.podKey(p), host)
  }
  return hosts
}

/** Active bound pods with the host they run on. */
const boundHosts = (c: Case): Array<{ readonly pod: PodApi.Pod; readonly host: Host }> =>
  c.input.boundPods.flatMap((p) => {
    const existing = c.input.existingNodes.find((n) => n.name === p.spec.nodeName)
    if (existing === undefined) return []
    const zone = existing.labels[Labels.Zone]
    return [{ pod: p, host: { host: existing.name, zone, zones: zone === undefined ? [] : [zone], existing } }]
  })

/** The node-affinity terms of an app's spread filter (nodeSelector merged into the effective required term). */
const appFilter = (app: App): Requirements.Requirements => {
  const selector = Requirements.fromLabels(app.nodeSelector)
  return app.requiredZones === undefined
    ? selector
    : Requirements.add(selector, Requirement.make(Labels.Zone, "In", app.requiredZones))
}

/** The zones of new capacity (NodePools with a launchable instance type) the app's strict requirements allow. */
const eligibleZones = (c: Case, app: App): Array<string> => {
  const allowed = new Set<string>()
  for (const { nodePool: np, instanceTypes } of c.input.nodePools) {
    const requirements = templateRequirements(np)
    const launchable = instanceTypes.some(
      (it) =>
        Requirements.hasIntersection(it.requirements, requirements) &&
        InstanceType.compatibleOfferings(it, requirements, wellKnown).length > 0
    )
    if (!launchable) continue
    const zoneRequirement = Requirements.get(requirements, Labels.Zone)
    for (const zone of zones) if (Requirement.has(zoneRequirement, zone)) allowed.add(zone)
  }
  const strict = Requirements.get(appFilter(app), Labels.Zone)
  return [...allowed].filter((zone) => Requirement.has(strict, zone))
}

// -- Properties --------------------------------------------------------------------------------------------------

// Each property checks 200 random clusters, solved once for all: seconds on an idle machine, more when the suite runs
// in parallel.
describe("Scheduler properties", { timeout: 60_000 }, () => {
  it.effect("(a) every input pod is placed exactly once or has an error", () =>
    forEveryCase((c, results, violation) => {
      const where = placements(results)
      for (const p of c.input.pods) {
        const places = where.get(Scheduler.podKey(p)) ?? []
        if (places.length !== 1) violation(`${Scheduler.podKey(p)} is at ${JSON.stringify(places)}`)
      }
      const known = new Set(c.input.pods.map(Scheduler.podKey))
      for (const key of where.keys()) if (!known.has(key)) violation(`${key} is not an input pod`)
      for (const claim of results.newNodeClaims) if (claim.pods.length === 0) violation("an empty NodeClaim")
      for (const placed of results.existingNodes) if (placed.pods.length === 0) violation(`${placed.name} listed empty`)
    })
  )

  it.effect("(b) NodeClaim requests fit every instance type, which is compatible, launchable and cheapest first", () =>
    forEveryCase((c, results, violation) => {
      for (const claim of results.newNodeClaims) {
        const originals = claim.pods.map((p) => inputPod(c, Scheduler.podKey(p)))
        const daemons = c.input.daemonSetPods.filter((daemon) => daemonOnPool(daemon, claim.nodePool))
        const expected = Resources.add(requestsOf(originals), daemons.length === 0 ? {} : requestsOf(daemons))
        if (!sameResources(claim.requests, expected)) {
          violation(`requests ${JSON.stringify(claim.requests)} ≠ pods + daemons ${JSON.stringify(expected)}`)
        }
        if (claim.instanceTypes.length === 0 || claim.instanceTypes.length > 60) {
          violation(`${claim.instanceTypes.length} instance types`)
        }
        const offered = new Set(
          c.input.nodePools.find((input) => input.nodePool === claim.nodePool)?.instanceTypes.map((it) => it.name)
        )
        let previous = 0
        for (const it of claim.instanceTypes) {
          if (!offered.has(it.name)) violation(`${it.name} is not offered to ${claim.nodePool.metadata.name}`)
          if (!Resources.fits(claim.requests, it.allocatable)) violation(`requests exceed ${it.name}'s allocatable`)
          if (!Requirements.hasIntersection(it.requirements, claim.requirements)) {
            violation(`${it.name} does not match ${Requirements.format(claim.requirements)}`)
          }
          if (InstanceType.compatibleOfferings(it, claim.requirements, wellKnown).length === 0) {
            violation(`${it.name} has no launchable offering`)
          }
          const price = priceUnder(it, claim.requirements)
          if (price < previous) violation(`${it.name} is out of price order`)
          previous = price
        }
        const named = Requirement.values(Requirements.get(claim.requirements, Labels.InstanceType))
        if (JSON.stringify(named) !== JSON.stringify(claim.instanceTypes.map((it) => it.name).sort())) {
          violation("the instance-type requirement does not list the instance types")
        }
        if (claim.requirements.has(Labels.Hostname)) violation("a NodeClaim keeps its simulated hostname")
      }
    })
  )

  it.effect("(c) no existing node is given more than its allocatable minus what is requested", () =>
    forEveryCase((c, results, violation) => {
      for (const placed of results.existingNodes) {
        const existing = c.input.existingNodes.find((n) => n.name === placed.name)!
        const daemons = c.input.daemonSetPods.filter((daemon) => daemonOnNode(daemon, existing))
        const daemonLeft = Resources.max(
          Resources.subtract(daemons.length === 0 ? {} : requestsOf(daemons), existing.daemonSetRequested),
          {}
        )
        const total = Resources.merge(
          existing.requested,
          daemonLeft,
          requestsOf(placed.pods.map((p) => inputPod(c, Scheduler.podKey(p))))
        )
        if (!Resources.fits(total, existing.allocatable)) {
          violation(`${placed.name}: ${JSON.stringify(total)} exceeds ${JSON.stringify(existing.allocatable)}`)
        }
      }
    })
  )

  it.effect("(d) pods tolerate the taints and satisfy the requirements and node selectors where they land", () =>
    forEveryCase((c, results, violation) => {
      const preferNoSchedule = c.input.nodePools.some((input) =>
        (input.nodePool.spec.template.spec.taints ?? []).some((taint) => taint.effect === "PreferNoSchedule")
      )
      const tolerations = (p: PodApi.Pod) => [
        ...(p.spec.tolerations ?? []),
        ...(preferNoSchedule ? [Tolerations.preferNoScheduleToleration] : [])
      ]
      const terms = (p: PodApi.Pod) =>
        p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms.map((t) =>
          Requirements.fromNodeSelectorRequirements(t.matchExpressions ?? [])
        ) ?? [Requirements.empty]
      for (const claim of results.newNodeClaims) {
        const taints: ReadonlyArray<TaintLike> = claim.nodePool.spec.template.spec.taints ?? []
        for (const placed of claim.pods) {
          const p = inputPod(c, Scheduler.podKey(placed))
          const key = Scheduler.podKey(p)
          const untolerated = Tolerations.tolerates(tolerations(p), taints)
          if (untolerated !== undefined) violation(`${key} on ${claim.nodePool.metadata.name}: ${untolerated}`)
          const incompatible = Requirements.compatible(
            claim.requirements,
            PodRequirements.strictRequirementsOf(p.spec),
            {
              allowUndefined: wellKnown
            }
          )
          if (incompatible !== undefined && terms(p).length === 1) violation(`${key}: ${incompatible}`)
          const satisfiesATerm = terms(p).some((t) =>
            [...t.values()].every((r) => {
              if (r.complement) return true
              const pinned = claim.requirements.get(r.key)
              return pinned !== undefined && !pinned.complement && [...pinned.values].every((v) => r.values.has(v))
            })
          )
          if (!satisfiesATerm) violation(`${key} satisfies none of its required node-affinity terms`)
          for (const [label, value] of Object.entries(p.spec.nodeSelector ?? {})) {
            const requirement = claim.requirements.get(label)
            if (requirement === undefined || requirement.complement || requirement.values.size !== 1) {
              violation(`${key}: node selector ${label}=${value} is not pinned by the NodeClaim`)
            } else if (!requirement.values.has(value)) violation(`${key}: node selector ${label}=${value} violated`)
          }
        }
      }
      for (const placed of results.existingNodes) {
        const existing = c.input.existingNodes.find((n) => n.name === placed.name)!
        for (const landed of placed.pods) {
          const p = inputPod(c, Scheduler.podKey(landed))
          const key = Scheduler.podKey(p)
          const untolerated = Tolerations.tolerates(p.spec.tolerations, existing.taints)
          if (untolerated !== undefined) violation(`${key} on ${existing.name}: ${untolerated}`)
          for (const [label, value] of Object.entries(p.spec.nodeSelector ?? {})) {
            if (existing.labels[label] !== value) violation(`${key} on ${existing.name}: ${label}=${value} violated`)
          }
          const labels = Requirements.fromLabels(existing.labels)
          if (!terms(p).some((t) => Requirements.isCompatible(labels, t))) {
            violation(`${key} on ${existing.name} satisfies none of its required node-affinity terms`)
          }
        }
      }
    })
  )

  it.effect("(e) required anti-affinity holds: hostname for pending pods, hostname or zone for bound ones", () =>
    forEveryCase((c, results, violation) => {
      const hosts = hostsOf(c, results)
      const everyone = [
        ...c.input.pods.flatMap((p) => {
          const host = hosts.get(Scheduler.podKey(p))
          return host === undefined ? [] : [{ pod: p, host }]
        }),
        ...boundHosts(c)
      ]
      const isBound = (p: PodApi.Pod) => p.spec.nodeName !== undefined
      for (const { pod: p, host } of everyone) {
        for (const t of p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
          const target = t.labelSelector?.matchLabels?.app
          const key = t.topologyKey
          for (const other of everyone) {
            // Two bound pods were placed before this pass: only pairs with a pending pod are the scheduler's doing.
            if (other.pod === p || appOf(other.pod) !== target || (isBound(p) && isBound(other.pod))) continue
            const shared =
              key === Labels.Hostname
                ? other.host.host === host.host
                : other.host.zones.some((zone) => host.zones.includes(zone)) && host.zones.length > 0
            if (shared) {
              violation(
                `${Scheduler.podKey(p)} (anti ${target} on ${key}) shares ${host.host} with ${Scheduler.podKey(other.pod)}`
              )
            }
          }
        }
      }
    })
  )

  it.effect("(f) zone spread holds maxSkew over the zones new capacity can use; hostname spread per host", () =>
    forEveryCase((c, results, violation) => {
      const hosts = hostsOf(c, results)
      for (const app of c.apps) {
        const mine = c.input.pods.filter((p) => appOf(p) === app.name)
        const filter = appFilter(app)
        const placed = mine.flatMap((p) => {
          const host = hosts.get(Scheduler.podKey(p))
          return host === undefined ? [] : [host]
        })
        // Bound pods of the app count where their node passes the spread's node filter (nodeAffinityPolicy Honor).
        const bound = boundHosts(c).filter(
          ({ pod: p, host }) =>
            appOf(p) === app.name &&
            host.existing !== undefined &&
            Requirements.isCompatible(Requirements.fromLabels(host.existing.labels), filter)
        )
        if (app.zoneSpread !== undefined) {
          const counts = new Map<string, number>()
          for (const host of [...placed, ...bound.map((b) => b.host)]) {
            if (host.zone !== undefined) counts.set(host.zone, (counts.get(host.zone) ?? 0) + 1)
          }
          const eligible = eligibleZones(c, app)
          if (eligible.length > 0) {
            const minimum = Math.min(...eligible.map((zone) => counts.get(zone) ?? 0))
            for (const zone of new Set(placed.flatMap((host) => (host.zone === undefined ? [] : [host.zone])))) {
              const count = counts.get(zone) ?? 0
              if (count - minimum > app.zoneSpread) {
                violation(
                  `${app.name}: zone ${zone} has ${count}, min over ${eligible.join(",")} is ${minimum}, maxSkew ${app.zoneSpread}`
                )
              }
            }
          }
        }
        if (app.hostnameSpread !== undefined) {
          const perHost = new Map<string, number>()
          for (const host of [...placed, ...bound.map((b) => b.host)]) {
            perHost.set(host.host, (perHost.get(host.host) ?? 0) + 1)
          }
          for (const host of new Set(placed.map((h) => h.host))) {
            if ((perHost.get(host) ?? 0) > app.hostnameSpread) {
              violation(`${app.name}: ${host} holds ${perHost.get(host)} > maxSkew ${app.hostnameSpread}`)
            }
          }
        }
      }
    })
  )

  it.effect("(g) NodePool limits hold: largest capacity of each NodeClaim plus existing capacity", () =>
    forEveryCase((c, results, violation) => {
      for (const { nodePool: np } of c.input.nodePools) {
        const limits = Resources.fromResourceList(np.spec.limits)
        const claims = results.newNodeClaims.filter((claim) => claim.nodePool === np)
        if (Object.keys(limits).length === 0 || claims.length === 0) continue
        const existing = c.input.existingNodes
          .filter((n) => n.nodePool === np.metadata.name)
          .reduce((sum, n) => Resources.add(sum, n.capacity), Resources.empty)
        const launched = claims.reduce(
          (sum, claim) => Resources.add(sum, Resources.max(...claim.instanceTypes.map((it) => it.capacity))),
          Resources.empty
        )
        for (const [name, limit] of Object.entries(limits)) {
          const used = (existing[name] ?? 0) + (launched[name] ?? 0)
          if (used > limit) violation(`${np.metadata.name}: ${name} ${used} > limit ${limit}`)
        }
      }
    })
  )

  it.effect("(h) solving is deterministic and independent of the order pods are listed in", () =>
    Property.check(
      specs,
      (spec) =>
        Effect.gen(function* () {
          const { case: c, results: first } = yield* solvedCase(spec)
          const again = yield* Scheduler.solve(c.input)
          assert.strictEqual(canonical(again), canonical(first), "a second solve differs")
          const reversed = yield* Scheduler.solve({ ...c.input, pods: [...c.input.pods].reverse() })
          assert.strictEqual(canonical(reversed), canonical(first), "reversing the pods changes the result")
        }),
      parameters
    )
  )

  it.effect(
    "(h2) bound pods given by node as well, or only by node (the disruption controller's shared arrays), change nothing",
    () =>
      Property.check(
        specs,
        (spec) =>
          Effect.gen(function* () {
            const { case: c, results: first } = yield* solvedCase(spec)
            const byNode = new Map<string, Array<PodApi.Pod>>()
            for (const pod of c.input.boundPods) {
              const name = pod.spec.nodeName ?? ""
              byNode.set(name, [...(byNode.get(name) ?? []), pod])
            }
            const grouped = yield* Scheduler.solve({ ...c.input, boundPodsByNode: byNode })
            assert.strictEqual(canonical(grouped), canonical(first))
            // A second simulation over the same arrays reads what the first one worked out for them.
            const again = yield* Scheduler.solve({ ...c.input, boundPodsByNode: byNode })
            assert.strictEqual(canonical(again), canonical(first), "reusing the arrays")
            // Disruption passes the arrays alone: the bound pods are theirs, in order.
            const { boundPods: _boundPods, ...byNodeOnly } = c.input
            const derived = yield* Scheduler.solve({ ...byNodeOnly, boundPodsByNode: byNode })
            assert.strictEqual(canonical(derived), canonical(first), "bound pods read from the arrays by node")
          }),
        parameters
      )
  )

  it.effect("(i) required zonal pod affinity lands where a selected pod is known to run", () =>
    forEveryCase((c, results, violation) => {
      const hosts = hostsOf(c, results)
      const known = [
        ...c.input.pods.flatMap((p) => {
          const host = hosts.get(Scheduler.podKey(p))
          return host === undefined ? [] : [{ pod: p, host }]
        }),
        ...boundHosts(c)
      ]
      for (const app of c.apps) {
        if (app.zoneAffinity === undefined) continue
        const zonesWithTarget = new Set(
          known.flatMap(({ pod: p, host }) =>
            appOf(p) === app.zoneAffinity && host.zone !== undefined ? [host.zone] : []
          )
        )
        for (const p of c.input.pods) {
          if (appOf(p) !== app.name) continue
          const host = hosts.get(Scheduler.podKey(p))
          // Existing nodes without a zone label are left out.
          if (host === undefined || (host.existing !== undefined && host.zone === undefined)) continue
          if (host.zones.length === 0 || !host.zones.some((zone) => zonesWithTarget.has(zone))) {
            violation(
              `${Scheduler.podKey(p)} (affinity to ${app.zoneAffinity}) is in ${host.zones.join(",") || "no zone"}`
            )
          }
        }
      }
    })
  )

  it.effect("(j) no two pods binding the same host port share a NodeClaim or node", () =>
    forEveryCase((c, results, violation) => {
      const check = (where: string, pods: ReadonlyArray<PodApi.Pod>, initial: HostPorts.HostPortUsage) => {
        const usage = initial.copy()
        for (const p of pods) {
          const ports = HostPorts.hostPortsOf(p.spec)
          const conflict = usage.conflict(ports)
          if (conflict !== undefined) violation(`${where}: ${conflict}`)
          usage.add(Scheduler.podKey(p), ports)
        }
      }
      results.newNodeClaims.forEach((claim, index) => {
        const daemons = c.input.daemonSetPods.filter((daemon) => daemonOnPool(daemon, claim.nodePool))
        check(`claim ${index}`, [...daemons, ...claim.pods], new HostPorts.HostPortUsage())
      })
      for (const placed of results.existingNodes) {
        const existing = c.input.existingNodes.find((n) => n.name === placed.name)!
        check(placed.name, placed.pods, existing.hostPorts)
      }
    })
  )

  it.effect("the random cases exercise every outcome", () =>
    Effect.gen(function* () {
      let claims = 0
      let onExisting = 0
      let errors = 0
      let spreads = 0
      for (const spec of fc.sample(specs, parameters)) {
        const { case: c, results } = yield* solvedCase(spec)
        claims += results.newNodeClaims.length
        onExisting += results.existingNodes.reduce((sum, n) => sum + n.pods.length, 0)
        errors += results.errors.size
        spreads += c.apps.filter((app) => app.zoneSpread !== undefined).length
      }
      assert.isAbove(claims, 200)
      assert.isAbove(onExisting, 20)
      assert.isAbove(errors, 20)
      assert.isAbove(spreads, 50)
    })
  )
})
