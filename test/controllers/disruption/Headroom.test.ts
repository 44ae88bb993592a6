import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import * as Headroom from "../../../src/controllers/disruption/Headroom.ts"
import * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as Property from "../../support/Property.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

const types = ["small", "medium", "large"] as const
const cores = { small: 2, medium: 4, large: 8 } as const

/**
 * Up to 160 pods (80 on average), each asking 250m to 2 cores of one of 8 nodes of the catalogue's types; a pod that
 * does not fit its node is left out, so the clusters range from empty to full. Pods come first: shrinking drops them
 * before it simplifies the nodes.
 */
const clusters = fc.record({
  pods: fc.array(
    fc.record({ node: fc.nat({ max: 7 }), quarters: fc.integer({ min: 1, max: 8 }) }, { noNullPrototype: true }),
    {
      maxLength: 160,
      size: "max"
    }
  ),
  nodes: fc.array(fc.constantFrom(...types), { minLength: 8, maxLength: 8 })
})

type Cluster = typeof clusters extends fc.Arbitrary<infer A> ? A : never

describe("disruption: headroom", S.controllerSuite, () => {
  it.effect(
    "a candidate it rules out is one the consolidation simulation rejects too, over seeded random clusters",
    () =>
      Effect.gen(function* () {
        let ruledOut = 0
        let simulatedCommands = 0
        yield* Property.check(
          clusters,
          (spec) =>
            Effect.map(Effect.scoped(Effect.provide(compare(spec), D.base())), (outcome) => {
              ruledOut += outcome.ruledOut
              simulatedCommands += outcome.commands
            }),
          { seed: 1, numRuns: 6, shrinkRuns: 100 }
        )
        // Both sides happen: otherwise the comparison would prove nothing.
        assert.isAbove(ruledOut, 5)
        assert.isAbove(simulatedCommands, 0)
      }),
    60_000
  )
})

/** Lays the cluster out (a pod that does not fit its node is left out), then checks every candidate. */
const compare = (spec: Cluster) =>
  Effect.gen(function* () {
    yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
    // The controller's own passes are kept out of the way: the test drives the Planner itself.
    yield* D.start({ disruption: { pollInterval: "1000 hours" } })
    const nodes = spec.nodes.map((type, i) => ({ name: `n${i}`, free: cores[type] * 1000 }))
    for (const [i, type] of spec.nodes.entries()) yield* D.launch(`n${i}`, type)
    yield* S.advance(2_000, 1_000)
    for (const [i, pod] of spec.pods.entries()) {
      const node = nodes[pod.node]!
      const cpu = 250 * pod.quarters
      if (cpu > node.free) continue
      node.free -= cpu
      yield* D.boundPod(`p${i}`, node.name, { cpu: `${cpu}m` })
    }
    yield* S.advance(60_000, 10_000)
    // A ClusterState of the test's own, read once its informers have caught up.
    const services = yield* Layer.build(S.processServices)
    yield* S.advance(1_000, 1_000)
    const snapshot = yield* Effect.provide(Planner.snapshot(new Set()), services)
    let ruledOut = 0
    let commands = 0
    for (const candidate of Planner.consolidationCandidates(snapshot)) {
      const why = Headroom.ruledOut(snapshot, candidate, Planner.candidatesPrice([candidate]), undefined)
      const simulated = yield* Effect.provide(Planner.computeConsolidation(snapshot, [candidate], "single"), services)
      if (simulated.command !== undefined) commands++
      if (why === undefined) continue
      ruledOut++
      assert.isUndefined(simulated.command, `${candidate.name} was ruled out (${why})`)
    }
    return { ruledOut, commands }
  })
