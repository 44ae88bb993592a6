/**
 * Properties of `Scheduler.solve` over seeded random cases: NodePools (taints, requirements on zone, arch, capacity
 * type, KWOK instance family and cpu, template labels, limits), existing nodes with bound pods, DaemonSets, and
 * deployment-like groups of pending pods (requests, node selectors, tolerations, zone and hostname spread, hostname
 * anti-affinity, zonal affinity, host ports, preferences). Every case is solved once and checked against each
 * invariant; a failure names the seed, and `generate(seed)` rebuilds the case. `PROPERTY_CASES=3000` runs more cases
 * (with `--testTimeout` raised).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as NodePoolApi from "../../../../src/api/NodePool.ts"
import type * as PodApi from "../../../../src/api/Pod.ts"
import type { TaintLike } from "../../../../src/api/Taints.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as HostPorts from "../../../../src/scheduling/HostPorts.ts"
import * as PodRequirements from "../../../../src/scheduling/PodRequirements.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../../src/scheduling/Resources.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as Tolerations from "../../../../src/scheduling/Tolerations.ts"
import { nodePool, pod } from "./fixtures.ts"
import {
  boundPod,
  CpuLabel,
  canonical,
  FamilyLabel,
  Lcg,
  makeInput,
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
  readonly seed: number
  readonly input: Scheduler.Input
  readonly apps: ReadonlyArray<App>
}

const arches = ["amd64", "arm64"] as const
const capacityTypes = [Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand] as const
const families = ["c", "s", "m"] as const
const teams = ["a", "b"] as const
const linux = { key: Labels.OS, operator: "In", values: ["linux"] }

const randomNodePool = (rng: Lcg, name: string): NodePoolApi.NodePool => {
  const requirements: Array<{ key: string; operator: string; values?: Array<string>; minValues?: number }> = []
  if (rng.chance(0.85)) requirements.push(linux)
  if (rng.chance(0.4)) requirements.push({ key: Labels.Zone, operator: "In", values: rng.subset(zones) })
  else if (rng.chance(0.15)) requirements.push({ key: Labels.Zone, operator: "NotIn", values: [rng.pick(zones)] })
  if (rng.chance(0.3)) requirements.push({ key: Labels.Arch, operator: "In", values: [rng.pick(arches)] })
  if (rng.chance(0.3))
    requirements.push({ key: Labels.CapacityType, operator: "In", values: rng.subset(capacityTypes) })
  if (rng.chance(0.25)) {
    const values = rng.subset(families)
    requirements.push({
      key: FamilyLabel,
      operator: "In",
      values,
      ...(rng.chance(0.4) ? { minValues: rng.int(1, values.length) } : {})
    })
  } else if (rng.chance(0.05)) {
    requirements.push({ key: FamilyLabel, operator: "Exists", minValues: 4 })
  }
  const cpuBound = rng.next()
  if (cpuBound < 0.15) requirements.push({ key: CpuLabel, operator: "Gt", values: [String(rng.pick([1, 2, 4]))] })
  else if (cpuBound < 0.3) requirements.push({ key: CpuLabel, operator: "Lt", values: [String(rng.pick([8, 16, 33]))] })
  const taint = rng.chance(0.25)
    ? [{ key: "dedicated", value: rng.pick(teams), effect: rng.pick(["NoSchedule", "NoSchedule", "PreferNoSchedule"]) }]
    : undefined
  const limits: Record<string, string> = {}
  if (rng.chance(0.3)) limits.cpu = String(rng.int(4, 48))
  if (rng.chance(0.1)) limits.memory = `${rng.int(8, 96)}Gi`
  return nodePool(name, {
    requirements,
    ...(taint === undefined ? {} : { taints: taint }),
    ...(rng.chance(0.3) ? { labels: { team: rng.pick(teams) } } : {}),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(rng.chance(0.6) ? { weight: rng.pick([1, 10, 10, 50]) } : {})
  })
}

const randomApp = (rng: Lcg, index: number, appCount: number): App => {
  const name = `app-${index}`
  const other = () => `app-${rng.int(0, appCount - 1)}`
  let nodeSelector: Record<string, string> | undefined
  if (rng.chance(0.25)) {
    nodeSelector = rng.pick([
      () => ({ [Labels.Zone]: rng.pick(zones) }),
      () => ({ [Labels.Arch]: rng.pick(arches) }),
      () => ({ [Labels.CapacityType]: rng.pick(capacityTypes) }),
      () => ({ team: rng.pick(teams) }),
      () => ({ [FamilyLabel]: rng.pick(families) })
    ])()
  }
  return {
    name,
    replicas: rng.int(1, 8),
    zoneSpread: rng.chance(0.35) ? rng.int(1, 2) : undefined,
    hostnameSpread: rng.chance(0.2) ? rng.int(1, 2) : undefined,
    antiAffinity: rng.chance(0.2) ? (rng.chance(0.7) ? name : other()) : undefined,
    zoneAffinity: rng.chance(0.15) ? (rng.chance(0.5) ? name : other()) : undefined,
    nodeSelector,
    requiredZones: rng.chance(0.15) ? rng.subset(zones) : undefined
  }
}

const appPods = (rng: Lcg, app: App): Array<PodApi.Pod> => {
  const cpu = rng.pick(["100m", "250m", "500m", "1", "2", "3", "7"])
  const memory = rng.pick(["128Mi", "512Mi", "1Gi", "4Gi"])
  const constraints: Array<Record<string, unknown>> = []
  if (app.zoneSpread !== undefined) constraints.push(spread(Labels.Zone, app.zoneSpread, app.name))
  if (app.hostnameSpread !== undefined) constraints.push(spread(Labels.Hostname, app.hostnameSpread, app.name))
  else if (rng.chance(0.15)) {
    constraints.push(spread(Labels.Hostname, 1, app.name, { whenUnsatisfiable: "ScheduleAnyway" }))
  }
  const affinity: Record<string, unknown> = {}
  if (app.requiredZones !== undefined) {
    const last = [{ key: Labels.Zone, operator: "In", values: app.requiredZones }]
    const terms = rng.chance(0.3) ? [[{ key: Labels.Zone, operator: "In", values: ["nowhere"] }], last] : [last]
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((matchExpressions) => ({ matchExpressions }))
      }
    }
  }
  // A preferred zone conflicting with a required one intersects to DoesNotExist, which an existing node without a zone
  // label satisfies (upstream does the same): keep preferred zones to apps that do not require one.
  if (app.nodeSelector?.[Labels.Zone] === undefined && app.requiredZones === undefined && rng.chance(0.15)) {
    affinity.nodeAffinity = {
      ...(affinity.nodeAffinity as Record<string, unknown> | undefined),
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 10,
          preference: { matchExpressions: [{ key: Labels.Zone, operator: "In", values: [rng.pick(zones)] }] }
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
  const tolerations = rng.chance(0.3)
    ? rng.pick([
        [{ key: "dedicated", operator: "Exists" }],
        [{ operator: "Exists" }],
        [{ key: "dedicated", operator: "Equal", value: "a", effect: "NoSchedule" }]
      ])
    : undefined
  const hostPort = rng.chance(0.1) ? 8080 : undefined
  const spec: Record<string, unknown> = {
    ...(constraints.length === 0 ? {} : { topologySpreadConstraints: constraints }),
    ...(Object.keys(affinity).length === 0 ? {} : { affinity }),
    ...(app.nodeSelector === undefined ? {} : { nodeSelector: app.nodeSelector }),
    ...(tolerations === undefined ? {} : { tolerations })
  }
  return Array.from({ length: app.replicas }, (_, i) =>
    pod(`${app.name}-${i}`, {
      cpu,
      memory,
      labels: { app: app.name },
      spec,
      creationTimestamp: `2024-01-${String(rng.int(1, 28)).padStart(2, "0")}T00:00:00Z`,
      ...(hostPort === undefined ? {} : { hostPort })
    })
  )
}

const generate = (seed: number): Case => {
  const rng = new Lcg(seed)
  const nodePools = Array.from({ length: rng.int(1, 3) }, (_, i) => randomNodePool(rng, `pool-${i}`))
  const appCount = rng.int(1, 4)
  const apps = Array.from({ length: appCount }, (_, i) => randomApp(rng, i, appCount))
  const existingNodes = Array.from({ length: rng.int(0, 3) }, (_, i) => {
    const pool = rng.chance(0.6) ? rng.pick(nodePools).metadata.name : undefined
    const labels: Record<string, string> = {
      [Labels.OS]: "linux",
      [Labels.Arch]: rng.pick(arches),
      [Labels.CapacityType]: rng.pick(capacityTypes),
      ...(rng.chance(0.9) ? { [Labels.Zone]: rng.pick(zones) } : {}),
      ...(pool === undefined ? {} : { [Labels.NodePool]: pool }),
      ...(rng.chance(0.2) ? { team: rng.pick(teams) } : {})
    }
    const daemonRunning = rng.chance(0.3)
    return node(`node-${i}`, {
      labels,
      cpu: rng.pick(["2", "4", "8"]),
      memory: rng.pick(["4Gi", "8Gi", "16Gi"]),
      requested: {
        cpu: rng.pick(["0", "500m", "1", "2"]),
        memory: "1Gi",
        ...(daemonRunning ? { pods: "1" } : {})
      },
      ...(daemonRunning ? { daemonSetRequested: { cpu: "100m", memory: "128Mi", pods: "1" } } : {}),
      ...(rng.chance(0.2) ? { taints: [{ key: "dedicated", value: "a", effect: "NoSchedule" }] } : {}),
      initialized: rng.chance(0.8)
    })
  })
  const boundPods = existingNodes.flatMap((existing) =>
    Array.from({ length: rng.int(0, 2) }, (_, i) => {
      const anti = rng.chance(0.2)
        ? {
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  term(rng.pick([Labels.Hostname, Labels.Zone]), `app-${rng.int(0, appCount - 1)}`)
                ]
              }
            }
          }
        : undefined
      return boundPod(`bound-${existing.name}-${i}`, existing.name, {
        labels: { app: `app-${rng.int(0, appCount - 1)}` },
        ...(anti === undefined ? {} : { spec: anti })
      })
    })
  )
  const daemonSetPods = Array.from({ length: rng.int(0, 2) }, (_, i) =>
    pod(`daemon-${i}`, {
      cpu: rng.pick(["100m", "200m", "500m"]),
      memory: "128Mi",
      ownerKind: "DaemonSet",
      spec: {
        ...(rng.chance(0.3)
          ? { nodeSelector: rng.chance(0.5) ? { [Labels.Arch]: rng.pick(arches) } : { team: rng.pick(teams) } }
          : {}),
        ...(rng.chance(0.3) ? { tolerations: [{ operator: "Exists" }] } : {})
      },
      ...(rng.chance(0.15) ? { hostPort: 9100 + i } : {})
    })
  )
  const pods = apps.flatMap((app) => appPods(rng, app))
  return {
    seed,
    apps,
    input: makeInput({ nodePools, pods, existingNodes, boundPods, daemonSetPods })
  }
}

// -- Solving and checking ----------------------------------------------------------------------------------------

const CASES = Number(process.env.PROPERTY_CASES ?? 200)
const cases = Array.from({ length: CASES }, (_, i) => generate(i + 1))
const solved = new Map<number, Scheduler.Results>()

const resultsOf = (c: Case): Effect.Effect<Scheduler.Results> => {
  const cached = solved.get(c.seed)
  return cached !== undefined
    ? Effect.succeed(cached)
    : Scheduler.solve(c.input).pipe(Effect.tap((results) => Effect.sync(() => solved.set(c.seed, results))))
}

/** Runs `check` on every case; a failure reports the seed and every violation of that case. */
const forEveryCase = (check: (c: Case, results: Scheduler.Results, violation: (message: string) => void) => void) =>
  Effect.forEach(
    cases,
    (c) =>
      resultsOf(c).pipe(
        Effect.flatMap((results) =>
          Effect.sync(() => {
            const violations: Array<string> = []
            check(c, results, (message) => violations.push(message))
            assert.deepStrictEqual(violations, [], `seed ${c.seed}`)
          })
        )
      ),
    { discard: true }
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

// Each property solves a hundred random clusters: seconds on an idle machine, more when the suite runs in parallel.
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
    Effect.forEach(
      cases,
      (c) =>
        Effect.gen(function* () {
          const first = yield* resultsOf(c)
          const again = yield* Scheduler.solve(c.input)
          assert.strictEqual(canonical(again), canonical(first), `seed ${c.seed}: a second solve differs`)
          const reversed = yield* Scheduler.solve({ ...c.input, pods: [...c.input.pods].reverse() })
          assert.strictEqual(
            canonical(reversed),
            canonical(first),
            `seed ${c.seed}: reversing the pods changes the result`
          )
        }),
      { discard: true }
    )
  )

  it.effect("(h2) bound pods given by node as well (the disruption controller's shared arrays) change nothing", () =>
    Effect.forEach(
      cases,
      (c) =>
        Effect.gen(function* () {
          const byNode = new Map<string, Array<PodApi.Pod>>()
          for (const pod of c.input.boundPods) {
            const name = pod.spec.nodeName ?? ""
            byNode.set(name, [...(byNode.get(name) ?? []), pod])
          }
          const first = yield* resultsOf(c)
          const grouped = yield* Scheduler.solve({ ...c.input, boundPodsByNode: byNode })
          assert.strictEqual(canonical(grouped), canonical(first), `seed ${c.seed}`)
          // A second simulation over the same arrays reads what the first one worked out for them.
          const again = yield* Scheduler.solve({ ...c.input, boundPodsByNode: byNode })
          assert.strictEqual(canonical(again), canonical(first), `seed ${c.seed}: reusing the arrays`)
        }),
      { discard: true }
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
      for (const c of cases) {
        const results = yield* resultsOf(c)
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
