import { assert, describe, it } from "@effect/vitest"
import * as Api from "../../../src/api/CapacityBuffer.ts"
import * as CapacityBuffers from "../../../src/controllers/capacitybuffer/CapacityBuffers.ts"

const ready = (replicas: number): Api.CapacityBuffer => ({
  apiVersion: Api.apiVersion,
  kind: Api.kind,
  metadata: { name: "headroom", namespace: "team", uid: "u", generation: 3 },
  spec: { provisioningStrategy: Api.ActiveProvisioningStrategy, podTemplateRef: { name: "web" }, replicas },
  status: {
    replicas,
    conditions: [
      {
        type: Api.ReadyForProvisioning,
        status: "True",
        reason: Api.ReasonResolved,
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z"
      }
    ]
  }
})

describe("CapacityBuffers (upstream v1.14 helpers.go, virtualpods, buffers.go)", () => {
  it("percentage: ceil, and at least one chunk of a running workload", () => {
    assert.strictEqual(CapacityBuffers.percentageReplicas(10, 20), 2)
    assert.strictEqual(CapacityBuffers.percentageReplicas(10, 25), 3)
    assert.strictEqual(CapacityBuffers.percentageReplicas(3, 1), 1)
    assert.strictEqual(CapacityBuffers.percentageReplicas(0, 50), 0)
    assert.strictEqual(CapacityBuffers.percentageReplicas(10, 0), 0)
  })

  it("limits: the fewest chunks over the resources both name; none shared constrains nothing", () => {
    const template = { spec: { containers: [{ name: "c", resources: { requests: { cpu: "500m", memory: "1Gi" } } }] } }
    assert.strictEqual(CapacityBuffers.limitReplicas({ cpu: "2", memory: "3Gi" }, template), 3)
    assert.isUndefined(CapacityBuffers.limitReplicas({ "nvidia.com/gpu": "4" }, template))
  })

  it("virtual pods: one per replica, the template's labels, the buffer's annotations, no claims, unschedulable", () => {
    const pods = CapacityBuffers.virtualPods(ready(2), {
      metadata: { labels: { app: "web" } },
      spec: {
        nodeName: "pinned",
        containers: [{ name: "c" }],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }, { name: "config" }]
      }
    })
    assert.deepStrictEqual(
      pods.map((pod) => [pod.metadata.namespace, pod.metadata.name, pod.metadata.uid]),
      [
        ["team", "capacity-buffer-headroom-1", "u-1"],
        ["team", "capacity-buffer-headroom-2", "u-2"]
      ]
    )
    const [pod] = pods
    assert.deepStrictEqual(pod!.metadata.labels, { app: "web" })
    assert.strictEqual(CapacityBuffers.bufferOf(pod!), "team/headroom")
    assert.isUndefined(pod!.spec.nodeName)
    assert.deepStrictEqual(pod!.spec.volumes, [{ name: "config" }])
    assert.deepStrictEqual(pod!.status?.conditions, [
      { type: "PodScheduled", status: "False", reason: "Unschedulable" }
    ])
    assert.deepStrictEqual(CapacityBuffers.virtualPods(ready(0), { spec: { containers: [] } }), [])
  })

  it("the Provisioning condition follows where the pass put the virtual pods", () => {
    const buffer = ready(2)
    assert.deepStrictEqual(
      CapacityBuffers.provisioningCondition(buffer, { existing: 1, newNodeClaims: 1, failed: 0 })?.reason,
      Api.ReasonRequiresNewCapacity
    )
    assert.deepStrictEqual(
      CapacityBuffers.provisioningCondition(buffer, { existing: 2, newNodeClaims: 0, failed: 0 }),
      {
        status: "True",
        reason: Api.ReasonFitsExistingCapacity,
        message: "All 2 virtual pods fit on existing capacity"
      }
    )
    assert.isUndefined(CapacityBuffers.provisioningCondition(buffer, undefined), "not placed: left as it is")
    assert.strictEqual(CapacityBuffers.provisioningCondition(ready(0), undefined)?.reason, Api.ReasonBufferEmpty)
  })
})
