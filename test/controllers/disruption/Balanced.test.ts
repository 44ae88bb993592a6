import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Balanced from "../../../src/controllers/disruption/Balanced.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

// Four cpus for $0.20, three for $0.19 (5% less), two for $0.05.
const catalogue = () => [
  D.instanceType("big", 4, 0.2),
  D.instanceType("almost", 3, 0.19),
  D.instanceType("small", 2, 0.05)
]

const moves = (decision: string, policy: string) =>
  Effect.map(
    Metric.value(Metric.withAttributes(Balanced.consolidationMovesTotal, { decision, nodepool: "default", policy })),
    (state) => state.count
  )

const scores = (decision: string) =>
  Effect.map(
    Metric.value(
      Metric.withAttributes(Balanced.consolidationScore, { decision, nodepool: "default", policy: "Balanced" })
    ),
    (state) => state.count
  )

const underutilized = (log: {
  entries: () => ReadonlyArray<{
    reason: string
    candidates: ReadonlyArray<string>
    replacements: ReadonlyArray<string>
  }>
}) =>
  log
    .entries()
    .filter((entry) => entry.reason === "Underutilized")
    .map(({ candidates, replacements }) => ({ candidates, replacements }))

/**
 * Four big nodes a–d with a pod each: a–c's pods take 2.5 cpus (and only their node when `pinned`), d's `dCpu`
 * (annotated `dAnnotations`).
 */
const fourNodes = (
  policy: "WhenEmptyOrUnderutilized" | "Balanced",
  options: {
    readonly dCpu?: string
    readonly dAnnotations?: Record<string, string>
    readonly budget?: string
    readonly pinned?: boolean
  } = {}
) =>
  Effect.gen(function* () {
    yield* D.setup(
      D.nodePool("default", {
        consolidateAfter: "30s",
        consolidationPolicy: policy,
        ...(options.budget === undefined ? {} : { budgets: [{ nodes: options.budget }] })
      })
    )
    const log = yield* D.start()
    for (const name of ["a", "b", "c", "d"]) yield* D.launch(name, "big")
    yield* S.advance(2_000, 1_000)
    for (const name of ["a", "b", "c"]) {
      yield* options.pinned === true
        ? D.pinnedPod(`p${name}`, name, "2500m")
        : D.boundPod(`p${name}`, name, { cpu: "2500m" })
    }
    yield* D.boundPod("pd", "d", {
      cpu: options.dCpu ?? "2500m",
      ...(options.dAnnotations === undefined ? {} : { annotations: options.dAnnotations })
    })
    return log
  })

describe("disruption: Balanced consolidation", S.controllerSuite, () => {
  it.effect("WhenEmptyOrUnderutilized replaces a node to save 5%; Balanced scores that move 0.05 and leaves it", () =>
    Effect.gen(function* () {
      const rejectedBefore = yield* moves("rejected", "Balanced")
      const scoredBefore = yield* scores("rejected")
      const churning = yield* fourNodes("WhenEmptyOrUnderutilized")
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(churning)[0], { candidates: ["a"], replacements: ["almost"] })
      return { rejectedBefore, scoredBefore }
    }).pipe(
      Effect.provide(D.base(catalogue())),
      Effect.flatMap(({ rejectedBefore, scoredBefore }) =>
        Effect.gen(function* () {
          const balanced = yield* fourNodes("Balanced")
          yield* S.advance(3 * 60_000, 10_000)
          // Savings 0.01 of 0.80 (1.25%) against a node and a pod of 8 (25%): 0.05 < 0.5.
          assert.deepStrictEqual(underutilized(balanced), [])
          assert.deepStrictEqual((yield* D.nodeNames).sort(), ["a", "b", "c", "d"])
          assert.isAbove((yield* moves("rejected", "Balanced")) - rejectedBefore, 0)
          assert.isAbove((yield* scores("rejected")) - scoredBefore, 0)
          assert.deepStrictEqual(yield* D.eventsWithReason("ConsolidationApproved"), [])
        }).pipe(Effect.provide(D.base(catalogue())))
      )
    )
  )

  it.effect("Balanced approves a move worth its disruption and says so on the Node and NodeClaim", () =>
    Effect.gen(function* () {
      const approvedBefore = yield* moves("approved", "Balanced")
      // d's half cpu fits beside a's pod: deleting d saves 25% of the pool's cost for 25% of its disruption (1.0).
      const log = yield* fourNodes("Balanced", { dCpu: "500m", pinned: true })
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(log), [{ candidates: ["d"], replacements: [] }])
      assert.deepStrictEqual(yield* D.eventsOn("ConsolidationApproved"), [
        "Node/d: score 1.00 >= threshold 0.50 (k: 2, savings 25.0%, disruption 25.0%)",
        "NodeClaim/d: score 1.00 >= threshold 0.50 (k: 2, savings 25.0%, disruption 25.0%)"
      ])
      assert.strictEqual((yield* moves("approved", "Balanced")) - approvedBefore, 1)
    }).pipe(Effect.provide(D.base(catalogue())))
  )

  it.effect("a pod that is dear to evict (pod-deletion-cost) keeps its node under Balanced", () =>
    Effect.gen(function* () {
      // d's pod costs 10 to evict: 11 of the pool's 17 (65%) against 25% saved, 0.39 < 0.5.
      const log = yield* fourNodes("Balanced", {
        dCpu: "500m",
        pinned: true,
        dAnnotations: { "controller.kubernetes.io/pod-deletion-cost": "2147483647" }
      })
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(log), [])
    }).pipe(Effect.provide(D.base(catalogue())))
  )

  it.effect("an approved Balanced move still waits for its budget", () =>
    Effect.gen(function* () {
      const log = yield* fourNodes("Balanced", { dCpu: "500m", budget: "0", pinned: true })
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(log), [])
      assert.deepStrictEqual(yield* D.eventsWithReason("ConsolidationApproved"), [])
    }).pipe(Effect.provide(D.base(catalogue())))
  )
})
