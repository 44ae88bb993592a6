import { assert, describe, it } from "@effect/vitest"
import { isTerminal } from "../../src/api/Pod.ts"
import * as PodsByNode from "../../src/scheduling/PodsByNode.ts"
import { pod } from "../controllers/provisioning/scheduling/fixtures.ts"

const on = (name: string, node: string | undefined, phase?: string) => {
  const p = pod(name, { spec: node === undefined ? {} : { nodeName: node } })
  return phase === undefined ? p : { ...p, status: { phase } }
}

describe("PodsByNode", () => {
  it("groups the pods it includes by node, nodes in order of their first pod, pods in list order", () => {
    const grouping = PodsByNode.make((p) => !isTerminal(p))
    const grouped = grouping([on("a", "n2"), on("b", "n1"), on("c", undefined), on("d", "n2"), on("e", "n1", "Failed")])
    assert.deepStrictEqual(
      [...grouped].map(([node, pods]) => [node, pods.map((p) => p.metadata.name)]),
      [
        ["n2", ["a", "d"]],
        ["n1", ["b"]]
      ]
    )
  })

  it("a node whose pods did not change keeps its array in the next list's grouping; a changed node gets a new one", () => {
    const grouping = PodsByNode.make(() => true)
    const [a, b, c] = [on("a", "n1"), on("b", "n2"), on("c", "n2")]
    const first = [a, b, c]
    const before = grouping(first)
    assert.strictEqual(grouping(first), before, "the same list gives the same map")
    const movedC = on("c", "n3")
    const after = grouping([a, b, movedC])
    assert.notStrictEqual(after, before)
    assert.strictEqual(after.get("n1"), before.get("n1"))
    assert.notStrictEqual(after.get("n2"), before.get("n2"))
    assert.deepStrictEqual(
      after.get("n2")?.map((p) => p.metadata.name),
      ["b"]
    )
    assert.deepStrictEqual(
      after.get("n3")?.map((p) => p.metadata.name),
      ["c"]
    )
    // The same pods in another order are another array: consumers read the order (the scheduler's tie-breaks).
    const ordered = grouping([a, b, c]).get("n2")
    const reordered = grouping([a, c, b]).get("n2")
    assert.notStrictEqual(reordered, ordered)
    assert.deepStrictEqual(
      reordered?.map((p) => p.metadata.name),
      ["c", "b"]
    )
  })
})
