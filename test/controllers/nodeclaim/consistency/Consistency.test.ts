import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Node from "../../../../src/api/Node.ts"
import * as NodeClaim from "../../../../src/api/NodeClaim.ts"
import * as Consistency from "../../../../src/controllers/nodeclaim/consistency/Consistency.ts"

const claim = Schema.decodeUnknownSync(NodeClaim.NodeClaim)({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  metadata: { name: "nc" },
  spec: {
    nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
    requirements: [{ key: "karpenter.sh/nodepool", operator: "In", values: ["default"] }]
  },
  status: { capacity: { cpu: "4", memory: "16Gi", pods: "64" } }
})

const node = (capacity: Record<string, string>) =>
  Schema.decodeUnknownSync(Node.Node)({ metadata: { name: "n" }, spec: {}, status: { capacity } })

describe("Consistency", () => {
  it("accepts a Node offering at least 90% of each expected resource", () => {
    assert.isUndefined(Consistency.nodeShapeProblem(claim, node({ cpu: "4", memory: "15Gi", pods: "64" })))
  })

  it("names the resource a Node is short of", () => {
    assert.strictEqual(
      Consistency.nodeShapeProblem(claim, node({ cpu: "4", memory: "8Gi", pods: "64" })),
      "expected 16Gi of resource memory, but found 8Gi (50.0% of expected)"
    )
    assert.include(
      Consistency.nodeShapeProblem(claim, node({ cpu: "2", memory: "16Gi", pods: "64" })) ?? "",
      "resource cpu"
    )
  })
})
