import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Headroom from "../../../src/controllers/disruption/Headroom.ts"
import * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

const types = ["small", "medium", "large"] as const
const cores = { small: 2, medium: 4, large: 8 } as const

describe("disruption: headroom", S.controllerSuite, () => {
  it.effect(
    "a candidate it rules out is one the consolidation simulation rejects too, over seeded random clusters",
    () =>
      Effect.gen(function* () {
        let ruledOut = 0
        let simulatedCommands = 0
        for (let seed = 1; seed <= 6; seed++) {
          const outcome = yield* Effect.provide(cluster(seed), D.base())
          ruledOut += outcome.ruledOut
          simulatedCommands += outcome.commands
        }
        // Both sides happen: otherwise the comparison would prove nothing.
        assert.isAbove(ruledOut, 5)
        assert.isAbove(simulatedCommands, 0)
      }),
    60_000
  )
})

/** A cluster of random nodes and pods; every candidate is checked against the simulation. */
const cluster = (seed: number) =>
  Effect.gen(function* () {
    let state = seed
    const next = (bound: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31
      return Math.floor(state / 65_536) % bound
    }
    yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
    // The controller's own passes are kept out of the way: the test drives the Planner itself.
    yield* D.start({ disruption: { pollInterval: "1000 hours" } })
    const nodes: Array<{ readonly name: string; free: number }> = []
    for (let i = 0; i < 8; i++) {
      const type = types[next(types.length)]!
      nodes.push({ name: `n${i}`, free: cores[type] * 1000 })
      yield* D.launch(`n${i}`, type)
    }
    yield* S.advance(2_000, 1_000)
    for (let i = 0; i < 80; i++) {
      const node = nodes[next(nodes.length)]!
      const cpu = 250 * (1 + next(8))
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
      assert.isUndefined(simulated.command, `seed ${seed}: ${candidate.name} was ruled out (${why})`)
    }
    return { ruledOut, commands }
  })
