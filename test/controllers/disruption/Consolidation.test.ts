import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Labels from "../../../src/api/Labels.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import * as Metrics from "../../../src/controllers/disruption/DisruptionMetrics.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

describe("disruption: consolidation", S.controllerSuite, () => {
  for (const [policy, expected] of [
    // Respect: the pods' preferred anti-affinity keeps them apart, so b's pod needs a node of its own (a cheaper one).
    ["Respect", [{ reason: "Underutilized", candidates: ["b"], replacements: ["small"] }]],
    // Ignore (PREFERENCE_POLICY): the preference does not count; a goes first (equal cost, by name), its pod fitting
    // beside b's.
    ["Ignore", [{ reason: "Underutilized", candidates: ["a"], replacements: [] }]]
  ] as const) {
    it.effect(`the simulations follow PREFERENCE_POLICY ${policy}, as provisioning does`, () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        const log = yield* D.start({ disruption: { preferencePolicy: policy } })
        yield* D.launch("a", "medium")
        yield* D.launch("b", "medium")
        yield* S.advance(2_000, 1_000)
        const apart = {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 100,
                podAffinityTerm: {
                  topologyKey: "kubernetes.io/hostname",
                  labelSelector: { matchLabels: { app: "apart" } }
                }
              }
            ]
          }
        }
        // a's pod is too big to move anywhere cheaper; b's pod is small.
        yield* S.createPod(
          S.pod("pa", { cpu: "2500m", labels: { app: "apart" }, spec: { nodeName: "a", affinity: apart } }) as never
        )
        yield* S.createPod(
          S.pod("pb", { cpu: "1", labels: { app: "apart" }, spec: { nodeName: "b", affinity: apart } }) as never
        )
        yield* S.advance(2 * 60_000, 10_000)
        assert.deepStrictEqual(D.summary(log).slice(0, 1), [...expected])
      }).pipe(Effect.provide(D.base()))
    )
  }

  it.effect("two underused nodes are merged into one cheaper node (multi-node)", () =>
    Effect.gen(function* () {
      // The default budget (10% of 2 nodes: 1) would never let two nodes go together.
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "100%" }] }))
      const log = yield* D.start()
      const tracker = yield* D.trackDisrupting
      yield* D.launch("a", "medium")
      yield* D.launch("b", "medium")
      yield* S.advance(2_000, 1_000)
      // Neither pod fits beside the other on a medium node, nor on a small one: only merging saves ($0.30 < $0.40).
      yield* D.boundPod("pa", "a", { cpu: "2500m" })
      yield* D.boundPod("pb", "b", { cpu: "2500m" })
      yield* S.advance(2 * 60_000, 10_000)
      // (The replacement's pods are not recreated, so it ends empty and goes as Empty later: only the merge counts.)
      assert.deepStrictEqual(
        D.summary(log).filter((entry) => entry.reason === "Underutilized"),
        [{ reason: "Underutilized", candidates: ["a", "b"], replacements: ["large"] }]
      )
      const names = yield* D.nodeNames
      assert.notInclude(names, "a")
      assert.notInclude(names, "b")
      const launched = [...tracker.seen()].filter(([name]) => name !== "a" && name !== "b")
      assert.deepStrictEqual(
        launched.map(([, type]) => type),
        ["large"],
        "one large node replaced both"
      )
      const ours = (events: ReadonlyArray<string>) => events.filter((event) => /^[ab]: /.test(event))
      assert.deepStrictEqual(ours(yield* D.eventsWithReason("DisruptionLaunching")), [
        "a: Disrupting Node: Underutilized/Replace",
        "b: Disrupting Node: Underutilized/Replace"
      ])
      assert.deepStrictEqual(ours(yield* D.eventsWithReason("DisruptionTerminating")), [
        "a: Disrupting Node: Underutilized",
        "b: Disrupting Node: Underutilized"
      ])
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("three on-demand nodes merge into one spot node of their own type, priced at what they cost", () =>
    Effect.gen(function* () {
      // One 8-cpu type, $0.30 on-demand and $0.12 spot; the NodePool allows both. Upstream compares a replacement with
      // the candidates' own offerings (on-demand, $0.30 each): one spot node of the same type saves, and all three go
      // in one command. Priced at the type's spot offering instead, the same type looks no cheaper than the nodes it
      // replaces, so only two go (their pods fit on the third) and the third is replaced on its own later.
      const catalogue = [...D.catalogue().slice(0, 2), D.instanceType("large", 8, 0.3, { spotPrice: 0.12 })]
      const underutilized = (decision: string, method: string) =>
        Metric.withAttributes(Metrics.decisionsTotal, {
          decision,
          ...Metrics.methodAttributes("Underutilized", method)
        })
      const counters = [
        underutilized("replace", "multi"),
        underutilized("delete", "multi"),
        underutilized("replace", "single"),
        underutilized("delete", "single")
      ]
      const before = yield* Effect.forEach(counters, (counter) => Metric.value(counter))
      return yield* Effect.gen(function* () {
        yield* D.setup(
          D.nodePool("default", {
            capacityTypes: [Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand],
            consolidateAfter: "30s",
            budgets: [{ nodes: "100%" }]
          })
        )
        const log = yield* D.start()
        const tracker = yield* D.trackDisrupting
        for (const name of ["a", "b", "c"]) yield* D.launch(name, "large")
        yield* S.advance(2_000, 1_000)
        // 7.5 cpu in all: one large node holds every pod, nothing smaller holds them.
        for (const name of ["a", "b", "c"]) yield* D.boundPod(`p-${name}`, name, { cpu: "2500m" })
        yield* S.advance(3 * 60_000, 10_000)
        assert.deepStrictEqual(
          D.summary(log).filter((entry) => entry.reason === "Underutilized"),
          [{ reason: "Underutilized", candidates: ["a", "b", "c"], replacements: ["large"] }]
        )
        const after = yield* Effect.forEach(counters, (counter) => Metric.value(counter))
        assert.deepStrictEqual(
          after.map((value, i) => value.count - before[i]!.count),
          [1, 0, 0, 0],
          "one multi-node replace decision, nothing else"
        )
        // The three nodes come up and the spot replacement joins them before any goes; from then on nodes only go:
        // the three, then the replacement, left empty (the test's pods have no owner to recreate them) and removed as
        // Empty. The two-step sequence would go down to one node and back up to two.
        assert.deepStrictEqual(tracker.liveCounts(), [1, 2, 3, 4, 3, 2, 1, 0])
        const ours = (events: ReadonlyArray<string>) => events.filter((event) => /^[abc]: /.test(event))
        assert.deepStrictEqual(ours(yield* D.eventsWithReason("DisruptionLaunching")), [
          "a: Disrupting Node: Underutilized/Replace",
          "b: Disrupting Node: Underutilized/Replace",
          "c: Disrupting Node: Underutilized/Replace"
        ])
        const launched = [...tracker.seenLabels()].filter(([name]) => !["a", "b", "c"].includes(name))
        assert.deepStrictEqual(
          launched.map(([, labels]) => [labels[Labels.InstanceType], labels[Labels.CapacityType]]),
          [["large", Labels.CapacityTypeSpot]],
          "one spot large node replaced the three"
        )
      }).pipe(Effect.provide(D.base(catalogue)))
    })
  )

  it.effect("spot-to-spot, multi-node: three spot nodes are not replaced by one of their own type at no saving", () =>
    Effect.gen(function* () {
      // The same cluster on spot, with the SpotToSpotConsolidation gate on. One spot large node costs what each of
      // them costs ($0.12): upstream's filterOutSameType drops it, so the three are not merged; two go instead (their
      // pods fit on the third), with nothing launched.
      const catalogue = [...D.catalogue().slice(0, 2), D.instanceType("large", 8, 0.3, { spotPrice: 0.12 })]
      return yield* Effect.gen(function* () {
        yield* D.setup(
          D.nodePool("default", {
            capacityTypes: [Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand],
            consolidateAfter: "30s",
            budgets: [{ nodes: "100%" }]
          })
        )
        const log = yield* D.start({ disruption: { spotToSpotConsolidation: true } })
        const tracker = yield* D.trackDisrupting
        for (const name of ["a", "b", "c"]) yield* D.launch(name, "large", { capacityType: Labels.CapacityTypeSpot })
        yield* S.advance(2_000, 1_000)
        for (const name of ["a", "b", "c"]) yield* D.boundPod(`p-${name}`, name, { cpu: "2500m" })
        yield* S.advance(3 * 60_000, 10_000)
        assert.deepStrictEqual(
          D.summary(log).filter((entry) => entry.reason === "Underutilized"),
          [{ reason: "Underutilized", candidates: ["a", "b"], replacements: [] }]
        )
        assert.deepStrictEqual([...tracker.seen().keys()], ["a", "b", "c"], "nothing was launched")
        assert.deepStrictEqual(yield* D.liveNodes, ["c"])
      }).pipe(Effect.provide(D.base(catalogue)))
    })
  )

  it.effect("replaces a node only with a strictly cheaper one", () =>
    Effect.gen(function* () {
      // Three 4-cpu types: two at $0.20, one at $0.25. Nothing holds 6 cpu, so nodes cannot be merged.
      const catalogue = [
        D.instanceType("equal-a", 4, 0.2),
        D.instanceType("equal-b", 4, 0.2),
        D.instanceType("pricey", 4, 0.25)
      ]
      return yield* Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        const log = yield* D.start()
        yield* D.launch("same", "equal-b")
        yield* D.launch("dear", "pricey")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("p-same", "same", { cpu: "3" })
        yield* D.boundPod("p-dear", "dear", { cpu: "3" })
        yield* S.advance(3 * 60_000, 10_000)
        // The $0.25 node went for a $0.20 one; the $0.20 node stays: a same-price replacement saves nothing.
        const underutilized = D.summary(log).filter((entry) => entry.reason === "Underutilized")
        assert.deepStrictEqual(underutilized, [
          { reason: "Underutilized", candidates: ["dear"], replacements: ["equal-a"] }
        ])
        const types = yield* D.nodeTypes
        assert.strictEqual(types.same, "equal-b")
        assert.isUndefined(types.dear)
        assert.include(yield* D.eventsWithReason("Unconsolidatable"), "same: can't replace with a cheaper node")
        // And it stays so.
        yield* S.advance(5 * 60_000, 60_000)
        assert.strictEqual(D.summary(log).filter((entry) => entry.reason === "Underutilized").length, 1)
        assert.strictEqual((yield* D.nodeTypes).same, "equal-b")
      }).pipe(Effect.provide(D.base(catalogue)))
    })
  )

  it.effect(
    "a node whose pods cannot move says which of them and why, on its Node and NodeClaim (Unconsolidatable)",
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        const log = yield* D.start()
        // Each medium node would go for a small one ($0.10 < $0.20), but its pods select its hostname.
        yield* D.launch("pinned", "medium")
        yield* D.launch("crowded", "medium")
        yield* S.advance(2_000, 1_000)
        yield* D.pinnedPod("p-pinned", "pinned")
        for (const index of [1, 2, 3, 4, 5, 6, 7]) yield* D.pinnedPod(`p-crowded-${index}`, "crowded", "100m")
        yield* S.advance(3 * 60_000, 10_000)
        assert.deepStrictEqual(D.summary(log), [])
        // A new node would have another hostname (the scheduler's placeholder for it).
        const why = (node: string) =>
          `incompatible with nodepool "default": key kubernetes.io/hostname, kubernetes.io/hostname In [${node}] not in kubernetes.io/hostname In [hostname-placeholder-0000]`
        const pinned = `Not all pods would schedule, default/p-pinned => ${why("pinned")} `
        // Five pods by name, then how many more: upstream's NonPendingPodSchedulingErrors, spaces and all.
        const crowded = `Not all pods would schedule, ${[1, 2, 3, 4, 5]
          .map((index) => `default/p-crowded-${index} => ${why("crowded")} `)
          .join("")} and 2 other(s)`
        assert.includeMembers(yield* D.eventsOn("Unconsolidatable"), [
          `Node/pinned: ${pinned}`,
          `NodeClaim/pinned: ${pinned}`,
          `Node/crowded: ${crowded}`,
          `NodeClaim/crowded: ${crowded}`
        ])
      }).pipe(Effect.provide(D.base()))
  )

  it.effect("a pod annotated karpenter.sh/do-not-disrupt protects its node", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
      const log = yield* D.start()
      // Each medium node's 1-cpu pod fits a small node ($0.10 < $0.20): both would be replaced.
      yield* D.launch("protected", "medium")
      yield* D.launch("free", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p-protected", "protected", { annotations: { "karpenter.sh/do-not-disrupt": "true" } })
      yield* D.boundPod("p-free", "free")
      yield* S.advance(3 * 60_000, 10_000)
      // "free" goes (its pod fits beside the protected one); "protected" stays.
      assert.deepStrictEqual(
        D.summary(log).map((entry) => entry.candidates),
        [["free"]]
      )
      assert.strictEqual((yield* D.nodeTypes).protected, "medium", "the protected node stays")
      assert.isUndefined((yield* D.nodeTypes).free)
      const blocked = yield* D.eventsWithReason("DisruptionBlocked")
      assert.include(blocked, "protected: Cannot disrupt Node: pod default/p-protected has karpenter.sh/do-not-disrupt")
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("a PodDisruptionBudget allowing no disruption protects its pods' node", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
      const log = yield* D.start()
      const kube = yield* KubeClient
      yield* D.launch("guarded", "medium")
      yield* D.launch("free", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.createPodDisruptionBudget("guard", "guarded", { maxUnavailable: 0 })
      yield* D.boundPod("p-guarded", "guarded", { labels: { app: "guarded" } })
      yield* D.boundPod("p-free", "free")
      yield* S.advance(3 * 60_000, 10_000)
      const pdb = yield* kube.get(Resources.PodDisruptionBudgets, "guard", { namespace: "default" })
      assert.strictEqual(pdb.status?.disruptionsAllowed, 0)
      assert.deepStrictEqual(
        D.summary(log).map((entry) => entry.candidates),
        [["free"]]
      )
      assert.strictEqual((yield* D.nodeTypes).guarded, "medium", "the guarded node stays")
      assert.include(
        yield* D.eventsWithReason("DisruptionBlocked"),
        "guarded: Cannot disrupt Node: pdb default/guard prevents pod evictions"
      )
    }).pipe(Effect.provide(D.base()))
  )
})

/**
 * Multi-node consolidation searches prefixes of its candidates (binary search) under a deadline checked between
 * simulations. Four medium nodes with a 1-cpu pod each, and a $0.15 4-cpu type: dropping three (their pods fit on
 * the fourth) is valid, and so is replacing all four by one $0.15 node — the search tries three first, then four.
 */
describe("disruption: multi-node consolidation timeout", S.controllerSuite, () => {
  const catalogue = () => [...D.catalogue(), D.instanceType("bargain", 4, 0.15)]

  /**
   * Runs the disruption controller with scheduling simulations that take `perSimulation` ms of virtual time. The seam:
   * each simulation reads the provider's well-known labels once, then the clock (the scheduler's own deadline); the
   * controller's provider notes the work on the first, its clock sleeps it off (on the TestClock) at the second.
   */
  const slowSimulations =
    (perSimulation: number) =>
    <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function* () {
        const clock = yield* Clock.Clock
        const cloud = yield* CloudProvider.CloudProvider
        let work = 0
        const slowCloud = CloudProvider.CloudProvider.of({
          ...cloud,
          get wellKnownLabels() {
            work += perSimulation
            return cloud.wellKnownLabels
          }
        })
        const slowClock: Clock.Clock = {
          ...clock,
          currentTimeMillisUnsafe: () => clock.currentTimeMillisUnsafe(),
          currentTimeNanosUnsafe: () => clock.currentTimeNanosUnsafe(),
          monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
          currentTimeMillis: Effect.suspend(() => {
            const owed = work
            work = 0
            return owed === 0
              ? clock.currentTimeMillis
              : Effect.andThen(clock.sleep(Duration.millis(owed)), clock.currentTimeMillis)
          }),
          sleep: (duration) => clock.sleep(duration)
        }
        return yield* effect.pipe(
          Effect.provideService(CloudProvider.CloudProvider, slowCloud),
          Effect.provideService(Clock.Clock, slowClock)
        )
      })

  const scenario = (options: Parameters<typeof D.start>[0]) =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", budgets: [{ nodes: "100%" }] }))
      const log = yield* D.start(options)
      for (const name of ["a", "b", "c", "d"]) yield* D.launch(name, "medium")
      yield* S.advance(2_000, 1_000)
      for (const name of ["a", "b", "c", "d"]) yield* D.boundPod(`p-${name}`, name)
      yield* S.advance(3 * 60_000, 10_000)
      return { first: D.summary(log)[0], nodes: yield* D.nodeNames }
    }).pipe(Effect.provide(D.base(catalogue())))

  it.effect("with time to finish, the search ends at the best command: all four nodes for one", () =>
    Effect.gen(function* () {
      const { first } = yield* scenario({
        disruption: { multiNodeTimeout: "1 minute" },
        wrapDisruption: slowSimulations(20_000)
      })
      assert.deepStrictEqual(first, {
        reason: "Underutilized",
        candidates: ["a", "b", "c", "d"],
        replacements: ["bargain"]
      })
    })
  )

  it.effect("interrupted by its timeout, it keeps the best command found so far", () =>
    Effect.gen(function* () {
      // Simulations take 20 s: the first (three nodes, valid) ends at 20 s, the timeout (30 s) cuts the second (four
      // nodes); the three-node command found first is carried out.
      const { first, nodes } = yield* scenario({
        disruption: { multiNodeTimeout: "30 seconds" },
        wrapDisruption: slowSimulations(20_000)
      })
      assert.deepStrictEqual(first, { reason: "Underutilized", candidates: ["a", "b", "c"], replacements: [] })
      assert.include(nodes, "d")
      for (const gone of ["a", "b", "c"]) assert.notInclude(nodes, gone)
    })
  )
})
