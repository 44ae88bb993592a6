import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../src/api/Labels.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

/**
 * Upstream v1.14 (#3006): a consolidation moves no pods onto a node still within its NodePool's consolidateAfter (a
 * node that changed too recently), so it does not pile pods onto capacity that has just arrived or just changed.
 * "old" is a small node ($0.10) whose 1-cpu pod has been there long; "fresh" a medium node launched later, whose
 * 2.5-cpu pod leaves room for old's pod. Nothing is cheaper than old, so old can only go by moving its pod to fresh.
 */
describe("disruption: consolidateAfter protects destinations", S.controllerSuite, () => {
  const oldAndFresh = Effect.gen(function* () {
    yield* D.launch("old", "small")
    yield* S.advance(2_000, 1_000)
    yield* D.boundPod("p-old", "old")
    // Long past old's consolidateAfter: old is Consolidatable, and nothing can replace it alone.
    yield* S.advance(6 * 60_000, 10_000)
    yield* D.launch("fresh", "medium")
    yield* S.advance(2_000, 1_000)
    yield* D.boundPod("p-fresh", "fresh", { cpu: "2500m" })
  })

  it.effect("consolidation moves no pods onto a node within its consolidateAfter, and does once it passed", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "5m" }))
      const log = yield* D.start()
      yield* oldAndFresh
      assert.deepStrictEqual(D.summary(log), [], "old had nowhere to go before fresh")
      // Three minutes after fresh's last pod event: still within its five.
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(D.summary(log), [], "old's pod does not move onto fresh")
      assert.include(yield* D.liveNodes, "old")
      assert.include(yield* D.eventsWithReason("Unconsolidatable"), "old: can't replace with a cheaper node")
      // Past fresh's consolidateAfter, old's pod may go there.
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(D.summary(log), [{ reason: "Underutilized", candidates: ["old"], replacements: [] }])
      assert.notInclude(yield* D.liveNodes, "old")
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("the re-check before acting drops a move onto a node whose consolidateAfter restarted meanwhile", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "2m" }))
      // A long validation wait, so the pod below lands between the decision and its re-check whatever the poll.
      const log = yield* D.start({ disruption: { validationTTL: "60 seconds" } })
      yield* D.launch("old", "small")
      yield* D.launch("fresh", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p-old", "old")
      yield* D.boundPod("p-fresh", "fresh", { cpu: "2500m" })
      // Both are Consolidatable from about 2 minutes on: old's pod may move to fresh, and the command is decided
      // within a poll (10 seconds); its re-check comes a minute later.
      yield* S.advance(150_000, 5_000)
      assert.deepStrictEqual(D.summary(log), [], "decided, not yet re-checked")
      // A pod event on fresh restarts its consolidateAfter before the re-check.
      yield* D.boundPod("p-fresh-2", "fresh", { cpu: "100m" })
      yield* S.advance(100_000, 5_000)
      assert.deepStrictEqual(D.summary(log), [], "the re-check found fresh within its consolidateAfter")
      assert.include(yield* D.liveNodes, "old")
      // Two minutes after that pod event (and a re-check later), old's pod goes to fresh.
      yield* S.advance(150_000, 5_000)
      assert.deepStrictEqual(D.summary(log), [{ reason: "Underutilized", candidates: ["old"], replacements: [] }])
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("a NodePool whose consolidateAfter is 0s protects no destination", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "0s" }))
      const log = yield* D.start()
      yield* D.launch("fresh", "medium")
      yield* D.launch("old", "small")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p-fresh", "fresh", { cpu: "2500m" })
      yield* D.boundPod("p-old", "old")
      yield* S.advance(60_000, 10_000)
      assert.deepStrictEqual(D.summary(log), [{ reason: "Underutilized", candidates: ["old"], replacements: [] }])
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("drift still moves a drifted node's pods onto a node within its consolidateAfter (as upstream)", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "5m" }))
      const log = yield* D.start()
      yield* oldAndFresh
      // old's NodeClaim no longer matches its NodePool: it drifted.
      const kube = yield* KubeClient
      yield* kube.patch(Resources.NodeClaims, "old", {
        type: "merge",
        patch: { metadata: { annotations: { [Labels.NodePoolHashAnnotation]: "stale" } } }
      })
      yield* S.advance(60_000, 10_000)
      assert.deepStrictEqual(D.summary(log), [{ reason: "Drifted", candidates: ["old"], replacements: [] }])
    }).pipe(Effect.provide(D.base()))
  )
})
