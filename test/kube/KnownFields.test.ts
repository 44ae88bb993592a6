import { assert, describe, it } from "@effect/vitest"
import * as KnownFields from "../../src/kube/KnownFields.ts"
import * as OpenApi from "../../src/kube/OpenApi.ts"

const pods = { group: "", kind: "Pod" }
const nodePools = { group: "karpenter.sh", kind: "NodePool" }

describe("KnownFields", () => {
  it("knows the real fields of a pod that the project's schemas do not model", () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web", labels: { app: "web" }, managedFields: [{ manager: "kubectl" }] },
      spec: {
        serviceAccountName: "web",
        securityContext: { runAsNonRoot: true, anything: { below: "is not checked" } },
        containers: [
          {
            name: "app",
            image: "nginx",
            env: [{ name: "A", value: "b" }],
            livenessProbe: { httpGet: { path: "/", port: 80 } },
            resources: { requests: { cpu: "1" }, claims: [{ name: "gpu" }] },
            ports: [{ name: "http", containerPort: 80 }]
          }
        ],
        volumes: [{ name: "data", emptyDir: {} }]
      },
      status: { phase: "Running", whatever: 1 }
    }
    assert.deepStrictEqual(KnownFields.unknownFields(pods, pod), [])
  })

  it("reports unknown fields with their paths, at every level it describes", () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metdata: {},
      metadata: { name: "web", nmae: "x", ownerReferences: [{ name: "rs", kind: "ReplicaSet", bogus: 1 }] },
      spec: {
        foo: 1,
        containers: [{ name: "app", cpu: "1", resources: { request: { cpu: "1" } }, ports: [{ port: 80 }] }],
        tolerations: [{ key: "a", operatr: "Exists" }]
      }
    }
    assert.deepStrictEqual(KnownFields.unknownFields(pods, pod), [
      "metdata",
      "metadata.nmae",
      "metadata.ownerReferences[0].bogus",
      "spec.foo",
      "spec.containers[0].cpu",
      "spec.containers[0].resources.request",
      "spec.containers[0].ports[0].port",
      "spec.tolerations[0].operatr"
    ])
    assert.strictEqual(
      KnownFields.strictDecodingError(["spec.foo", "spec.bar"]),
      'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"'
    )
  })

  it("custom resources are held to their CRD schema, metadata to ObjectMeta", () => {
    const nodePool = {
      apiVersion: "karpenter.sh/v1",
      kind: "NodePool",
      metadata: { name: "default", generation: 1 },
      spec: {
        weight: 10,
        limits: { cpu: "10", "nvidia.com/gpu": 2 },
        template: { metadata: { labels: { a: "b" }, name: "x" }, spec: { requirements: [], nodeClassRef: {}, foo: 1 } }
      }
    }
    assert.deepStrictEqual(KnownFields.unknownFields(nodePools, nodePool), [
      "spec.template.metadata.name",
      "spec.template.spec.foo"
    ])
    assert.deepStrictEqual(KnownFields.unknownFields({ group: "example.com", kind: "Widget" }, { foo: 1 }), [])
  })

  it("patches: directives are not fields, pruning keeps known fields, JSON patch values are checked where they land", () => {
    const schema = KnownFields.schemaOf(pods)!
    const patch = {
      metadata: { labels: { a: "b" } },
      spec: { $setElementOrder: [], containers: [{ name: "app", $patch: "delete", cpu: "1" }], foo: 1 }
    }
    assert.deepStrictEqual(OpenApi.unknownFields(schema, patch), ["spec.containers[0].cpu", "spec.foo"])
    assert.deepStrictEqual(OpenApi.prune(schema, patch), {
      metadata: { labels: { a: "b" } },
      spec: { $setElementOrder: [], containers: [{ name: "app", $patch: "delete" }] }
    })
    assert.deepStrictEqual(OpenApi.unknownFieldsAt(schema, "/spec/foo", 1), ["spec.foo"])
    assert.deepStrictEqual(OpenApi.unknownFieldsAt(schema, "/spec/containers/0", { name: "a", cpu: 1 }), [
      "spec.containers[0].cpu"
    ])
    assert.deepStrictEqual(OpenApi.unknownFieldsAt(schema, "/spec/containers/-", { name: "a", cpu: 1 }), [
      "spec.containers[-].cpu"
    ])
    assert.deepStrictEqual(OpenApi.unknownFieldsAt(schema, "/metadata/labels/a~1b", "c"), [])
    assert.deepStrictEqual(OpenApi.unknownFieldsAt(schema, "/spec/securityContext/anything", { x: 1 }), [])
  })
})
