import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as Pod from "../../../../src/api/Pod.ts"
import * as Preferences from "../../../../src/controllers/provisioning/scheduling/Preferences.ts"
import * as PodRequirements from "../../../../src/scheduling/PodRequirements.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"

const zoneTerm = (...zones: Array<string>) => ({
  matchExpressions: [{ key: Labels.Zone, operator: "In", values: zones }]
})
const podTerm = (weight: number, topologyKey: string) => ({
  weight,
  podAffinityTerm: { topologyKey, labelSelector: { matchLabels: { app: "web" } } }
})

// A pod with one item for every relaxation step.
const everything: Pod.Spec = {
  containers: [{ name: "app" }],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [zoneTerm("a"), zoneTerm("b")] },
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 1, preference: zoneTerm("light") },
        { weight: 100, preference: zoneTerm("heavy") }
      ]
    },
    podAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [podTerm(10, Labels.Zone), podTerm(90, Labels.Hostname)]
    },
    podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [podTerm(5, Labels.Hostname)] }
  },
  topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: Labels.Zone, whenUnsatisfiable: "DoNotSchedule" },
    { maxSkew: 1, topologyKey: Labels.Hostname, whenUnsatisfiable: "ScheduleAnyway" },
    { maxSkew: 2, topologyKey: Labels.Zone, whenUnsatisfiable: "ScheduleAnyway" }
  ],
  tolerations: [{ key: "dedicated", operator: "Exists" }]
}

// Relaxes until nothing is left, collecting each step's description.
const exhaust = (spec: Pod.Spec, toleratePreferNoSchedule: boolean): { steps: Array<string>; last: Pod.Spec } => {
  const steps: Array<string> = []
  let current = spec
  for (let relaxed = Preferences.relax(current, { toleratePreferNoSchedule }); relaxed !== undefined; ) {
    steps.push(relaxed.relaxed)
    current = relaxed.spec
    relaxed = Preferences.relax(current, { toleratePreferNoSchedule })
  }
  return { steps, last: current }
}

describe("relax", () => {
  it("relaxes one item per call in upstream's order, then runs out", () => {
    const { steps, last } = exhaust(everything, true)
    assert.deepStrictEqual(steps, [
      `removed required node affinity term (${Labels.Zone} In [a])`,
      `removed preferred pod affinity term (weight 90, topology key ${Labels.Hostname})`,
      `removed preferred pod affinity term (weight 10, topology key ${Labels.Zone})`,
      `removed preferred pod anti-affinity term (weight 5, topology key ${Labels.Hostname})`,
      `removed preferred node affinity term (weight 100: ${Labels.Zone} In [heavy])`,
      `removed preferred node affinity term (weight 1: ${Labels.Zone} In [light])`,
      `removed ScheduleAnyway topology spread constraint (topology key ${Labels.Hostname})`,
      `removed ScheduleAnyway topology spread constraint (topology key ${Labels.Zone})`,
      "added toleration for PreferNoSchedule taints"
    ])
    // The last required term and DoNotSchedule constraints are never relaxed.
    assert.deepStrictEqual(
      last.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
      [zoneTerm("b")]
    )
    assert.deepStrictEqual(last.topologySpreadConstraints, [
      { maxSkew: 1, topologyKey: Labels.Zone, whenUnsatisfiable: "DoNotSchedule" }
    ])
    assert.deepStrictEqual(last.tolerations, [
      { key: "dedicated", operator: "Exists" },
      { operator: "Exists", effect: "PreferNoSchedule" }
    ])
    assert.deepStrictEqual(last.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution, [])
  })

  it("adds the PreferNoSchedule toleration only when asked", () => {
    const { steps } = exhaust(everything, false)
    assert.strictEqual(steps.length, 8)
    assert.isFalse(steps.includes("added toleration for PreferNoSchedule taints"))
  })

  it("does not add the toleration twice", () => {
    const spec: Pod.Spec = { containers: [], tolerations: [{ operator: "Exists", effect: "PreferNoSchedule" }] }
    assert.isUndefined(Preferences.relax(spec, { toleratePreferNoSchedule: true }))
    // A broader toleration is not the same toleration; upstream compares exactly.
    const broader: Pod.Spec = { containers: [], tolerations: [{ operator: "Exists" }] }
    assert.isDefined(Preferences.relax(broader, { toleratePreferNoSchedule: true }))
  })

  it("has nothing to relax for a plain pod", () => {
    assert.isUndefined(Preferences.relax({ containers: [] }, { toleratePreferNoSchedule: false }))
    const spec: Pod.Spec = {
      containers: [],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [zoneTerm("a")] } }
      }
    }
    assert.isUndefined(Preferences.relax(spec, { toleratePreferNoSchedule: false }))
  })

  it("never changes its argument and shares what it did not relax", () => {
    const before = JSON.stringify(everything)
    const relaxed = Preferences.relax(everything, { toleratePreferNoSchedule: true })!
    assert.strictEqual(JSON.stringify(everything), before)
    assert.notStrictEqual(relaxed.spec, everything)
    assert.strictEqual(relaxed.spec.affinity?.podAffinity, everything.affinity?.podAffinity)
    assert.strictEqual(relaxed.spec.topologySpreadConstraints, everything.topologySpreadConstraints)
    assert.strictEqual(relaxed.spec.containers, everything.containers)
  })

  it("reaches the later required OR terms through the pod's requirements", () => {
    const spec: Pod.Spec = {
      containers: [],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              zoneTerm("invalid"),
              zoneTerm("invalid"),
              zoneTerm("test-zone-1"),
              zoneTerm("test-zone-2")
            ]
          }
        }
      }
    }
    const zones: Array<string> = []
    let current: Pod.Spec | undefined = spec
    while (current !== undefined) {
      zones.push(Requirements.get(PodRequirements.requirementsOf(current), Labels.Zone).values.values().next().value!)
      current = Preferences.relax(current, { toleratePreferNoSchedule: false })?.spec
    }
    assert.deepStrictEqual(zones, ["invalid", "invalid", "test-zone-1", "test-zone-2"])
  })

  it("moves to lighter preferred node-affinity terms", () => {
    const spec: Pod.Spec = {
      containers: [],
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 50, preference: zoneTerm("test-zone-2") },
            { weight: 100, preference: zoneTerm("test-zone-3") },
            { weight: 1, preference: zoneTerm("test-zone-1") }
          ]
        }
      }
    }
    const zones: Array<string> = []
    let current: Pod.Spec | undefined = spec
    while (current !== undefined) {
      const zone = Requirements.get(PodRequirements.requirementsOf(current), Labels.Zone)
      zones.push([...zone.values].join(",") || "any")
      current = Preferences.relax(current, { toleratePreferNoSchedule: false })?.spec
    }
    assert.deepStrictEqual(zones, ["test-zone-3", "test-zone-2", "test-zone-1", "any"])
  })
})
