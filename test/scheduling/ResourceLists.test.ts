import { assert, describe, it } from "@effect/vitest"
import type * as Pod from "../../src/api/Pod.ts"
import * as Resources from "../../src/scheduling/ResourceLists.ts"

const Gi = 1024 * 1024 * 1024 * 1000

/** A container requesting (and limited to) `cpu` cores and `memory` GiB; a sidecar when `sidecar`. */
const container = (cpu: number, memory: number, sidecar = false): Pod.Container => ({
  name: `c-${cpu}-${memory}`,
  resources: {
    requests: { cpu: String(cpu), memory: `${memory}Gi` },
    limits: { cpu: String(cpu), memory: `${memory}Gi` }
  },
  ...(sidecar ? { restartPolicy: "Always" } : {})
})
const sidecar = (cpu: number, memory: number) => container(cpu, memory, true)

const requests = (spec: Pod.Spec) => Resources.toResourceList(Resources.podRequests(spec))

describe("Resources conversion", () => {
  it("reads quantities into milli-units and writes them back canonically", () => {
    const resources = Resources.fromResourceList({ cpu: "1500m", memory: "1Gi", pods: "110", "nvidia.com/gpu": 2 })
    assert.deepStrictEqual(resources, { cpu: 1500, memory: Gi, pods: 110000, "nvidia.com/gpu": 2000 })
    assert.deepStrictEqual(Resources.toResourceList(resources), {
      cpu: "1500m",
      memory: "1Gi",
      pods: "110",
      "nvidia.com/gpu": "2"
    })
    assert.deepStrictEqual(Resources.toResourceList({ memory: 1536 * 1024 * 1024 * 1000, cpu: 4000 }), {
      memory: "1536Mi",
      cpu: "4"
    })
  })

  it("leaves out malformed quantities and accepts a missing list", () => {
    assert.deepStrictEqual(Resources.fromResourceList({ cpu: "lots", memory: "1k" }), { memory: 1000000 })
    assert.deepStrictEqual(Resources.fromResourceList(undefined), {})
  })
})

describe("Resources arithmetic", () => {
  it("adds, merges and subtracts as upstream", () => {
    assert.deepStrictEqual(Resources.add({ cpu: 1000 }, { cpu: 500, memory: 10 }), { cpu: 1500, memory: 10 })
    assert.deepStrictEqual(Resources.merge({ cpu: 1 }, undefined, { cpu: 2 }, { pods: 3 }), { cpu: 3, pods: 3 })
    assert.deepStrictEqual(Resources.merge(), {})
    // Subtract keeps the left side's resources only.
    assert.deepStrictEqual(Resources.subtract({ cpu: 1000, memory: 5 }, { cpu: 1500, pods: 1 }), {
      cpu: -500,
      memory: 5
    })
    assert.deepStrictEqual(Resources.max({ cpu: 1, memory: 9 }, { cpu: 4 }), { cpu: 4, memory: 9 })
  })

  it("does not change its arguments", () => {
    const a = { cpu: 1 }
    Resources.add(a, { cpu: 2 })
    Resources.subtract(a, { cpu: 2 })
    assert.deepStrictEqual(a, { cpu: 1 })
  })

  it("knows zero", () => {
    assert.isTrue(Resources.isZero({}))
    assert.isTrue(Resources.isZero({ cpu: 0, memory: 0 }))
    assert.isFalse(Resources.isZero({ cpu: 0, memory: 1 }))
  })
})

describe("Resources.fits", () => {
  it("fits when every request is at most what is available", () => {
    assert.isTrue(Resources.fits({ cpu: 1000, memory: Gi }, { cpu: 1000, memory: 2 * Gi, pods: 110000 }))
    assert.isFalse(Resources.fits({ cpu: 1001 }, { cpu: 1000 }))
    assert.isTrue(Resources.fits({}, { cpu: 0 }))
  })

  it("counts a missing available resource as zero", () => {
    assert.isFalse(Resources.fits({ "nvidia.com/gpu": 1000 }, { cpu: 4000 }))
    assert.isTrue(Resources.fits({ "nvidia.com/gpu": 0 }, { cpu: 4000 }))
  })

  it("never fits when anything available is negative, even an unrequested resource", () => {
    assert.isFalse(Resources.fits({}, { cpu: 4000, memory: -1 }))
    assert.isFalse(Resources.fits({ cpu: 1 }, { cpu: 4000, "example.com/thing": -1000 }))
  })
})

describe("Resources.exceeds", () => {
  it("reports a resource strictly above its limit", () => {
    assert.strictEqual(
      Resources.exceeds({ cpu: 10500, memory: Gi }, { cpu: 10000 }),
      "cpu resource usage of 10.5 exceeds limit of 10"
    )
    assert.strictEqual(
      Resources.exceeds({ memory: 2 * Gi }, { memory: Gi }),
      "memory resource usage of 2147483648 exceeds limit of 1073741824"
    )
    assert.strictEqual(Resources.exceeds({ cpu: 100 }, { cpu: 50 }), "cpu resource usage of 0.1 exceeds limit of 0.05")
  })

  it("allows usage equal to the limit and resources without a limit", () => {
    assert.isUndefined(Resources.exceeds({ cpu: 10000 }, { cpu: 10000 }))
    assert.isUndefined(Resources.exceeds({ cpu: 10000, memory: 100 * Gi }, { cpu: 20000 }))
    assert.isUndefined(Resources.exceeds({ cpu: 10000 }, undefined))
    assert.isUndefined(Resources.exceeds({ cpu: 10000 }, {}))
  })

  it("reports the first exceeded resource by name", () => {
    assert.strictEqual(
      Resources.exceeds({ memory: 3, cpu: 3, pods: 3 }, { pods: 1000, memory: 1, cpu: 1 }),
      "cpu resource usage of 0.003 exceeds limit of 0.001"
    )
  })
})

describe("Resources.podRequests", () => {
  // Upstream pkg/utils/resources suite: containers, sidecars (restartPolicy Always), init containers and overhead.
  const cases: ReadonlyArray<{
    readonly name: string
    readonly spec: Pod.Spec
    readonly expected: Record<string, string>
  }> = [
    {
      name: "sums containers and sidecars",
      spec: { containers: [container(2, 1)], initContainers: [sidecar(1, 2)] },
      expected: { cpu: "3", memory: "3Gi" }
    },
    {
      name: "adds overhead to the max of containers + sidecars and init containers",
      spec: {
        containers: [container(2, 1)],
        initContainers: [container(4, 2), sidecar(3, 3)],
        overhead: { cpu: "5", memory: "1Gi" }
      },
      expected: { cpu: "10", memory: "5Gi" }
    },
    {
      name: "counts sidecars started before an init container that exceeds the containers",
      spec: { containers: [container(2, 1)], initContainers: [sidecar(4, 2), container(10, 2)] },
      expected: { cpu: "14", memory: "4Gi" }
    },
    {
      name: "ignores an init container after a sidecar that does not exceed the containers",
      spec: { containers: [container(2, 2)], initContainers: [sidecar(4, 2), container(1, 1)] },
      expected: { cpu: "6", memory: "4Gi" }
    },
    {
      name: "counts every earlier sidecar for a large init container",
      spec: {
        containers: [container(3, 3)],
        initContainers: [sidecar(2, 2), sidecar(1, 1), sidecar(3, 3), sidecar(5, 5), container(20, 20)]
      },
      expected: { cpu: "31", memory: "31Gi" }
    },
    {
      name: "sums multiple sidecars when the init container is small",
      spec: {
        containers: [container(3, 3)],
        initContainers: [sidecar(2, 2), sidecar(1, 1), sidecar(3, 3), sidecar(5, 5), container(1, 1)]
      },
      expected: { cpu: "14", memory: "14Gi" }
    },
    {
      name: "does not count sidecars started after a first init container (cpu)",
      spec: { containers: [container(3, 3)], initContainers: [container(25, 4), sidecar(1, 1), sidecar(5, 5)] },
      expected: { cpu: "25", memory: "9Gi" }
    },
    {
      name: "does not count sidecars started after a first init container (memory)",
      spec: { containers: [container(3, 3)], initContainers: [container(4, 25), sidecar(1, 1), sidecar(5, 5)] },
      expected: { cpu: "9", memory: "25Gi" }
    },
    {
      name: "takes the maximum per resource (init exceeds cpu only)",
      spec: { containers: [container(2, 4)], initContainers: [sidecar(4, 2), container(10, 2)] },
      expected: { cpu: "14", memory: "6Gi" }
    },
    {
      name: "takes the maximum per resource (init exceeds memory only)",
      spec: { containers: [container(10, 2)], initContainers: [sidecar(4, 2), container(2, 4)] },
      expected: { cpu: "14", memory: "6Gi" }
    }
  ]
  for (const { name, spec, expected } of cases) {
    it(name, () => assert.deepStrictEqual(requests(spec), expected))
  }

  it("fills missing requests from limits, for containers and sidecars", () => {
    const limitsOnly = (restartPolicy?: string): Pod.Container => ({
      name: "c",
      resources: { limits: { cpu: "2", memory: "1Gi" } },
      ...(restartPolicy === undefined ? {} : { restartPolicy })
    })
    assert.deepStrictEqual(requests({ containers: [limitsOnly()] }), { cpu: "2", memory: "1Gi" })
    assert.deepStrictEqual(requests({ containers: [], initContainers: [limitsOnly("Always")] }), {
      cpu: "2",
      memory: "1Gi"
    })
    // An explicit request wins over the limit for the same resource only.
    const mixed: Pod.Container = {
      name: "c",
      resources: { requests: { cpu: "500m" }, limits: { cpu: "2", memory: "1Gi" } }
    }
    assert.deepStrictEqual(requests({ containers: [mixed] }), { cpu: "500m", memory: "1Gi" })
  })

  it("hands pods that request the same one shared object, and a different request its own", () => {
    const first = Resources.podRequests({ containers: [container(1, 2)] })
    assert.strictEqual(Resources.podRequests({ containers: [container(1, 2)] }), first)
    assert.notStrictEqual(Resources.podRequests({ containers: [container(2, 2)] }), first)
    assert.deepStrictEqual(first, Resources.podRequests({ containers: [container(1, 2)] }))
  })

  it("reads a spec that shares another's containers by its own overhead, init containers and pod-level resources", () => {
    const containers = [container(1, 2)]
    const bound: Pod.Spec = { containers, nodeName: "node-a" }
    assert.deepStrictEqual(requests(bound), { cpu: "1", memory: "2Gi" })
    // The unbound copy disruption makes shares everything requests read.
    const { nodeName: _nodeName, ...unbound } = bound
    assert.strictEqual(Resources.podRequests(unbound), Resources.podRequests(bound))
    assert.deepStrictEqual(requests({ containers, overhead: { cpu: "250m" } }), { cpu: "1250m", memory: "2Gi" })
    assert.deepStrictEqual(requests({ containers, initContainers: [container(3, 1)] }), { cpu: "3", memory: "2Gi" })
    assert.deepStrictEqual(requests({ containers, resources: { requests: { cpu: "4", memory: "4Gi" } } }), {
      cpu: "4",
      memory: "4Gi"
    })
    assert.deepStrictEqual(requests(bound), { cpu: "1", memory: "2Gi" })
  })

  it("gives nothing for a pod without resources", () => {
    assert.deepStrictEqual(Resources.podRequests({ containers: [{ name: "c" }] }), {})
  })

  it("sums pods and counts them for requestsForPods", () => {
    const spec: Pod.Spec = { containers: [container(1, 1)] }
    assert.deepStrictEqual(Resources.toResourceList(Resources.requestsForPods(spec, spec, spec)), {
      cpu: "3",
      memory: "3Gi",
      pods: "3"
    })
    assert.deepStrictEqual(Resources.requestsForPods(), { pods: 0 })
  })

  it("requestsForPod is requestsForPods of one spec, one object for pods that request the same", () => {
    const one = Resources.requestsForPod({ containers: [container(1, 1)] })
    assert.deepStrictEqual(one, Resources.requestsForPods({ containers: [container(1, 1)] }))
    assert.strictEqual(Resources.requestsForPod({ containers: [container(1, 1)] }), one)
    assert.deepStrictEqual(Resources.toResourceList(Resources.requestsForPod({ containers: [container(2, 1)] })), {
      cpu: "2",
      memory: "1Gi",
      pods: "1"
    })
  })
})
