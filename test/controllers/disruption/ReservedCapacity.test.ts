/**
 * Reserved capacity in consolidation on the embedded cluster (KWOK, virtual time): with the ReservedCapacity gate an
 * on-demand node whose pods fit a free reservation slot is replaced by a reserved node (a reservation costs next to
 * nothing), one at a time under a NodePool budget of one node and no more than the reservation holds; a reserved node
 * is never replaced by on-demand capacity; without the gate none of this happens.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type * as DisruptionLog from "../../../src/controllers/disruption/DisruptionLog.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import * as D from "./support.ts"

const reservationID = "r-1"

/**
 * small 2 cpu $0.10 and large 8 cpu $0.30 on-demand; medium 4 cpu $0.20 on-demand, or through a reservation of two
 * instances priced next to nothing (as upstream's AWS provider prices reserved offerings).
 */
const catalogue = [
  D.instanceType("small", 2, 0.1),
  D.instanceType("medium", 4, 0.2, { reservation: { id: reservationID, capacity: 2, price: 0.00002 } }),
  D.instanceType("large", 8, 0.3)
]

const pool = D.nodePool("default", {
  capacityTypes: [Labels.CapacityTypeOnDemand, Labels.CapacityTypeReserved],
  consolidateAfter: "30s",
  budgets: [{ nodes: "1" }]
})

/**
 * The workload's controller: a pod of `cpu` on every Node but `existing` once initialized, as a ReplicaSet would
 * recreate the pods of a replaced node on its replacement (before that, the unregistered taint would evict it).
 */
const refillNewNodes = (cpu: string, existing: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const filled = new Set(existing)
    yield* Stream.runForEach(kube.watch(Resources.Nodes), (event) => {
      if (event.type === "BOOKMARK" || event.type === "DELETED") return Effect.void
      const name = event.object.metadata.name ?? ""
      if (event.object.metadata.labels?.[Labels.NodeInitialized] !== "true" || filled.has(name)) return Effect.void
      filled.add(name)
      return D.boundPod(`p-${name}`, name, { cpu })
    }).pipe(Effect.forkScoped)
    yield* S.settle
  })

/** Each live Node's capacity type and reservation, by name. */
const capacityOfNodes = Effect.map(S.listNodes, (nodes) =>
  Object.fromEntries(
    nodes
      .filter((node) => node.metadata.deletionTimestamp === undefined)
      .map((node) => {
        const labels = node.metadata.labels ?? {}
        const reservation = labels[KWOKNodeClass.ReservationIDLabel]
        return [
          node.metadata.name ?? "",
          `${labels[Labels.InstanceType]}/${labels[Labels.CapacityType]}${reservation === undefined ? "" : `/${reservation}`}`
        ]
      })
  )
)

const underutilized = (log: { readonly entries: () => ReadonlyArray<DisruptionLog.Entry> }) =>
  log.entries().filter((entry) => entry.reason === "Underutilized")

/** Three on-demand medium nodes, each with a 2.5 cpu pod: no two fit one medium node, nor one on a small node. */
const threeOnDemandMediums = Effect.gen(function* () {
  for (const name of ["a", "b", "c"]) yield* D.launch(name, "medium")
  yield* S.advance(2_000, 1_000)
  for (const name of ["a", "b", "c"]) yield* D.boundPod(`p-${name}`, name, { cpu: "2500m" })
})

describe("disruption: reserved capacity", S.controllerSuite, () => {
  it.effect("replaces on-demand nodes by free reservation slots, one at a time within the budget", () =>
    Effect.gen(function* () {
      yield* D.setup(pool)
      const log = yield* D.start({ reservedCapacity: true })
      const tracker = yield* D.trackDisrupting
      yield* threeOnDemandMediums
      yield* refillNewNodes("2500m", ["a", "b", "c"])
      yield* S.advance(10 * 60_000, 10_000)
      // Two nodes went for the reservation's two instances ($0.00002 < $0.20), each on its own; the third stays
      // on-demand: the reservation is used up, and no on-demand node is cheaper.
      const decisions = underutilized(log)
      assert.deepStrictEqual(
        decisions.map((entry) => ({ candidates: entry.candidates.length, replacements: entry.replacements })),
        [
          { candidates: 1, replacements: ["medium"] },
          { candidates: 1, replacements: ["medium"] }
        ]
      )
      assert.strictEqual(tracker.most(), 1, "the budget of one node held")
      const nodes = yield* capacityOfNodes
      const [kept] = ["a", "b", "c"].filter((name) => !decisions.some((entry) => entry.candidates.includes(name)))
      assert.deepStrictEqual(
        Object.entries(nodes)
          .map(([name, capacity]) => `${name === kept ? "kept" : "new"}: ${capacity}`)
          .sort(),
        ["kept: medium/on-demand", `new: medium/reserved/${reservationID}`, `new: medium/reserved/${reservationID}`]
      )
    }).pipe(Effect.provide(D.base(catalogue, { reservedCapacity: true })))
  )

  it.effect("a reserved node is not replaced by a cheaper on-demand one: its reservation costs next to nothing", () =>
    Effect.gen(function* () {
      yield* D.setup(pool)
      const log = yield* D.start({ reservedCapacity: true })
      yield* D.launch("reserved", "medium", { capacityType: Labels.CapacityTypeReserved })
      yield* S.advance(2_000, 1_000)
      // A small on-demand node ($0.10) would hold its pod: cheaper than the medium's on-demand price, not its own.
      yield* D.boundPod("p-reserved", "reserved", { cpu: "1500m" })
      yield* S.advance(5 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(log), [])
      assert.deepStrictEqual(yield* capacityOfNodes, { reserved: `medium/reserved/${reservationID}` })
      assert.include(yield* D.eventsWithReason("Unconsolidatable"), "reserved: can't replace with a cheaper node")
    }).pipe(Effect.provide(D.base(catalogue, { reservedCapacity: true })))
  )

  it.effect("with the gate off, the reservation is not offered: the on-demand nodes stay", () =>
    Effect.gen(function* () {
      yield* D.setup(pool)
      const log = yield* D.start()
      const tracker = yield* D.trackDisrupting
      yield* threeOnDemandMediums
      yield* S.advance(10 * 60_000, 10_000)
      assert.deepStrictEqual(underutilized(log), [])
      assert.deepStrictEqual([...tracker.seen().keys()], ["a", "b", "c"], "nothing was launched")
      assert.deepStrictEqual(yield* capacityOfNodes, {
        a: "medium/on-demand",
        b: "medium/on-demand",
        c: "medium/on-demand"
      })
      assert.include(yield* D.eventsWithReason("Unconsolidatable"), "a: can't replace with a cheaper node")
    }).pipe(Effect.provide(D.base(catalogue)))
  )
})
