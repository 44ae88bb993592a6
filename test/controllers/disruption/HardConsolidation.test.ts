import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConsolidationBench from "../../../bench/Consolidation.bench.ts"
import { catalogue } from "../../../bench/SchedulingInputs.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import * as Planner from "../../../src/controllers/disruption/Planner.ts"

/** What a consolidation decided, as one line: delete, replace (by which types, cheapest first), or why not. */
const describeDecision = (
  candidates: ReadonlyArray<Candidates.Candidate>,
  decision: { readonly command: Planner.Command | undefined; readonly why: string }
): string => {
  const names = candidates.map((candidate) => `${candidate.name} (${candidate.instanceType?.name})`).join(", ")
  const { command } = decision
  if (command === undefined) return `${names}: none, ${decision.why}`
  if (command.replacements.length === 0) return `${names}: delete`
  return `${names}: replace by ${command.replacements
    .map((claim) => `[${claim.instanceTypes.map((it) => it.name).join(" ")}]`)
    .join(", ")}`
}

/** Prefix sizes of multi-node consolidation recorded besides the search's own answer. */
const prefixes = [2, 3, 5, 8, 13, 21, 34]

/**
 * Every single-node decision of the cluster, then multi-node decisions over growing prefixes and the multi-node
 * search's own answer, one line each.
 */
const decisions = (state: Planner.Snapshot) =>
  Effect.gen(function* () {
    const candidates = Planner.consolidationCandidates(state)
    const lines: Array<string> = []
    for (const candidate of candidates) {
      const decision = yield* Planner.computeConsolidation(state, [candidate], "single")
      lines.push(`single ${describeDecision([candidate], decision)}`)
    }
    const withPods = candidates.filter((candidate) => candidate.reschedulablePods.length > 0)
    for (const size of prefixes) {
      const prefix = withPods.slice(0, size)
      lines.push(
        `multi ${size} ${describeDecision(prefix, yield* Planner.computeConsolidation(state, prefix, "multi"))}`
      )
    }
    const { best } = yield* ConsolidationBench.multiNodeSearch(state, candidates)
    lines.push(
      `multi search ${best === undefined ? "none" : describeDecision(best.candidates, { command: best, why: "" })}`
    )
    return lines.join("\n")
  })

/**
 * Topology on top: each node's first pod (app-0, big where the node has big pods) keeps off other app-0 pods' nodes
 * (required hostname anti-affinity), and app-1 pods spread over zones (every node is in the first zone).
 */
const constrained: ConsolidationBench.PodSpecOf = (pod) => {
  if (pod === 0) {
    return {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app: "app-0" } }, topologyKey: Labels.Hostname }
          ]
        }
      }
    }
  }
  if (pod % 10 === 1) {
    return {
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: Labels.Zone,
          whenUnsatisfiable: "DoNotSchedule",
          labelSelector: { matchLabels: { app: "app-1" } }
        }
      ]
    }
  }
  return {}
}

describe("disruption: consolidation of a hard-packed cluster of mixed AWS types", () => {
  it.effect(
    "single- and multi-node decisions stay what they were (golden file)",
    () =>
      Effect.gen(function* () {
        const { instanceTypes } = catalogue("aws")
        const state = yield* ConsolidationBench.load(
          ConsolidationBench.hardLayout(60, 7),
          instanceTypes,
          ConsolidationBench.hardRequirements
        )
        const text = yield* decisions(state)
        // The decisions cover every outcome, or the golden file would not guard them.
        expect(text).toContain(": delete")
        expect(text).toContain(": replace by")
        expect(text).toContain(": none,")
        yield* Effect.promise(() => expect(`${text}\n`).toMatchFileSnapshot("golden/HardConsolidation.txt"))
      }).pipe(Effect.scoped, Effect.provide(ConsolidationBench.services)),
    60_000
  )

  it.effect(
    "with pod anti-affinity and zone spread, the decisions stay what they were (golden file)",
    () =>
      Effect.gen(function* () {
        const { instanceTypes } = catalogue("aws")
        const state = yield* ConsolidationBench.load(
          ConsolidationBench.hardLayout(40, 11),
          instanceTypes,
          ConsolidationBench.hardRequirements,
          constrained
        )
        const text = yield* decisions(state)
        expect(text).toContain(": replace by")
        expect(text).toContain(": none,")
        yield* Effect.promise(() => expect(`${text}\n`).toMatchFileSnapshot("golden/HardConsolidationTopology.txt"))
      }).pipe(Effect.scoped, Effect.provide(ConsolidationBench.services)),
    60_000
  )
})
