import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Catalog from "../../src/cloudprovider/Catalog.ts"
import * as Manifests from "../../src/operator/Manifests.ts"
import * as Schedule from "../../src/operator/Schedule.ts"
import * as ScheduleOutput from "../../src/operator/ScheduleOutput.ts"
import { root } from "../fixtures.ts"

const run = (files: ReadonlyArray<string>, output: "json" | "text" = "json", instanceTypes?: string) =>
  Schedule.run({ files: files.map((file) => join(root, file)), instanceTypes, output }).pipe(
    Effect.provide(NodeServices.layer)
  )

interface Json {
  nodeClaims: Array<{
    nodePool: string
    instanceTypes: Array<string>
    requirements: Array<{ key: string; operator: string; values: Array<string> }>
    pods: Array<string>
    launch: { instanceType: string; zone: string; capacityType: string; price: number } | null
  }>
  existingNodes: Array<{ name: string; pods: Array<string> }>
  unschedulable: Array<{ pod: string; reason: string }>
}

const pendingPods = (files: ReadonlyArray<string>) =>
  Manifests.load(files.map((file) => join(root, file))).pipe(
    Effect.provide(NodeServices.layer),
    Effect.map((manifests) =>
      manifests.pods
        .filter((pod) => pod.spec.nodeName === undefined || pod.spec.nodeName === "")
        .map((pod) => `${pod.metadata.namespace}/${pod.metadata.name}`)
        .sort()
    )
  )

describe("schedule", () => {
  it.effect(
    "plans the example cluster: existing capacity first, spread web pods, one reason per unschedulable pod",
    () =>
      Effect.gen(function* () {
        const json = JSON.parse(yield* run(["examples/schedule/cluster.yaml"])) as Json
        const placed = [
          ...json.nodeClaims.flatMap((claim) => claim.pods),
          ...json.existingNodes.flatMap((node) => node.pods),
          ...json.unschedulable.map((entry) => entry.pod)
        ].sort()
        assert.deepStrictEqual(placed, yield* pendingPods(["examples/schedule/cluster.yaml"]))
        assert.deepStrictEqual(
          json.existingNodes.map((node) => node.name),
          ["existing-1"]
        )
        for (const claim of json.nodeClaims) {
          assert.strictEqual(claim.nodePool, "general")
          assert.isNotNull(claim.launch)
          assert.strictEqual(claim.launch!.instanceType, claim.instanceTypes[0])
          const instanceTypes = claim.requirements.find((r) => r.key === "node.kubernetes.io/instance-type")
          assert.deepStrictEqual([...(instanceTypes?.values ?? [])].sort(), [...claim.instanceTypes].sort())
          assert.isTrue(claim.instanceTypes.every((name) => name.includes("amd64-linux")))
        }
        const zones = json.nodeClaims.map((claim) => claim.launch!.zone)
        assert.strictEqual(new Set(zones).size, zones.length, "each new NodeClaim is in another zone (web spread)")
        assert.deepStrictEqual(
          json.unschedulable.map((entry) => entry.pod),
          ["default/gpu-job"]
        )
        assert.include(json.unschedulable[0]!.reason, "kubernetes.io/arch")
      })
  )

  it.effect("puts every pending pod of every example exactly once", () =>
    Effect.gen(function* () {
      const files = [
        "examples/schedule/cluster.yaml",
        ...readdirSync(join(root, "examples/nodepools")).map((f) => `examples/nodepools/${f}`)
      ]
      const json = JSON.parse(yield* run(files)) as Json
      const placed = [
        ...json.nodeClaims.flatMap((claim) => claim.pods),
        ...json.existingNodes.flatMap((node) => node.pods),
        ...json.unschedulable.map((entry) => entry.pod)
      ].sort()
      assert.deepStrictEqual(placed, yield* pendingPods(files))
    })
  )

  it.effect("reports pods the provisioner ignores as not provisionable", () =>
    Effect.gen(function* () {
      const json = JSON.parse(yield* run(["test/operator/fixtures/ignored-pods.yaml"])) as Json
      const reasons = Object.fromEntries(json.unschedulable.map((entry) => [entry.pod, entry.reason]))
      assert.match(reasons["default/daemon-pod"] ?? "", /^not provisionable: .*DaemonSet/)
      assert.match(reasons["default/hostname-selector"] ?? "", /^not provisionable: .*kubernetes.io\/hostname/)
      assert.match(reasons["default/missing-claim"] ?? "", /^not provisionable: .*not found/)
      assert.strictEqual(json.nodeClaims.length, 1)
    })
  )

  it.effect("uses a catalogue given with --instance-types", () =>
    Effect.gen(function* () {
      const json = JSON.parse(
        yield* run(["examples/schedule/cluster.yaml"], "json", join(root, "test/operator/fixtures/tiny-catalogue.json"))
      ) as Json
      for (const claim of json.nodeClaims) assert.deepStrictEqual(claim.instanceTypes, ["tiny.xlarge"])
    })
  )

  it.effect("renders text with the summary line", () =>
    Effect.gen(function* () {
      const text = yield* run(["examples/schedule/cluster.yaml"], "text")
      assert.match(text, /pods? on \d+ new NodeClaims?, \d+ on existing nodes, 1 unschedulable/)
      assert.include(text, "default/gpu-job")
    })
  )

  it.effect("fails with one line for bad input", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(run(["examples/none.yaml"]))
      assert.strictEqual(missing._tag, "InvalidInput")
      assert.match(missing.message, /none\.yaml: no such file or directory$/)
      const badCatalogue = yield* Effect.flip(
        run(["examples/schedule/cluster.yaml"], "json", join(root, "test/operator/fixtures/bad-catalogue.json"))
      )
      assert.strictEqual(badCatalogue._tag, "InvalidInput")
      assert.include(badCatalogue.message, "bad-catalogue.json")
      assert.notInclude(badCatalogue.message, "\n")
    })
  )
})

describe("schedule: nodes going away", () => {
  const manifests = `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: [{key: kubernetes.io/os, operator: In, values: [linux]}]
---
apiVersion: v1
kind: Node
metadata: {name: old, deletionTimestamp: "2026-01-01T00:00:00Z", labels: {kubernetes.io/os: linux}}
spec: {providerID: kwok://old}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "10"}}
---
apiVersion: v1
kind: Pod
metadata: {name: movable, labels: {app: web}}
spec: {nodeName: old, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pinned, annotations: {karpenter.sh/do-not-disrupt: "true"}}
spec: {nodeName: old, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: guarded, labels: {app: db}}
spec: {nodeName: old, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: db}}}
`

  it.effect("makes room for the pods of a deleting node that can move, and only those (the v1.4.0 change)", () =>
    Effect.gen(function* () {
      const parsed = yield* Manifests.parse("inline.yaml", manifests)
      const { result } = yield* Schedule.plan(parsed, Catalog.kwok())
      assert.deepStrictEqual(
        result.nodeClaims.flatMap((claim) => claim.pods),
        ["default/movable"]
      )
      assert.deepStrictEqual(result.existingNodes, [])
    })
  )
})

describe("schedule: pod affinity to itself", () => {
  const cachePod = (name: string, zone: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: cache}}
spec:
  containers: [{name: c, resources: {requests: {cpu: "1"}}}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [${zone}]}]}]
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: cache}}}
`
  const manifests = `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: [{key: kubernetes.io/os, operator: In, values: [linux]}]
---${cachePod("cache-a", "test-zone-a")}---${cachePod("cache-b", "test-zone-b")}`

  it.effect("places two self-affine pods that require different zones, each in its own zone (upstream v1.4.0)", () =>
    Effect.gen(function* () {
      const parsed = yield* Manifests.parse("inline.yaml", manifests)
      const { result } = yield* Schedule.plan(parsed, Catalog.kwok())
      assert.deepStrictEqual(result.unschedulable, [])
      const zoneOf = (pod: string) =>
        result.nodeClaims
          .find((claim) => claim.pods.includes(pod))
          ?.requirements.find((requirement) => requirement.key === "topology.kubernetes.io/zone")?.values
      assert.deepStrictEqual(zoneOf("default/cache-a"), ["test-zone-a"])
      assert.deepStrictEqual(zoneOf("default/cache-b"), ["test-zone-b"])
    })
  )
})

describe("schedule: NodePools that are not Ready", () => {
  const kwokNodeClass = (name: string, status = "") => `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: ${name}}
${status}
---
`
  const nodePool = (name: string, options: { nodeClass?: string; weight?: number; status?: string } = {}) =>
    `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: ${name}}
spec:
  ${options.weight === undefined ? "" : `weight: ${options.weight}`}
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: ${options.nodeClass ?? "default"}}
      requirements: [{key: kubernetes.io/os, operator: In, values: [linux]}]
${options.status ?? ""}
---
`
  const readyStatus = (status: string, reason: string, message: string) => `status:
  conditions:
    - {type: Ready, status: "${status}", reason: ${reason}, message: "${message}", lastTransitionTime: "2026-01-01T00:00:00Z"}`
  const pods = `apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: c, resources: {requests: {cpu: "1"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c, image: c, resources: {requests: {cpu: "1"}}}]}
`
  const plan = (text: string) =>
    Effect.gen(function* () {
      const { result } = yield* Schedule.plan(yield* Manifests.parse("inline.yaml", text), Catalog.kwok())
      return result
    })

  it.effect("skips a NodePool whose status says Ready=False, and each pod's reason names it", () =>
    Effect.gen(function* () {
      const result = yield* plan(
        kwokNodeClass("default") +
          nodePool("broken", { status: readyStatus("False", "ValidationFailed", "invalid requirements") }) +
          pods
      )
      assert.deepStrictEqual(result.nodeClaims, [])
      assert.deepStrictEqual(
        result.unschedulable.map((entry) => entry.pod),
        ["default/a", "default/b"]
      )
      for (const { reason } of result.unschedulable) {
        assert.include(reason, 'nodepool "broken"')
        assert.include(reason, "ValidationFailed")
        assert.include(reason, "invalid requirements")
      }
    })
  )

  it.effect("skips a NodePool whose KWOKNodeClass says Ready=False, and each pod's reason names both", () =>
    Effect.gen(function* () {
      const result = yield* plan(
        kwokNodeClass("slow", readyStatus("False", "ImagesNotFound", "no image resolved")) +
          nodePool("waiting", { nodeClass: "slow" }) +
          pods
      )
      assert.deepStrictEqual(result.nodeClaims, [])
      assert.strictEqual(result.unschedulable.length, 2)
      for (const { reason } of result.unschedulable) {
        assert.include(reason, 'nodepool "waiting"')
        assert.include(reason, 'KWOKNodeClass "slow"')
        assert.include(reason, "ImagesNotFound")
        assert.include(reason, "no image resolved")
      }
    })
  )

  it.effect("uses the ready NodePool when a heavier one is not ready (itself or by its NodeClass)", () =>
    Effect.gen(function* () {
      const result = yield* plan(
        kwokNodeClass("default") +
          kwokNodeClass("slow", readyStatus("False", "ImagesNotFound", "no image resolved")) +
          nodePool("broken", { weight: 100, status: readyStatus("False", "ValidationFailed", "invalid") }) +
          nodePool("waiting", { weight: 50, nodeClass: "slow" }) +
          nodePool("fallback", { weight: 1, status: readyStatus("True", "Ready", "") }) +
          pods
      )
      assert.deepStrictEqual(result.unschedulable, [])
      assert.deepStrictEqual(
        result.nodeClaims.map((claim) => claim.nodePool),
        ["fallback"]
      )
      assert.deepStrictEqual(result.nodeClaims[0]!.pods, ["default/a", "default/b"])
    })
  )

  it.effect("names the NodePools left out in the reason of a pod the ready ones cannot take", () =>
    Effect.gen(function* () {
      const amd64Only = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: amd64}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
---
`
      const armPod = `apiVersion: v1
kind: Pod
metadata: {name: arm}
spec:
  nodeSelector: {kubernetes.io/arch: arm64}
  containers: [{name: c, image: c, resources: {requests: {cpu: "1"}}}]
`
      const result = yield* plan(
        kwokNodeClass("default") +
          amd64Only +
          nodePool("broken", { status: readyStatus("False", "ValidationFailed", "invalid") }) +
          armPod
      )
      assert.deepStrictEqual(result.nodeClaims, [])
      const [entry] = result.unschedulable
      assert.strictEqual(entry?.pod, "default/arm")
      assert.include(entry?.reason, 'incompatible with nodepool "amd64"')
      assert.include(entry?.reason, 'nodepool "broken" is not ready: ValidationFailed: invalid')
    })
  )

  it.effect("takes a NodePool and a KWOKNodeClass without status (or without a Ready condition) as ready", () =>
    Effect.gen(function* () {
      const noReady = `status:
  conditions:
    - {type: ValidationSucceeded, status: "True", reason: ValidationSucceeded, lastTransitionTime: "2026-01-01T00:00:00Z"}`
      for (const text of [
        kwokNodeClass("default") + nodePool("plain") + pods,
        kwokNodeClass("default") + nodePool("plain", { status: noReady }) + pods
      ]) {
        const result = yield* plan(text)
        assert.deepStrictEqual(result.unschedulable, [])
        assert.deepStrictEqual(
          result.nodeClaims.map((claim) => claim.nodePool),
          ["plain"]
        )
      }
    })
  )
})

/** A NodePool of amd64 c-family nodes, as YAML. */
const cFamilyNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.kwok.sh/instance-family, operator: In, values: [c]}
        - {key: kubernetes.io/os, operator: In, values: [linux]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
`

describe("schedule: DaemonSet overhead", () => {
  const oneCpu = `containers: [{name: c, resources: {requests: {cpu: "1", memory: 64Mi}}}]`
  /** A NodePool of amd64 c-family nodes, the DaemonSet `agent` with this template spec, and a pending pod. */
  const nodePoolAndDaemonSet = (templateSpec: string) => `
${cFamilyNodePool}---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, uid: agent-uid}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      ${templateSpec}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec: {containers: [{name: c, resources: {requests: {cpu: 700m, memory: 512Mi}}}]}
`
  /** A pod the DaemonSet `agent` controls. */
  const agentPod = (name: string, creationTimestamp: string, spec: string) => `
---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  creationTimestamp: "${creationTimestamp}"
  labels: {app: agent}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: agent-uid, controller: true}]
spec:
  ${spec}
`
  /** A node too small for `app` next to the daemon pods on it. */
  const node = (name: string, arch: string) => `
---
apiVersion: v1
kind: Node
metadata: {name: ${name}, labels: {kubernetes.io/os: linux, kubernetes.io/arch: ${arch}}}
status: {allocatable: {cpu: 1500m, memory: 4Gi, pods: "10"}}
`
  const cheapestFor = (manifests: string) =>
    Effect.gen(function* () {
      const { result } = yield* Schedule.plan(yield* Manifests.parse("inline.yaml", manifests), Catalog.kwok())
      assert.deepStrictEqual(
        result.nodeClaims.map((claim) => claim.pods),
        [["default/app"]]
      )
      return result.nodeClaims[0]?.instanceTypes[0]?.name
    })

  it.effect("sizes new nodes by the DaemonSet's newest pod in the input", () =>
    Effect.gen(function* () {
      // The older pod has the template's request, the newer one the smaller request a VPA gave it.
      const running =
        node("existing", "amd64") +
        agentPod("agent-1", "2026-01-01T00:00:00Z", `nodeName: existing\n  ${oneCpu}`) +
        agentPod(
          "agent-2",
          "2026-01-02T00:00:00Z",
          "nodeName: existing\n  containers: [{name: c, resources: {requests: {cpu: 100m, memory: 64Mi}}}]"
        )
      // 700m + the pod's 100m fits one CPU (900m allocatable); with the template's 1 CPU it needs two.
      assert.strictEqual(yield* cheapestFor(nodePoolAndDaemonSet(oneCpu) + running), "c-1x-amd64-linux")
    })
  )

  it.effect("sizes new nodes by the DaemonSet's template when the input has none of its pods", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* cheapestFor(nodePoolAndDaemonSet(oneCpu)), "c-2x-amd64-linux")
    })
  )

  it.effect("reserves room for a daemon only where its template's node affinity lets it run", () =>
    Effect.gen(function* () {
      // The template asks for arm64; the DaemonSet controller replaced that on its pod with a pin to the pod's node
      // (matchFields): the NodePool's amd64 nodes get no daemon.
      const affinity = (term: string) =>
        `affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [${term}]}}}`
      const armOnly = nodePoolAndDaemonSet(
        `${affinity("{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [arm64]}]}")}\n      ${oneCpu}`
      )
      const pinned =
        node("arm", "arm64") +
        agentPod(
          "agent-1",
          "2026-01-01T00:00:00Z",
          `nodeName: arm\n  ${affinity("{matchFields: [{key: metadata.name, operator: In, values: [arm]}]}")}\n  ${oneCpu}`
        )
      assert.strictEqual(yield* cheapestFor(armOnly + pinned), "c-1x-amd64-linux")
    })
  )
})

describe("schedule: NodeOverlay", () => {
  const family = (instanceType: string) => instanceType.split("-")[0]!.replace(/[0-9.]+$/, "")

  it.effect(
    "a savings-plan price on the m family launches an m instance instead of the cheapest c (examples/node-overlay.yaml)",
    () =>
      Effect.gen(function* () {
        const withOverlay = JSON.parse(yield* run(["examples/node-overlay.yaml"])) as Json
        const [claim] = withOverlay.nodeClaims
        assert.strictEqual(withOverlay.nodeClaims.length, 1)
        assert.strictEqual(family(claim!.launch!.instanceType), "m")
        assert.strictEqual(claim!.launch!.capacityType, "on-demand")
        assert.strictEqual(
          claim!.instanceTypes[0],
          claim!.launch!.instanceType,
          "the cheapest after the overlay comes first"
        )
      })
  )
})

describe("schedule: pod-level resources", () => {
  /** A NodePool of amd64 c-family nodes and the pod `app`, one container of 700m, with these pod-level resources. */
  const manifests = (resources: string) => `
${cFamilyNodePool}---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers: [{name: c, resources: {requests: {cpu: 700m, memory: 512Mi}}}]
  resources: ${resources}
`
  const planFor = (resources: string) =>
    Effect.gen(function* () {
      const { result } = yield* Schedule.plan(
        yield* Manifests.parse("inline.yaml", manifests(resources)),
        Catalog.kwok()
      )
      return result
    })

  it.effect("sizes the NodeClaim by the pod-level requests, not the containers'", () =>
    Effect.gen(function* () {
      // The container's 700m fits one CPU (900m allocatable); the pod's 1500m needs two.
      const result = yield* planFor("{requests: {cpu: 1500m, memory: 512Mi}}")
      assert.deepStrictEqual(
        result.nodeClaims.map((claim) => [claim.pods, claim.instanceTypes[0]?.name]),
        [[["default/app"], "c-2x-amd64-linux"]]
      )
    })
  )

  it.effect("explains an unschedulable pod by its pod-level requests", () =>
    Effect.gen(function* () {
      const result = yield* planFor("{requests: {cpu: '1000', memory: 512Mi}}")
      assert.deepStrictEqual(result.nodeClaims, [])
      assert.deepStrictEqual(
        result.unschedulable.map((entry) => entry.pod),
        ["default/app"]
      )
      assert.include(result.unschedulable[0]?.reason ?? "", "no instance type has cpu 1k, memory 512Mi")
    })
  )
})

describe("schedule: CapacityBuffer", () => {
  // examples/capacity-buffer.yaml as input: the Deployment `web` (schedule runs no Deployment controller: no pods) and
  // two chunks of headroom shaped like its replicas, one per node (required anti-affinity on `app: web`).
  const files = ["examples/capacity-buffer.yaml"]
  const schedule = (featureGates?: string) =>
    Schedule.run({
      files: files.map((file) => join(root, file)),
      instanceTypes: undefined,
      output: "json",
      featureGates
    }).pipe(
      Effect.provide(NodeServices.layer),
      Effect.map((json) => JSON.parse(json) as ScheduleOutput.ScheduleJson)
    )

  it.effect("with the gate on, NodeClaims are launched for the buffer's virtual pods and say so", () =>
    Effect.gen(function* () {
      const json = yield* schedule("CapacityBuffer=true")
      assert.deepStrictEqual(
        json.nodeClaims.map((claim) => [claim.pods, claim.capacityBuffers]),
        [
          [[], [{ buffer: "default/web-headroom", virtualPods: 1 }]],
          [[], [{ buffer: "default/web-headroom", virtualPods: 1 }]]
        ]
      )
      assert.deepStrictEqual(json.unschedulable, [])
      const text = yield* Schedule.run({
        files: files.map((file) => join(root, file)),
        instanceTypes: undefined,
        output: "text",
        featureGates: "CapacityBuffer=true"
      }).pipe(Effect.provide(NodeServices.layer))
      assert.include(text, "headroom for capacitybuffer default/web-headroom: 1 virtual pod")
      assert.include(text, "0 pods on 2 new NodeClaims, 0 on existing nodes, 0 unschedulable; headroom: 2 virtual pods")
    })
  )

  it.effect("headroom that fits nowhere is reported by its buffer, not among the input's unschedulable pods", () =>
    Effect.gen(function* () {
      const yaml = readFileSync(join(root, files[0]!), "utf8").replace(
        'requests: { cpu: "3", memory: 4Gi }',
        'requests: { cpu: "3000", memory: 4Gi }'
      )
      const { result } = yield* Schedule.plan(
        yield* Manifests.parse("inline.yaml", yaml),
        Catalog.kwok(),
        undefined,
        undefined,
        true
      )
      const json = ScheduleOutput.toJson(result, Catalog.kwokWellKnownLabels)
      assert.deepStrictEqual(json.nodeClaims, [])
      assert.deepStrictEqual(json.unschedulable, [])
      assert.deepStrictEqual(
        json.unschedulableHeadroom?.map(({ buffer, pod }) => [buffer, pod]),
        [
          ["default/web-headroom", "default/capacity-buffer-web-headroom-1"],
          ["default/web-headroom", "default/capacity-buffer-web-headroom-2"]
        ]
      )
      assert.include(
        ScheduleOutput.renderText(json),
        "Headroom that fits nowhere\n  capacitybuffer default/web-headroom (default/capacity-buffer-web-headroom-1): "
      )
    })
  )

  it.effect("with the gate off (the default), the buffer changes nothing", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual((yield* schedule()).nodeClaims, [])
    })
  )
})
