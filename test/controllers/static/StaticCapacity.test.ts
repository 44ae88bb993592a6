import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type * as DisruptionLog from "../../../src/controllers/disruption/DisruptionLog.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as D from "../disruption/support.ts"
import * as S from "../support.ts"

/** A static NodePool: `replicas` nodes whatever the pods, with the given budgets and `limits.nodes`. */
const staticPool = (
  name: string,
  replicas: number,
  options: { budgets?: ReadonlyArray<D.Budget>; nodes?: string } = {}
) => {
  const pool = D.nodePool(name, {
    consolidateAfter: "30s",
    labels: { pool: name },
    ...(options.budgets === undefined ? {} : { budgets: options.budgets })
  })
  return {
    ...pool,
    spec: { ...pool.spec, replicas, ...(options.nodes === undefined ? {} : { limits: { nodes: options.nodes } }) }
  }
}

const claimsOf = (pool: string) =>
  Effect.map(S.listNodeClaims, (claims) =>
    claims.filter(
      (claim) => claim.metadata.labels?.[Labels.NodePool] === pool && claim.metadata.deletionTimestamp === undefined
    )
  )

const nodesOf = (pool: string) =>
  Effect.map(S.listNodes, (nodes) => nodes.filter((node) => node.metadata.labels?.[Labels.NodePool] === pool).length)

describe("static capacity (NodePool replicas)", S.controllerSuite, () => {
  it.effect(
    "a static NodePool keeps its replicas without pods, is never consolidated, and scales down past a zero budget",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        yield* S.createNodePool(staticPool("fixed", 3, { budgets: [{ nodes: "0" }] }) as never)
        yield* D.start({ staticCapacity: true })
        yield* S.advance(10_000, 1_000)
        const launched = (yield* claimsOf("fixed")).map((claim) => claim.metadata.name)
        assert.strictEqual(launched.length, 3)
        assert.strictEqual(yield* nodesOf("fixed"), 3)
        // A pending pod the static nodes cannot take (it asks for the dynamic pool) launches a dynamic node.
        yield* S.createPendingPod(
          S.pod("web", { cpu: "1", spec: { nodeSelector: { [Labels.NodePool]: "default" } } }) as never
        )
        yield* S.advance(30_000, 1_000)
        assert.strictEqual(yield* nodesOf("default"), 1)
        // Empty for far longer than consolidateAfter: emptiness and consolidation leave static nodes alone.
        yield* S.advance(10 * 60_000, 10_000)
        assert.deepStrictEqual(
          (yield* claimsOf("fixed")).map((claim) => claim.metadata.name),
          launched,
          "the same nodes"
        )
        assert.strictEqual((yield* S.getNodePool("fixed")).status?.nodes, 3)
        // A scale down is forceful: the budget of 0 does not hold it back.
        yield* kube.patch(Resources.NodePools, "fixed", { type: "merge", patch: { spec: { replicas: 1 } } })
        yield* S.advance(60_000, 5_000)
        assert.strictEqual((yield* claimsOf("fixed")).length, 1)
        assert.strictEqual(yield* nodesOf("fixed"), 1)
        yield* S.advance(10_000, 5_000)
        assert.strictEqual((yield* S.getNodePool("fixed")).status?.nodes, 1)
        // A NodeClaim deleted by hand is replaced.
        const [only] = yield* claimsOf("fixed")
        yield* kube.delete(Resources.NodeClaims, only!.metadata.name ?? "")
        yield* S.advance(60_000, 5_000)
        assert.strictEqual((yield* claimsOf("fixed")).length, 1)
        assert.notStrictEqual((yield* claimsOf("fixed"))[0]!.metadata.name, only!.metadata.name)
      }).pipe(Effect.provide(D.base()))
  )

  it.effect("limits.nodes bounds a static NodePool below its replicas, and its empty nodes are not consolidated", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default"))
      yield* S.createNodePool(staticPool("fixed", 5, { nodes: "2" }) as never)
      yield* D.start({ staticCapacity: true })
      yield* S.advance(2 * 60_000, 5_000)
      const launched = (yield* claimsOf("fixed")).map((claim) => claim.metadata.name)
      assert.strictEqual(launched.length, 2)
      // Empty long past consolidateAfter, with budgets that allow it: still the same nodes.
      yield* S.advance(10 * 60_000, 10_000)
      assert.deepStrictEqual(
        (yield* claimsOf("fixed")).map((claim) => claim.metadata.name),
        launched
      )
    }).pipe(Effect.provide(D.base()))
  )

  it.effect(
    "emptiness and consolidation act on dynamic nodes but never on a static NodePool's empty or underused nodes",
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default", { consolidateAfter: "30s" }))
        yield* S.createNodePool(staticPool("fixed", 2, { budgets: [{ nodes: "100%" }] }) as never)
        const log = yield* D.start({ staticCapacity: true })
        yield* S.advance(10_000, 1_000)
        const launched = (yield* claimsOf("fixed")).map((claim) => claim.metadata.name ?? "")
        assert.strictEqual(launched.length, 2)
        // A dynamic node with room to spare, and an empty one emptiness should delete.
        yield* D.launch("roomy", "large")
        yield* D.launch("idle", "small")
        yield* S.advance(2_000, 1_000)
        yield* D.boundPod("stays", "roomy", { cpu: "1" })
        // One static node stays empty; the other's only pod would fit on the roomy dynamic node.
        yield* D.boundPod("light", launched[1]!, { cpu: "500m" })
        yield* S.advance(10 * 60_000, 10_000)
        const disrupted = log.entries().flatMap((entry) => entry.candidates)
        assert.include(disrupted, "idle", "emptiness deleted the empty dynamic node")
        assert.deepStrictEqual(
          disrupted.filter((name) => launched.includes(name)),
          [],
          "no command for a static node"
        )
        assert.deepStrictEqual(
          (yield* claimsOf("fixed")).map((claim) => claim.metadata.name),
          launched
        )
      }).pipe(Effect.provide(D.base()))
  )

  it.effect("with the StaticCapacity gate off, a static NodePool launches nothing, for replicas or for pods", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { labels: { pool: "default" } }))
      yield* S.createNodePool(staticPool("fixed", 3) as never)
      yield* D.start()
      yield* S.createPendingPod(S.pod("web", { cpu: "1", spec: { nodeSelector: { pool: "fixed" } } }) as never)
      yield* S.advance(2 * 60_000, 5_000)
      assert.deepStrictEqual(yield* claimsOf("fixed"), [])
      assert.deepStrictEqual(yield* claimsOf("default"), [])
    }).pipe(Effect.provide(D.base()))
  )
})

/** Changes the static NodePool's template labels, which drifts every NodeClaim it launched. */
const driftPool = (pool: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.patch(Resources.NodePools, pool, {
      type: "merge",
      patch: { spec: { template: { metadata: { labels: { team: "b" } } } } }
    })
    yield* S.settle
  })

/** The nodes the log says drift disrupted, each command's own. */
const driftCommands = (log: { readonly entries: () => ReadonlyArray<DisruptionLog.Entry> }) =>
  log
    .entries()
    .filter((entry) => entry.reason === "Drifted")
    .map((entry) => entry.candidates)

describe("static drift", S.controllerSuite, () => {
  it.effect(
    "drifted static nodes are replaced one for one from the template, each replacement first, within budgets",
    () =>
      Effect.gen(function* () {
        yield* D.setup(D.nodePool("default"))
        yield* S.createNodePool(staticPool("fixed", 3, { budgets: [{ nodes: "2" }] }) as never)
        const log = yield* D.start({ staticCapacity: true })
        yield* S.advance(10_000, 1_000)
        const old = (yield* claimsOf("fixed")).map((claim) => claim.metadata.name ?? "").sort()
        assert.strictEqual(old.length, 3)
        const tracker = yield* D.trackDisrupting
        yield* driftPool("fixed")
        yield* S.advance(5 * 60_000, 5_000)
        assert.deepStrictEqual(
          driftCommands(log).map((candidates) => candidates.length),
          [2, 1],
          "as many at once as the budget allows, one replacement each"
        )
        assert.deepStrictEqual(driftCommands(log).flat().sort(), old)
        assert.strictEqual(tracker.most(), 2, "the budget of two holds")
        // The replacements are up before their drifted nodes go: never fewer than the replicas once there (the watch
        // starts by listing the three Nodes one by one).
        assert.deepStrictEqual(tracker.liveCounts(), [1, 2, 3, 4, 5, 4, 3, 4, 3], "live nodes over time")
        const now = yield* claimsOf("fixed")
        assert.strictEqual(now.length, 3)
        for (const claim of now) {
          assert.notInclude(old, claim.metadata.name)
          assert.strictEqual(claim.metadata.labels?.team, "b", "launched from the new template")
          assert.isUndefined(S.conditionOf(claim.status?.conditions, ConditionTypes.Drifted), claim.metadata.name)
        }
      }).pipe(Effect.provide(D.base()))
  )

  it.effect("limits.nodes leaves room for the replacement or drifted static nodes stay", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* D.setup(D.nodePool("default"))
      yield* S.createNodePool(staticPool("fixed", 2, { budgets: [{ nodes: "100%" }], nodes: "2" }) as never)
      const log = yield* D.start({ staticCapacity: true })
      yield* S.advance(10_000, 1_000)
      const old = (yield* claimsOf("fixed")).map((claim) => claim.metadata.name ?? "").sort()
      assert.strictEqual(old.length, 2)
      const tracker = yield* D.trackDisrupting
      yield* driftPool("fixed")
      yield* S.advance(3 * 60_000, 10_000)
      assert.deepStrictEqual(driftCommands(log), [], "no room under limits.nodes for a replacement")
      // One node of room: the budget allows both, the limit one replacement at a time.
      yield* kube.patch(Resources.NodePools, "fixed", { type: "merge", patch: { spec: { limits: { nodes: "3" } } } })
      yield* S.advance(5 * 60_000, 5_000)
      assert.deepStrictEqual(driftCommands(log).flat().sort(), old)
      assert.strictEqual(tracker.most(), 1)
      assert.isAtMost(Math.max(...tracker.liveCounts()), 3)
      assert.strictEqual((yield* claimsOf("fixed")).length, 2)
    }).pipe(Effect.provide(D.base()))
  )
})
