import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { withLiveCluster } from "./LiveCluster.ts"

const kwokRef = "nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}"

const nodePool = (name: string, extra: { spec?: string; pool?: string; template?: string } = {}) => `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: ${name}}
spec:
  ${extra.pool ?? ""}
  template:
    metadata: {labels: {pool: ${name}}}
    spec:
      ${kwokRef}
      requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}${extra.spec ?? ""}]
      ${extra.template ?? ""}
---`

const pendingPod = (name: string, pool: string, extra = "", cpu = "1") => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: ${name}}}
spec:
  nodeSelector: {pool: ${pool}}
  containers: [{name: app, image: app, resources: {requests: {cpu: "${cpu}", memory: 1Gi}}}]
  ${extra}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable, message: "0/1 nodes are available"}]
---`

/** Three NodePools, each ruling out its pod for one reason: a taint, a limit, a topology constraint. */
const pendingCluster = [
  nodePool("tainted", { template: "taints: [{key: dedicated, value: gpu, effect: NoSchedule}]" }),
  nodePool("limited", { pool: 'limits: {cpu: "2"}' }),
  nodePool("zonal", { spec: ", {key: topology.kubernetes.io/zone, operator: In, values: [test-zone-a]}" }),
  `
apiVersion: v1
kind: Node
metadata:
  name: zonal-node
  labels: {pool: zonal, topology.kubernetes.io/zone: test-zone-a, kubernetes.io/hostname: zonal-node, kubernetes.io/arch: amd64, kubernetes.io/os: linux}
status:
  capacity: {cpu: "1", memory: 2Gi, pods: "10"}
  allocatable: {cpu: "1", memory: 2Gi, pods: "10"}
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata: {name: solo-1, namespace: default, labels: {app: solo}}
spec:
  nodeName: zonal-node
  containers: [{name: app, image: app, resources: {requests: {cpu: 100m, memory: 100Mi}}}]
status: {phase: Running}
---`,
  pendingPod("needs-toleration", "tainted"),
  pendingPod("too-big", "limited", "", "3"),
  pendingPod(
    "solo-2",
    "zonal",
    "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: solo}}, topologyKey: topology.kubernetes.io/zone}]}}"
  ).replace("labels: {app: solo-2}", "labels: {app: solo}"),
  pendingPod("fits", "limited")
].join("\n")

describe("explain pod", () => {
  it.live(
    "names the taint, the limit and the topology constraint that rule each pending pod out, and where one would go",
    () =>
      withLiveCluster(pendingCluster, ({ run, writes }) =>
        Effect.gen(function* () {
          const explain = (pod: string) =>
            Effect.map(run(["explain", "pod", pod, "-o", "json"]), (text) => JSON.parse(text))
          const reasonFor = (explanation: { reasons: Array<string> }, pool: string) =>
            explanation.reasons.find((reason) => reason.includes(`nodepool "${pool}"`))
          const tainted = yield* explain("default/needs-toleration")
          assert.strictEqual(tainted.verdict, "unschedulable")
          assert.strictEqual(
            reasonFor(tainted, "tainted"),
            'incompatible with nodepool "tainted": did not tolerate taint dedicated=gpu:NoSchedule'
          )
          const limited = yield* explain("default/too-big")
          assert.strictEqual(reasonFor(limited, "limited"), 'nodepool "limited" is at its limits (cpu 2)')
          const topology = yield* explain("default/solo-2")
          assert.strictEqual(
            reasonFor(topology, "zonal"),
            'incompatible with nodepool "zonal": pod anti-affinity on topology.kubernetes.io/zone cannot be met'
          )
          // Every NodePool is accounted for, each with its own reason.
          assert.strictEqual(topology.reasons.length, 3)
          const fits = yield* explain("default/fits")
          assert.deepStrictEqual(
            [fits.verdict, fits.nodePool, fits.launch.instanceType],
            ["new-nodeclaim", "limited", "c-2x-amd64-linux"]
          )
          const text = yield* run(["explain", "pod", "default/solo-2"])
          assert.include(text, "pod default/solo-2 cannot be scheduled:\n  - incompatible with nodepool")
          const missing = yield* Effect.flip(run(["explain", "pod", "default/nope"]))
          assert.strictEqual((missing as { message: string }).message, "pod default/nope not found")
          assert.strictEqual(writes(), 0)
        })
      ),
    30_000
  )
})
