import { assert, describe, it } from "@effect/vitest"
import type * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import * as Validation from "../../../src/controllers/disruption/CommandValidation.ts"
import * as F from "./fixtures.ts"

/** The candidates of a fresh snapshot, by name. */
const now = (...candidates: ReadonlyArray<Candidates.Candidate>) => new Map(candidates.map((c) => [c.name, c]))

const budget = (left: number) => new Map([["default", left]])

describe("Validation.revalidate: the command after the validation TTL", () => {
  it("holds with the candidates as they are now when every one is still a candidate within budget", () => {
    const fresh = [F.candidate("a", { pods: 1, cost: 2 }), F.candidate("b", { pods: 2, cost: 3 })]
    const still = Validation.revalidate(
      F.command("Underutilized", [F.candidate("a", { pods: 1 }), F.candidate("b", { pods: 1 })]),
      now(...fresh),
      budget(2)
    )
    assert.strictEqual(still?.[0], fresh[0], "the fresh candidate, not the one the command was computed on")
    assert.strictEqual(still?.[1], fresh[1])
  })

  it("fails when a candidate is no longer a candidate, or no longer consolidatable", () => {
    const command = F.command("Underutilized", [F.candidate("a", { pods: 1 }), F.candidate("b", { pods: 1 })])
    assert.isUndefined(Validation.revalidate(command, now(F.candidate("a", { pods: 1 })), budget(2)), "b is gone")
    assert.isUndefined(
      Validation.revalidate(
        command,
        now(F.candidate("a", { pods: 1 }), F.candidate("b", { pods: 1, consolidatable: false })),
        budget(2)
      ),
      "b is not Consolidatable any more"
    )
  })

  it("fails an Empty command when a candidate got a pod; a consolidation's candidates may have pods", () => {
    const withPod = now(F.candidate("a", { pods: 1 }))
    assert.isUndefined(Validation.revalidate(F.command("Empty", [F.candidate("a")]), withPod, budget(1)))
    assert.deepStrictEqual(
      F.names(Validation.revalidate(F.command("Underutilized", [F.candidate("a")]), withPod, budget(1)) ?? []),
      ["a"]
    )
  })

  it("fails unless the budgets allow every candidate at once: no command is cut down to fit", () => {
    const command = F.command("Empty", [F.candidate("a"), F.candidate("b")])
    const current = now(F.candidate("a"), F.candidate("b"))
    assert.deepStrictEqual(F.names(Validation.revalidate(command, current, budget(2)) ?? []), ["a", "b"])
    assert.isUndefined(Validation.revalidate(command, current, budget(1)))
  })
})
