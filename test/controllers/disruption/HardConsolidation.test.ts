import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ConsolidationBench from "../../../bench/Consolidation.bench.ts"
import { catalogue } from "../../../bench/Scheduling.bench.ts"
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
        const candidates = Planner.consolidationCandidates(state)
        const lines: Array<string> = []
        for (const candidate of candidates) {
          lines.push(
            `single ${describeDecision([candidate], yield* Planner.computeConsolidation(state, [candidate], "single"))}`
          )
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
        // The decisions cover every outcome, or the golden file would not guard them.
        const text = lines.join("\n")
        expect(text).toContain(": delete")
        expect(text).toContain(": replace by")
        expect(text).toContain(": none,")
        yield* Effect.promise(() => expect(`${text}\n`).toMatchFileSnapshot("golden/HardConsolidation.txt"))
      }).pipe(Effect.scoped, Effect.provide(ConsolidationBench.services)),
    60_000
  )
})
