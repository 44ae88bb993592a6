import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import type * as Scheduler from "../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

const requirementOf = (claim: NodeClaim, key: string) =>
  claim.spec.requirements.find((requirement) => requirement.key === key)

/** The NodeClaims created from now on, as they were created. */
const createdNodeClaims = Effect.gen(function* () {
  const kube = yield* KubeClient
  const created: Array<NodeClaim> = []
  yield* Stream.runForEach(kube.watch(Resources.NodeClaims), (event) =>
    Effect.sync(() => {
      if (event.type === "ADDED") created.push(event.object)
    })
  ).pipe(Effect.forkScoped)
  yield* S.settle
  return created
})

describe("disruption: MinValuesPolicy (MIN_VALUES_POLICY)", S.controllerSuite, () => {
  // Upstream's consolidation test (v1.6, "should not consolidate a node by relaxing min values"): two instance types
  // where the NodePool asks for three.
  const twoTypes = [D.instanceType("a.small", 2, 0.1), D.instanceType("a.large", 8, 0.3)]
  const threeTypes = D.nodePool("default", {
    consolidateAfter: "0s",
    budgets: [{ nodes: "100%" }],
    requirements: [{ key: Labels.InstanceType, operator: "Exists", minValues: 3 }]
  })
  for (const [policy, why] of [
    // BestEffort: the simulation lowers minValues to the two types the pod fits; the one cheaper type breaks that.
    // Upstream's event says which requirement (v1.4.0 `Filtering by price: %v` of SatisfiesMinValues' error).
    ["BestEffort", `Filtering by price: minValues requirement is not met for "${Labels.InstanceType}"`],
    // Strict: the NodePool's minValues of 3 hold, so no NodeClaim could take the pod at all.
    ["Strict", "Not all pods would schedule"]
  ] as const) {
    it.effect(`${policy}: a node is not replaced by cheaper types that would break the minValues`, () =>
      Effect.gen(function* () {
        yield* D.setup(threeTypes)
        const log = yield* D.start({ minValuesPolicy: policy })
        yield* D.launch("big", "a.large")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("p", "big", { cpu: "1" })
        yield* S.advance(10 * 60_000, 10_000)
        assert.deepStrictEqual(log.entries(), [])
        assert.deepStrictEqual(yield* D.nodeTypes, { big: "a.large" })
        const events = (yield* D.eventsOn("Unconsolidatable")).filter((event) => event.includes(why))
        assert.isTrue(
          events.some((event) => event.startsWith("Node/big: ")),
          `events: ${events}`
        )
        assert.isTrue(
          events.some((event) => event.startsWith("NodeClaim/big: ")),
          `events: ${events}`
        )
      }).pipe(Effect.provide(D.base(twoTypes)))
    )
  }

  // Two families, where the NodePool asks for three: BestEffort lowers the family's minValues to two, which the two
  // cheaper types still meet, so each large node can be replaced by a NodeClaim that records the relaxation.
  const twoFamilies = [
    D.instanceType("a.small", 2, 0.1),
    D.instanceType("b.small", 2, 0.12),
    D.instanceType("a.large", 8, 0.3)
  ]
  const threeFamilies = (budget: string) =>
    D.nodePool("default", {
      consolidateAfter: "30s",
      budgets: [{ nodes: budget }],
      requirements: [{ key: KWOKNodeClass.InstanceFamilyLabel, operator: "Exists", minValues: 3 }]
    })
  /** Three large nodes whose pods keep apart (each needs a node of its own), each one cheaper to replace. */
  const threeLargeNodes = (policy: Scheduler.MinValuesPolicy, budget: string) =>
    Effect.gen(function* () {
      yield* D.setup(threeFamilies(budget))
      const log = yield* D.start({ minValuesPolicy: policy })
      const tracker = yield* D.trackDisrupting
      const created = yield* createdNodeClaims
      for (const name of ["n1", "n2", "n3"]) yield* D.launch(name, "a.large")
      yield* S.advance(2_000, 1_000)
      const apart = {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { topologyKey: Labels.Hostname, labelSelector: { matchLabels: { app: "apart" } } }
          ]
        }
      }
      for (const name of ["n1", "n2", "n3"]) {
        yield* S.createPod(
          S.pod(`p-${name}`, { cpu: "1", labels: { app: "apart" }, spec: { nodeName: name, affinity: apart } }) as never
        )
      }
      yield* S.advance(15 * 60_000, 5_000)
      return { log, tracker, created }
    })

  it.effect('BestEffort, budget nodes "1": the large nodes go for relaxed NodeClaims one at a time', () =>
    Effect.gen(function* () {
      const { log, tracker, created } = yield* threeLargeNodes("BestEffort", "1")
      const underutilized = log.entries().filter((entry) => entry.reason === "Underutilized")
      assert.deepStrictEqual(
        underutilized.map((entry) => entry.candidates),
        [["n1"], ["n2"], ["n3"]]
      )
      assert.strictEqual(tracker.most(), 1)
      const live = yield* D.liveNodes
      for (const name of ["n1", "n2", "n3"]) assert.notInclude(live, name)
      // (Their pods are not recreated, so the replacements end empty and go too: look at them as they were created.)
      const replacements = created.filter((claim) => !["n1", "n2", "n3"].includes(claim.metadata.name ?? ""))
      assert.strictEqual(replacements.length, 3)
      for (const claim of replacements) {
        assert.strictEqual(claim.metadata.annotations?.[Labels.NodeClaimMinValuesRelaxedAnnotation], "true")
        assert.strictEqual(requirementOf(claim, KWOKNodeClass.InstanceFamilyLabel)?.minValues, 2)
        assert.deepStrictEqual(requirementOf(claim, Labels.InstanceType)?.values, ["a.small", "b.small"])
      }
    }).pipe(Effect.provide(D.base(twoFamilies)))
  )

  it.effect("Strict: the NodePool's unmet minValues leave the same nodes alone", () =>
    Effect.gen(function* () {
      const { log } = yield* threeLargeNodes("Strict", "1")
      assert.deepStrictEqual(log.entries(), [])
      assert.deepStrictEqual(yield* D.nodeTypes, { n1: "a.large", n2: "a.large", n3: "a.large" })
    }).pipe(Effect.provide(D.base(twoFamilies)))
  )
})
