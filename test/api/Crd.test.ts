import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Crd from "../../src/api/Crd.ts"
import * as NodePool from "../../src/api/NodePool.ts"
import * as OpenApi from "../../src/kube/OpenApi.ts"
import { exampleNodePools, root } from "../fixtures.ts"

const nodePoolSchema = Crd.openApiSchema(Crd.NodePoolDefinition)

const collectValidations = (node: unknown, found: Array<string> = []): Array<string> => {
  if (typeof node !== "object" || node === null) return found
  for (const [key, value] of Object.entries(node)) {
    if (key === "x-kubernetes-validations" && Array.isArray(value)) {
      for (const rule of value) found.push((rule as { message: string }).message)
    } else {
      collectValidations(value, found)
    }
  }
  return found
}

describe("generated CRDs", () => {
  for (const definition of Crd.definitions) {
    it(`manifests/base/crds/${Crd.fileName(definition)} is up to date (regenerate with npm run gen:crds)`, () => {
      const committed = readFileSync(join(root, "manifests/base/crds", Crd.fileName(definition)), "utf8")
      assert.strictEqual(committed, Crd.render(definition))
    })

    it(`${definition.kind} has a structural schema`, () => {
      const schema = Crd.openApiSchema(definition)
      assert.deepStrictEqual(OpenApi.structuralViolations(schema), [])
      assert.notInclude(JSON.stringify(schema), "$ref")
    })

    it(`${definition.kind} has upstream's scope and a status subresource (and NodePool a scale one)`, () => {
      const manifest = Crd.manifest(definition) as any
      // SIG Autoscaling's CapacityBuffer lives beside the workloads it buffers; Karpenter's own kinds are cluster-wide.
      assert.strictEqual(manifest.spec.scope, definition.kind === "CapacityBuffer" ? "Namespaced" : "Cluster")
      // Upstream v1.8's `+kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.nodes`.
      const scale =
        definition.kind === "NodePool"
          ? { scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.nodes" } }
          : {}
      assert.deepStrictEqual(manifest.spec.versions[0].subresources, { ...scale, status: {} })
      assert.deepStrictEqual(manifest.spec.names.categories, [
        definition.kind === "CapacityBuffer" ? "autoscaling" : "karpenter"
      ])
    })
  }

  it("structuralViolations finds what a real apiserver rejects", () => {
    assert.deepStrictEqual(
      OpenApi.structuralViolations({
        type: "object",
        properties: {
          a: { anyOf: [{ type: "string" }, { type: "null" }] },
          b: { type: "object", properties: {}, additionalProperties: true },
          c: { $ref: "#/definitions/C" }
        }
      }),
      [
        "<root>.a: no type",
        "<root>.a: anyOf with null",
        "<root>.a: anyOf outside int-or-string",
        "<root>.b: additionalProperties beside properties",
        "<root>.c: no type",
        "<root>.c: $ref is not allowed"
      ]
    )
  })

  it("NodePool printer columns are upstream's", () => {
    const columns = Crd.NodePoolDefinition.printerColumns.map((c) => [c.name, c.jsonPath, c.priority ?? 0])
    assert.deepStrictEqual(columns, [
      ["NodeClass", ".spec.template.spec.nodeClassRef.name", 0],
      ["Nodes", ".status.resources.nodes", 0],
      ["Ready", '.status.conditions[?(@.type=="Ready")].status', 0],
      ["Age", ".metadata.creationTimestamp", 0],
      ["Weight", ".spec.weight", 1],
      ["CPU", ".status.resources.cpu", 1],
      ["Memory", ".status.resources.memory", 1]
    ])
  })

  it("NodeClaim printer columns are upstream's, with v1.4.0's Drifted column", () => {
    const columns = Crd.NodeClaimDefinition.printerColumns.map((c) => [c.name, c.jsonPath, c.priority ?? 0])
    assert.deepStrictEqual(columns, [
      ["Type", ".metadata.labels.node\\.kubernetes\\.io/instance-type", 0],
      ["Capacity", ".metadata.labels.karpenter\\.sh/capacity-type", 0],
      ["Zone", ".metadata.labels.topology\\.kubernetes\\.io/zone", 0],
      ["Node", ".status.nodeName", 0],
      ["Ready", '.status.conditions[?(@.type=="Ready")].status', 0],
      ["Age", ".metadata.creationTimestamp", 0],
      ["ImageID", ".status.imageID", 1],
      ["ID", ".status.providerID", 1],
      ["NodePool", ".metadata.labels.karpenter\\.sh/nodepool", 1],
      ["NodeClass", ".spec.nodeClassRef.name", 1],
      ["Drifted", '.status.conditions[?(@.type=="Drifted")].status', 1]
    ])
  })

  for (const { file, object } of exampleNodePools()) {
    it(`examples/nodepools/${file} validates against the NodePool CRD`, () => {
      assert.deepStrictEqual(OpenApi.validate(nodePoolSchema, object), [])
    })

    it.effect(`the CRD's defaults for ${file} are the schema's`, () =>
      Effect.gen(function* () {
        const decoded = yield* Schema.decodeUnknownEffect(NodePool.NodePool)(object)
        const defaulted = OpenApi.applyDefaults(nodePoolSchema, object) as any
        assert.deepStrictEqual(defaulted.spec.disruption, decoded.spec.disruption)
        assert.strictEqual(defaulted.spec.template.spec.expireAfter, decoded.spec.template.spec.expireAfter)
      })
    )
  }

  it("the NodePool CRD rejects what the schema rejects structurally", () => {
    const object: any = exampleNodePools().find(({ file }) => file === "default.yaml")?.object
    const invalid = structuredClone(object)
    invalid.spec.weight = 0
    invalid.spec.template.spec.requirements[0].operator = "Equals"
    invalid.spec.template.spec.expireAfter = "30d"
    invalid.spec.limits = { cpu: "lots" }
    const errors = OpenApi.validate(nodePoolSchema, invalid)
    assert.strictEqual(errors.length, 4, errors.join("\n"))
    assert.match(errors.join("\n"), /spec\.weight: less than 1/)
    assert.match(errors.join("\n"), /spec\.template\.spec\.requirements\[0\]\.operator: unsupported value "Equals"/)
    assert.match(errors.join("\n"), /spec\.template\.spec\.expireAfter: "30d" does not match/)
    assert.match(errors.join("\n"), /spec\.limits\.cpu: "lots" does not match/)
  })

  it("carries upstream's CEL rules", () => {
    const messages = collectValidations(nodePoolSchema)
    for (const expected of [
      "requirements with operator 'In' must have a value defined",
      "requirements operator 'Gt' or 'Lt' must have a single positive integer value",
      "requirements with 'minValues' must have at least that many values specified in the 'values' field",
      "'schedule' must be set with 'duration'",
      'label domain "kubernetes.io" is restricted',
      'label domain "k8s.io" is restricted',
      'label domain "karpenter.sh" is restricted',
      'label "karpenter.sh/nodepool" is restricted',
      'label "kubernetes.io/hostname" is restricted',
      "nodeClassRef.group is immutable",
      "nodeClassRef.kind is immutable"
    ]) {
      assert.include(messages, expected)
    }
    const nodeClaimMessages = collectValidations(Crd.openApiSchema(Crd.NodeClaimDefinition))
    assert.include(nodeClaimMessages, "spec is immutable")
    assert.notInclude(nodeClaimMessages, 'label "karpenter.sh/nodepool" is restricted')
  })
})
