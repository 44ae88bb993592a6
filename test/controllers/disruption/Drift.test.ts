import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Drift from "../../../src/controllers/disruption/Drift.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as F from "./fixtures.ts"
import * as D from "./support.ts"

describe("disruption: drift", S.controllerSuite, () => {
  it.effect(
    "a NodePool template label change drifts every node; all are replaced, never more than the budget at once",
    () =>
      Effect.gen(function* () {
        // No consolidation: only drift moves nodes.
        yield* D.setup(
          D.nodePool("default", { consolidateAfter: "Never", labels: { team: "a" }, budgets: [{ nodes: "2" }] })
        )
        const log = yield* D.start()
        const tracker = yield* D.trackDisrupting
        const old = ["n1", "n2", "n3", "n4", "n5"]
        for (const name of old) yield* D.launch(name, "small")
        yield* S.advance(2_000, 1_000)
        // 1.5 cpu on each 2-cpu node: no pod fits beside another, so each drifted node needs a replacement.
        for (const name of old) yield* D.boundPod(`p-${name}`, name, { cpu: "1500m" })
        yield* S.advance(60_000, 10_000)
        assert.deepStrictEqual(log.entries(), [], "nothing drifted yet")

        const kube = yield* KubeClient
        yield* kube.patch(Resources.NodePools, "default", {
          type: "merge",
          patch: { spec: { template: { metadata: { labels: { team: "b" } } } } }
        })
        yield* S.settle
        for (const claim of yield* S.listNodeClaims) {
          assert.strictEqual(
            Conditions.get(claim.status?.conditions, ConditionTypes.Drifted)?.reason,
            ConditionTypes.NodePoolDrifted,
            claim.metadata.name
          )
        }
        for (let step = 0; step < 60; step++) {
          yield* S.advance(5_000, 5_000)
          assert.isAtMost(yield* D.disrupting, 2)
        }
        assert.isAtMost(tracker.most(), 2, "never more than the budget disrupting at once")
        assert.strictEqual(tracker.most(), 2, "the budget was used")
        const entries = log.entries()
        assert.deepStrictEqual(
          entries.filter((entry) => entry.reason !== "Drifted"),
          []
        )
        assert.deepStrictEqual(entries.flatMap((entry) => entry.candidates).sort(), old)
        // The first drifted node needs a new one for its pod; the evicted pods are not recreated (no workload
        // controller owns them), so later ones fit on the capacity the earlier replacements left free.
        assert.deepStrictEqual(entries[0]?.replacements, ["small"])
        // Every old node is gone; the new ones carry the new label and are not drifted.
        const names = yield* D.nodeNames
        for (const name of old) assert.notInclude(names, name)
        assert.isAbove(names.length, 0)
        for (const node of yield* S.listNodes) assert.strictEqual(node.metadata.labels?.team, "b")
        for (const claim of yield* S.listNodeClaims) {
          assert.isUndefined(Conditions.get(claim.status?.conditions, ConditionTypes.Drifted), claim.metadata.name)
        }
      }).pipe(Effect.provide(D.base()))
  )

  it.effect(
    "a drifted node whose pod cannot move says which pod and why, on its Node and NodeClaim (DisruptionBlocked)",
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "Never", labels: { team: "a" } }))
        const log = yield* D.start()
        yield* D.launch("pinned", "small")
        yield* S.advance(2_000, 1_000)
        yield* D.pinnedPod("p-pinned", "pinned")
        yield* S.advance(60_000, 10_000)
        const kube = yield* KubeClient
        yield* kube.patch(Resources.NodePools, "default", {
          type: "merge",
          patch: { spec: { template: { metadata: { labels: { team: "b" } } } } }
        })
        yield* S.advance(2 * 60_000, 10_000)
        assert.deepStrictEqual(log.entries(), [], "the drifted node stays: its pod has nowhere to go")
        const message =
          'Not all pods would schedule, default/p-pinned => incompatible with nodepool "default": key kubernetes.io/hostname, kubernetes.io/hostname In [pinned] not in kubernetes.io/hostname In [hostname-placeholder-0000] '
        assert.includeMembers(yield* D.eventsOn("DisruptionBlocked"), [
          `Node/pinned: ${message}`,
          `NodeClaim/pinned: ${message}`
        ])
      }).pipe(Effect.provide(D.base()))
  )
})

describe("Drift: its step", () => {
  it("should disrupt candidates whose NodeClaim is Drifted, consolidatable or not", () => {
    assert.isTrue(Drift.shouldDisrupt(F.candidate("drifted", { driftedAt: "2024-01-01T00:00:00Z", pods: 2 })))
    assert.isTrue(
      Drift.shouldDisrupt(F.candidate("never", { driftedAt: "2024-01-01T00:00:00Z", consolidateAfter: "Never" }))
    )
    assert.isFalse(Drift.shouldDisrupt(F.candidate("current")))
  })

  it("orders the oldest drift first, then the cheapest to disrupt, then by name", () => {
    const ordered = Drift.order([
      F.candidate("late", { driftedAt: "2024-01-01T00:10:00Z", cost: 0 }),
      F.candidate("early-dear", { driftedAt: "2024-01-01T00:00:00Z", cost: 5 }),
      F.candidate("early-cheap-b", { driftedAt: "2024-01-01T00:00:00Z", cost: 1 }),
      F.candidate("early-cheap-a", { driftedAt: "2024-01-01T00:00:00Z", cost: 1 })
    ])
    assert.deepStrictEqual(F.names(ordered), ["early-cheap-a", "early-cheap-b", "early-dear", "late"])
  })

  it("takes every empty drifted candidate the budgets allow, in drift order, and none with pods", () => {
    const ordered = Drift.order([
      F.candidate("a-busy", { nodePool: "a", driftedAt: "2024-01-01T00:00:00Z", pods: 1 }),
      F.candidate("a-old", { nodePool: "a", driftedAt: "2024-01-01T00:01:00Z" }),
      F.candidate("a-new", { nodePool: "a", driftedAt: "2024-01-01T00:02:00Z" }),
      F.candidate("b-old", { nodePool: "b", driftedAt: "2024-01-01T00:03:00Z" })
    ])
    const budgets = new Map([
      ["a", 1],
      ["b", 1]
    ])
    assert.deepStrictEqual(F.names(Drift.empties(ordered, budgets)), ["a-old", "b-old"])
    assert.deepStrictEqual(Drift.empties(ordered, new Map([["a", 0]])), [])
  })
})
