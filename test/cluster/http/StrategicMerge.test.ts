import { assert, describe, it } from "@effect/vitest"
import * as Table from "../../../src/cluster/http/Table.ts"
import * as StrategicMerge from "../../../src/kube/StrategicMerge.ts"

const apply = (original: unknown, patch: unknown): unknown => {
  const result = StrategicMerge.apply(original, patch)
  if (!result.ok) throw new Error(result.message)
  return result.value
}

describe("StrategicMerge", () => {
  const pod = {
    metadata: { name: "p", labels: { a: "1" }, finalizers: ["x"] },
    spec: {
      containers: [
        { name: "app", image: "app:1", ports: [{ containerPort: 80 }] },
        { name: "side", image: "side:1" }
      ],
      tolerations: [{ key: "a", operator: "Exists" }]
    }
  }

  it("merges keyed lists by their merge key and keeps the other elements", () => {
    assert.deepStrictEqual(
      apply(pod, {
        spec: {
          containers: [
            { name: "app", image: "app:2", ports: [{ containerPort: 443 }] },
            { name: "new", image: "new:1" }
          ]
        }
      }),
      {
        ...pod,
        spec: {
          ...pod.spec,
          containers: [
            { name: "app", image: "app:2", ports: [{ containerPort: 80 }, { containerPort: 443 }] },
            { name: "side", image: "side:1" },
            { name: "new", image: "new:1" }
          ]
        }
      }
    )
  })

  it("replaces lists without a merge key (tolerations, taints) and merges finalizers as a set", () => {
    const patched = apply(pod, {
      metadata: { finalizers: ["x", "y"] },
      spec: { tolerations: [{ key: "b", operator: "Exists" }] }
    }) as typeof pod
    assert.deepStrictEqual(patched.spec.tolerations, [{ key: "b", operator: "Exists" }])
    assert.deepStrictEqual(patched.metadata.finalizers, ["x", "y"])
  })

  it("null deletes a key; kubectl cordon sets a field", () => {
    const node = { metadata: { name: "n", labels: { a: "1", b: "2" } }, spec: { providerID: "kwok://n" } }
    assert.deepStrictEqual(apply(node, { metadata: { labels: { a: null } }, spec: { unschedulable: true } }), {
      metadata: { name: "n", labels: { b: "2" } },
      spec: { providerID: "kwok://n", unschedulable: true }
    })
  })

  it("honours $patch: delete and replace, $deleteFromPrimitiveList, $retainKeys, and ignores $setElementOrder", () => {
    const patched = apply(pod, {
      metadata: { "$deleteFromPrimitiveList/finalizers": ["x"] },
      spec: {
        $retainKeys: ["containers"],
        "$setElementOrder/containers": [{ name: "side" }, { name: "app" }],
        containers: [{ name: "side", $patch: "delete" }]
      }
    }) as { metadata: { finalizers: Array<string> }; spec: unknown }
    assert.deepStrictEqual(patched.metadata.finalizers, [])
    assert.deepStrictEqual(patched.spec, { containers: [pod.spec.containers[0]!] })
    assert.deepStrictEqual(apply(pod, { metadata: { labels: { $patch: "replace", z: "9" } } }), {
      ...pod,
      metadata: { ...pod.metadata, labels: { z: "9" } }
    })
    assert.deepStrictEqual(
      (apply(pod, { spec: { containers: [{ $patch: "replace" }, { name: "only", image: "o" }] } }) as typeof pod).spec
        .containers,
      [{ name: "only", image: "o" }]
    )
    assert.deepStrictEqual(apply(pod, { metadata: { labels: { $patch: "delete" } } }), {
      ...pod,
      metadata: { name: "p", finalizers: ["x"] }
    })
  })

  it("rejects a keyed element without its key, and a patch that is not an object", () => {
    assert.isFalse(StrategicMerge.apply(pod, { spec: { containers: [{ image: "x" }] } }).ok)
    assert.isFalse(StrategicMerge.apply(pod, [1]).ok)
  })
})

describe("Table", () => {
  it("renders ages as kubectl does", () => {
    const s = 1000
    assert.deepStrictEqual(
      [5 * s, 119 * s, 150 * s, 600 * s, 3 * 3600 * s + 120 * s, 30 * 3600 * s, 3 * 86400 * s, 400 * 86400 * s].map(
        Table.humanDuration
      ),
      ["5s", "119s", "2m30s", "10m", "3h2m", "30h", "3d", "400d"]
    )
  })

  it("evaluates printer-column JSONPaths with escaped dots and filters", () => {
    const object = {
      metadata: { labels: { "node.kubernetes.io/instance-type": "c-4x" } },
      status: {
        conditions: [
          { type: "Drifted", status: "False" },
          { type: "Ready", status: "True" }
        ]
      }
    }
    assert.strictEqual(Table.jsonPath(object, ".metadata.labels.node\\.kubernetes\\.io/instance-type"), "c-4x")
    assert.strictEqual(Table.jsonPath(object, '.status.conditions[?(@.type=="Ready")].status'), "True")
    assert.isUndefined(Table.jsonPath(object, ".status.nodeName"))
  })
})
