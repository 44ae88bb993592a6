import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

const DoNotDisrupt = "karpenter.sh/do-not-disrupt"

/** When the pod started (the kubelet's status.startTime), in epoch millis. */
const startedAt = (name: string) =>
  Effect.map(S.listPods, (pods) => Date.parse(pods.find((pod) => pod.metadata.name === name)?.status?.startTime ?? ""))

const iso = (millis: number) => new Date(millis).toISOString().replace(".000Z", "Z")

/** The pod as the API server has it now, or undefined once it is gone. */
const findPod = (name: string) => Effect.map(S.listPods, (pods) => pods.find((pod) => pod.metadata.name === name))

/** Changes the default NodePool's template labels: every node it launched drifts. */
const driftAll = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  kube.patch(Resources.NodePools, "default", {
    type: "merge",
    patch: { spec: { template: { metadata: { labels: { team: "b" } } } } }
  })
)

/** A NodePool that drift may empty at once, with a 10-minute terminationGracePeriod; then every controller. */
const startWithGracePeriod = Effect.andThen(
  D.setup(
    D.nodePool("default", {
      consolidateAfter: "Never",
      labels: { team: "a" },
      budgets: [{ nodes: "100%" }],
      terminationGracePeriod: "10m"
    })
  ),
  D.start()
)

describe("disruption: do-not-disrupt with a duration (v1.12)", S.controllerSuite, () => {
  it.effect(
    'a duration protects the node until that long after the pod started; consolidation takes it the moment it ends, while "true" keeps protecting',
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "100%" }] }))
        const log = yield* D.start()
        // Each medium node's 1-cpu pod fits a small node ($0.10 < $0.20): both would be replaced.
        yield* D.launch("timed", "medium")
        yield* D.launch("forever", "medium")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("p-timed", "timed", { annotations: { [DoNotDisrupt]: "30m" } })
        yield* D.boundPod("p-forever", "forever", { annotations: { [DoNotDisrupt]: "true" } })
        yield* S.settle
        const until = (yield* startedAt("p-timed")) + 30 * 60_000
        yield* S.advance(30 * 60_000 - 5_000, 10_000)
        assert.deepStrictEqual(log.entries(), [], "nothing is disrupted while the protection holds")
        assert.include(
          yield* D.eventsWithReason("DisruptionBlocked"),
          `timed: Cannot disrupt Node: pod default/p-timed has ${DoNotDisrupt} (protected until ${iso(until)})`
        )
        yield* S.advance(60_000, 1_000)
        const [first, ...rest] = log.entries()
        assert.deepStrictEqual(
          first?.candidates,
          ["timed"],
          "the node goes once its pod's protection ends, not the one annotated true"
        )
        // The pass runs when the protection ends; consolidation then validates for its 15 s before acting.
        assert.strictEqual(first?.time, until + 15_000)
        yield* S.advance(2 * 60 * 60_000, 60_000)
        assert.deepStrictEqual(
          [...rest, ...log.entries().slice(1 + rest.length)].filter((entry) => entry.candidates.includes("forever")),
          []
        )
        assert.strictEqual((yield* D.nodeTypes).forever, "medium", '"true" protects for as long as the pod runs')
      }).pipe(Effect.provide(D.base()))
  )

  it.effect('a value that is neither "true" nor a positive duration is ignored, with a Warning on the pod', () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "100%" }] }))
      const log = yield* D.start()
      for (const [node, value] of [
        ["zero", "0s"],
        ["negative", "-5m"],
        ["words", "soon"]
      ] as const) {
        yield* D.launch(node, "medium")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod(`p-${node}`, node, { annotations: { [DoNotDisrupt]: value } })
      }
      yield* S.advance(3 * 60_000, 10_000)
      // (The evicted pods are not recreated, so replacements may go too: only the annotated nodes count.)
      assert.includeMembers(
        log.entries().flatMap((entry) => entry.candidates),
        ["zero", "negative", "words"],
        "each node is consolidated as if its pod had no annotation"
      )
      assert.sameMembers(yield* D.eventsWithReason("InvalidDoNotDisruptAnnotation"), [
        `p-zero: Ignoring the ${DoNotDisrupt} annotation: duration "0s" is not positive`,
        `p-negative: Ignoring the ${DoNotDisrupt} annotation: duration "-5m" is not positive`,
        `p-words: Ignoring the ${DoNotDisrupt} annotation: cannot parse "soon" as a duration`
      ])
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("a drifted node with a duration-protected pod is replaced the moment the protection ends, not before", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never", labels: { team: "a" } }))
      const log = yield* D.start()
      yield* D.launch("drifted", "small")
      yield* S.advance(2_000, 1_000)
      // 1.5 cpu: the pod needs a node of its own, so the replacement shows it was counted once free to move.
      yield* D.boundPod("p-drifted", "drifted", { cpu: "1500m", annotations: { [DoNotDisrupt]: "30m" } })
      yield* S.settle
      const until = (yield* startedAt("p-drifted")) + 30 * 60_000
      yield* driftAll
      yield* S.advance(until - (yield* Clock.currentTimeMillis) - 5_000, 10_000)
      assert.deepStrictEqual(log.entries(), [], "the drifted node stays while its pod is protected")
      assert.include(
        yield* D.eventsWithReason("DisruptionBlocked"),
        `drifted: Cannot disrupt Node: pod default/p-drifted has ${DoNotDisrupt} (protected until ${iso(until)})`
      )
      yield* S.advance(10_000, 1_000)
      assert.deepStrictEqual(
        log.entries().map(({ time, reason, candidates, replacements }) => ({ time, reason, candidates, replacements })),
        [{ time: until, reason: "Drifted", candidates: ["drifted"], replacements: ["small"] }]
      )
    }).pipe(Effect.provide(D.base()))
  )

  it.effect(
    "with a terminationGracePeriod drift does not wait: the drain evicts each pod when its protection ends, or deletes it when the grace period runs out",
    () =>
      Effect.gen(function* () {
        const log = yield* startWithGracePeriod
        yield* D.launch("brief", "small")
        yield* D.launch("held", "small")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("p-brief", "brief", { cpu: "1500m", annotations: { [DoNotDisrupt]: "4m" } })
        yield* D.boundPod("p-held", "held", { cpu: "1500m", annotations: { [DoNotDisrupt]: "30m" } })
        yield* S.settle
        const briefUntil = (yield* startedAt("p-brief")) + 4 * 60_000
        yield* driftAll
        yield* S.advance(60_000, 1_000)
        assert.sameMembers(
          log.entries().flatMap((entry) => entry.candidates),
          ["brief", "held"],
          "an eventual disruption with a terminationGracePeriod is not held back by do-not-disrupt"
        )
        const deletedAt = Date.parse(
          (yield* S.listNodeClaims).find((claim) => claim.metadata.name === "held")?.metadata.deletionTimestamp ?? ""
        )
        // The drain waits for both protected pods without evicting them.
        yield* S.advance(briefUntil - (yield* Clock.currentTimeMillis) - 1_000, 1_000)
        assert.isDefined(yield* findPod("p-brief"))
        assert.isUndefined((yield* findPod("p-held"))?.metadata.deletionTimestamp)
        // p-brief's 4 minutes pass: it is evicted; p-held's 30 minutes outlast the 10-minute grace period.
        yield* S.advance(2_000, 1_000)
        // Evicted the moment its protection ended (the eviction grants its 30 s terminationGracePeriodSeconds).
        assert.strictEqual((yield* findPod("p-brief"))?.metadata.deletionTimestamp, iso(briefUntil + 30_000))
        yield* S.advance(40_000, 1_000)
        assert.notInclude(yield* D.nodeNames, "brief")
        const graceEnds = deletedAt + 10 * 60_000
        yield* S.advance(graceEnds - 30_000 - (yield* Clock.currentTimeMillis) - 1_000, 1_000)
        assert.isUndefined((yield* findPod("p-held"))?.metadata.deletionTimestamp, "still protected, still waited for")
        // Its 30 s terminationGracePeriodSeconds before the NodeClaim's deadline, the pod is deleted regardless.
        yield* S.advance(2_000, 1_000)
        assert.strictEqual((yield* findPod("p-held"))?.metadata.deletionTimestamp, iso(graceEnds))
        yield* S.advance(40_000, 1_000)
        assert.notInclude(yield* D.nodeNames, "held")
      }).pipe(Effect.provide(D.base()))
  )

  it.effect(
    "with a terminationGracePeriod a drifted node holding only a protected pod is not empty: the empty drifted node goes first, then it alone",
    () =>
      Effect.gen(function* () {
        const log = yield* startWithGracePeriod
        yield* D.launch("held", "small")
        yield* D.launch("idle", "small")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("p-held", "held", { cpu: "1500m", annotations: { [DoNotDisrupt]: "true" } })
        yield* S.settle
        yield* driftAll
        yield* S.advance(60_000, 1_000)
        // Upstream builds a candidate's pods with IsReschedulable, which ignores do-not-disrupt (the simulation then
        // leaves out the pods that cannot move yet): "held" has a pod, so it is not disrupted with the empty nodes.
        assert.deepStrictEqual(
          D.summary(log).map(({ reason, candidates }) => ({ reason, candidates })),
          [
            { reason: "Drifted", candidates: ["idle"] },
            { reason: "Drifted", candidates: ["held"] }
          ]
        )
      }).pipe(Effect.provide(D.base()))
  )

  it.effect("the drain of a deleted node evicts a pod whose protection ended and waits for one still protected", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never" }))
      yield* D.start()
      yield* D.launch("n1", "small")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p-short", "n1", { cpu: "500m", annotations: { [DoNotDisrupt]: "5m" } })
      yield* D.boundPod("p-long", "n1", { cpu: "500m", annotations: { [DoNotDisrupt]: "1h" } })
      yield* S.settle
      const longUntil = (yield* startedAt("p-long")) + 60 * 60_000
      yield* S.advance(10 * 60_000, 10_000)
      const kube = yield* KubeClient
      yield* kube.delete(Resources.NodeClaims, "n1")
      yield* S.advance(10_000, 1_000)
      assert.isDefined(
        (yield* findPod("p-short"))?.metadata.deletionTimestamp,
        "its 5 minutes are over: evicted at once"
      )
      yield* S.advance(longUntil - (yield* Clock.currentTimeMillis) - 1_000, 10_000)
      assert.isUndefined((yield* findPod("p-long"))?.metadata.deletionTimestamp, "still protected: waited for")
      assert.include(yield* D.nodeNames, "n1", "the node waits for it")
      yield* S.advance(2_000, 1_000)
      assert.strictEqual(
        (yield* findPod("p-long"))?.metadata.deletionTimestamp,
        iso(longUntil + 30_000),
        "evicted the moment its hour is over"
      )
      yield* S.advance(40_000, 1_000)
      assert.notInclude(yield* D.nodeNames, "n1")
    }).pipe(Effect.provide(D.base()))
  )

  it.effect('two protections ending together under a `nodes: "1"` budget free their nodes one at a time', () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "1" }] }))
      const log = yield* D.start()
      const tracker = yield* D.trackDisrupting
      // Each medium node's 1-cpu pod fits a small node, and both pods fit one: together they would go in one command.
      yield* D.launch("a", "medium")
      yield* D.launch("b", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p-a", "a", { annotations: { [DoNotDisrupt]: "30m" } })
      yield* D.boundPod("p-b", "b", { annotations: { [DoNotDisrupt]: "30m" } })
      yield* S.settle
      const until = (yield* startedAt("p-a")) + 30 * 60_000
      assert.strictEqual((yield* startedAt("p-b")) + 30 * 60_000, until, "both protections end at the same time")
      yield* S.advance(until - (yield* Clock.currentTimeMillis) - 5_000, 10_000)
      assert.deepStrictEqual(log.entries(), [])
      yield* S.advance(10 * 60_000, 1_000)
      const [first, second] = log.entries()
      // One node as soon as the protections end (consolidation validates for 15 s), the other after it is gone.
      assert.deepStrictEqual(first?.candidates, ["a"])
      assert.strictEqual(first?.time, until + 15_000)
      assert.deepStrictEqual(second?.candidates, ["b"])
      assert.strictEqual(tracker.most(), 1, "never more than one node disrupted at once")
    }).pipe(Effect.provide(D.base()))
  )
})
