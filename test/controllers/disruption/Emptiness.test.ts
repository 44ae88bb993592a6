import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Metrics from "../../../src/controllers/disruption/DisruptionMetrics.ts"
import * as Emptiness from "../../../src/controllers/disruption/Emptiness.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as F from "./fixtures.ts"
import * as D from "./support.ts"

describe("disruption: emptiness", S.controllerSuite, () => {
  it.effect("an empty node is removed once consolidateAfter has passed, not before", () =>
    Effect.gen(function* () {
      const deletes = Metric.withAttributes(Metrics.decisionsTotal, {
        decision: "delete",
        reason: "empty",
        consolidation_type: ""
      })
      const disrupted = Metric.withAttributes(Metrics.nodeClaimsDisruptedTotal, {
        reason: "empty",
        nodepool: "default",
        capacity_type: "on-demand"
      })
      const decisionsBefore = (yield* Metric.value(deletes)).count
      const disruptedBefore = (yield* Metric.value(disrupted)).count
      yield* D.setup(D.nodePool("default", { consolidateAfter: "5m" }))
      const log = yield* D.start()
      // "busy" is the cheapest type that holds its pod: consolidation has nothing to gain there.
      yield* D.launch("busy", "small")
      yield* D.launch("empty", "medium")
      yield* S.advance(2_000, 1_000)
      assert.deepStrictEqual(yield* D.initializedClaims, ["busy", "empty"])
      yield* D.boundPod("app", "busy")
      // Initialized at t≈0; Consolidatable at 5m; then one more pass and the 15 s validation.
      yield* S.advance(4 * 60_000 + 55_000, 5_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["busy", "empty"], "nothing goes before consolidateAfter")
      assert.deepStrictEqual(log.entries(), [])
      assert.deepStrictEqual(yield* D.eventsWithReason("DisruptionLaunching"), [])

      yield* S.advance(60_000, 5_000)
      assert.deepStrictEqual(yield* D.nodeNames, ["busy"])
      assert.deepStrictEqual(
        (yield* S.listNodeClaims).map((claim) => claim.metadata.name),
        ["busy"]
      )
      const entries = log.entries()
      assert.deepStrictEqual(
        entries.map(({ reason, candidates, replacements }) => ({ reason, candidates, replacements })),
        [{ reason: "Empty", candidates: ["empty"], replacements: [] }]
      )
      assert.isAtLeast(entries[0]!.time, 5 * 60_000)
      assert.deepStrictEqual(yield* D.eventsWithReason("DisruptionLaunching"), ["empty: Disrupting Node: Empty/Delete"])
      assert.deepStrictEqual(yield* D.eventsWithReason("DisruptionTerminating"), ["empty: Disrupting Node: Empty"])
      assert.strictEqual((yield* Metric.value(deletes)).count - decisionsBefore, 1)
      assert.strictEqual((yield* Metric.value(disrupted)).count - disruptedBefore, 1)
      // The busy node's pod is untouched.
      assert.strictEqual((yield* S.getPod("app")).spec.nodeName, "busy")
    }).pipe(Effect.provide(D.base()))
  )

  it.effect(
    "a PodDisruptionBudget allowing no disruption of a DaemonSet pod keeps its node, unless the pod tolerates the disrupted taint",
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        const log = yield* D.start()
        const kube = yield* KubeClient
        yield* D.launch("guarded", "small")
        yield* D.launch("tolerant", "small")
        yield* S.advance(2_000, 1_000)
        // Each node runs only a daemon: "agent" does not tolerate karpenter.sh/disrupted, "mesh" tolerates every taint.
        yield* D.createDaemonSet("agent", "guarded")
        yield* D.createDaemonSet("mesh", "tolerant", [{ operator: "Exists" }])
        // A DaemonSet has no scale: maxUnavailable 0 fails the budget's sync (0 allowed); minAvailable 1 is all of one.
        yield* D.createPodDisruptionBudget("agent", "agent", { maxUnavailable: 0 })
        yield* D.createPodDisruptionBudget("mesh", "mesh", { minAvailable: 1 })
        yield* S.advance(5_000, 1_000)
        const daemons = (yield* S.listPods).map((pod) => [
          pod.metadata.labels?.app,
          pod.spec.nodeName,
          pod.metadata.ownerReferences?.[0]?.kind
        ])
        assert.deepStrictEqual(daemons, [
          ["agent", "guarded", "DaemonSet"],
          ["mesh", "tolerant", "DaemonSet"]
        ])
        for (const name of ["agent", "mesh"]) {
          const budget = yield* kube.get(Resources.PodDisruptionBudgets, name, { namespace: "default" })
          assert.strictEqual(budget.status?.disruptionsAllowed, 0, `${name} allows no disruption`)
        }

        yield* S.advance(3 * 60_000, 10_000)
        assert.deepStrictEqual(
          log.entries().map((entry) => [entry.reason, entry.candidates]),
          [["Empty", ["tolerant"]]],
          "only the node whose daemon tolerates the disrupted taint goes, as Empty"
        )
        assert.deepStrictEqual(yield* D.nodeNames, ["guarded"])
        assert.include(
          yield* D.eventsWithReason("DisruptionBlocked"),
          "guarded: Cannot disrupt Node: pdb default/agent prevents pod evictions"
        )
      }).pipe(Effect.provide(D.base()))
  )

  it.effect('budget nodes "20%" over 10 empty nodes: never more than 2 disrupting at once', () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "20%" }] }))
      const log = yield* D.start()
      const tracker = yield* D.trackDisrupting
      const names = Array.from({ length: 10 }, (_, i) => `node-${i}`)
      for (const name of names) yield* D.launch(name, "small")
      yield* S.advance(2_000, 1_000)
      assert.strictEqual((yield* D.initializedClaims).length, 10)
      for (let second = 0; second < 600 && (yield* S.listNodeClaims).length > 0; second++) {
        yield* S.advance(1_000, 1_000)
        const now = yield* D.disrupting
        assert.isAtMost(now, 2, `at ${second + 3}s ${now} nodes are disrupting`)
        assert.isAtMost(tracker.most(), 2, `by ${second + 3}s ${tracker.most()} nodes were disrupting at once`)
      }
      assert.deepStrictEqual(yield* D.nodeNames, [], "every empty node went in the end")
      assert.strictEqual(tracker.most(), 2, "the budget was used: two at once")
      const entries = log.entries()
      assert.isTrue(entries.every((entry) => entry.reason === "Empty" && entry.candidates.length <= 2))
      assert.deepStrictEqual(entries.flatMap((entry) => entry.candidates).sort(), names)
    }).pipe(Effect.provide(D.base()))
  )

  it.effect('a budget nodes "0" with a schedule blocks disruption inside its window and allows it outside', () =>
    Effect.gen(function* () {
      // Windows 00–10, 15–25, 30–40, 45–55 past each hour (UTC); the TestClock starts at 1970-01-01T00:00:00Z.
      yield* D.setup(
        D.nodePool("default", {
          consolidateAfter: "30s",
          budgets: [{ nodes: "0", schedule: "*/15 * * * *", duration: "10m" }, { nodes: "100%" }]
        })
      )
      const log = yield* D.start()
      yield* D.launch("first", "small")
      yield* S.advance(9 * 60_000 + 50_000, 10_000)
      assert.deepStrictEqual(yield* D.nodeNames, ["first"], "blocked inside the window")
      assert.deepStrictEqual(log.entries(), [])
      // The NodePool says why and until when, for each reason.
      assert.includeMembers(yield* D.eventsWithReason("DisruptionBlocked"), [
        'default: No allowed disruptions for Empty: budget "0" allows 0 until 00:10 UTC',
        'default: No allowed disruptions for Underutilized: budget "0" allows 0 until 00:10 UTC'
      ])
      yield* S.advance(60_000, 5_000)
      assert.deepStrictEqual(yield* D.nodeNames, [], "removed once the window closed")
      const entries = log.entries()
      assert.deepStrictEqual(
        entries.map((entry) => [entry.reason, entry.candidates]),
        [["Empty", ["first"]]]
      )
      assert.isAtLeast(entries[0]!.time, 10 * 60_000, "decided after 00:10")

      // 00:15: the next window opens; a new empty node waits for it to close at 00:25.
      yield* S.advance(4 * 60_000 + 10_000, 10_000)
      yield* D.launch("second", "small")
      yield* S.advance(9 * 60_000 + 50_000, 10_000)
      assert.deepStrictEqual(yield* D.nodeNames, ["second"], "blocked inside the next window")
      yield* S.advance(60_000, 5_000)
      assert.deepStrictEqual(yield* D.nodeNames, [])
      assert.isAtLeast(log.entries()[1]!.time, 25 * 60_000, "decided after 00:25")
    }).pipe(Effect.provide(D.base()))
  )
})

describe("Emptiness: its step", () => {
  it("should disrupt only consolidatable candidates with no pods to move", () => {
    assert.isTrue(Emptiness.shouldDisrupt(F.candidate("empty")))
    assert.isFalse(Emptiness.shouldDisrupt(F.candidate("busy", { pods: 1 })), "a pod to move")
    assert.isFalse(Emptiness.shouldDisrupt(F.candidate("fresh", { consolidatable: false })), "not Consolidatable yet")
    assert.isFalse(
      Emptiness.shouldDisrupt(F.candidate("never", { consolidateAfter: "Never" })),
      "its NodePool never consolidates"
    )
    // WhenEmpty NodePools are emptiness's too.
    assert.isTrue(Emptiness.shouldDisrupt(F.candidate("when-empty", { consolidationPolicy: "WhenEmpty" })))
  })

  it("selects the cheapest to disrupt first, as many per NodePool as its budget allows", () => {
    const { taken, constrained } = Emptiness.select(
      [
        F.candidate("a-dear", { nodePool: "a", cost: 3 }),
        F.candidate("b-only", { nodePool: "b", cost: 5 }),
        F.candidate("a-cheap", { nodePool: "a", cost: 1 }),
        F.candidate("a-mid", { nodePool: "a", cost: 2 })
      ],
      new Map([
        ["a", 2],
        ["b", 1]
      ])
    )
    assert.deepStrictEqual(F.names(taken), ["a-cheap", "a-mid", "b-only"])
    assert.isTrue(constrained, "a-dear waits for budget")
  })

  it("equal costs go by name; within budget nothing is constrained", () => {
    const { taken, constrained } = Emptiness.select(
      [F.candidate("n2"), F.candidate("n1"), F.candidate("n3")],
      new Map([["default", 3]])
    )
    assert.deepStrictEqual(F.names(taken), ["n1", "n2", "n3"])
    assert.isFalse(constrained)
  })
})
