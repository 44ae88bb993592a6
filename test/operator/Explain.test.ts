import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
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
          const missing = yield* failureOf(run, ["explain", "pod", "default/nope"])
          assert.strictEqual(missing, "pod default/nope not found")
          assert.strictEqual(writes(), 0)
        })
      ),
    30_000
  )
})

/** The labels of a managed node (its NodeClaim's and its Node's) of `pool` and instance type `c-<cpu>x-amd64-linux`. */
const nodeLabels = (name: string, pool: string, cpu: number) =>
  `{karpenter.sh/nodepool: ${pool}, karpenter.sh/registered: "true", karpenter.sh/initialized: "true", node.kubernetes.io/instance-type: c-${cpu}x-amd64-linux, topology.kubernetes.io/zone: test-zone-a, karpenter.sh/capacity-type: on-demand, kubernetes.io/hostname: ${name}, kubernetes.io/arch: amd64, kubernetes.io/os: linux, karpenter.kwok.sh/kwoknodeclass: default}`

/**
 * A managed node of `pool` (NodeClaim launched, initialized and consolidatable, Node ready) of `cpu` CPUs running
 * `pods` (500m each, `app-N` owned by the ReplicaSet `app-rs`).
 */
const managedNode = (name: string, pool: string, pods: string, annotations = "{}", cpu = 8) => `
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata: {name: ${name}, labels: ${nodeLabels(name, pool, cpu)}}
spec:
  ${kwokRef}
  requirements: [{key: karpenter.sh/nodepool, operator: In, values: [${pool}]}]
status:
  providerID: kwok://${name}
  nodeName: ${name}
  capacity: {cpu: "${cpu}", memory: ${cpu * 4}Gi, pods: "110"}
  allocatable: {cpu: "${cpu}", memory: ${cpu * 4}Gi, pods: "110"}
  conditions:
${["Launched", "Registered", "Initialized", "Consolidatable"].map((type) => `    - {type: ${type}, status: "True", reason: ${type}, message: "", lastTransitionTime: "2026-01-01T00:00:00Z"}`).join("\n")}
---
apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations: ${annotations}
  labels: ${nodeLabels(name, pool, cpu)}
spec: {providerID: kwok://${name}}
status:
  capacity: {cpu: "${cpu}", memory: ${cpu * 4}Gi, pods: "110"}
  allocatable: {cpu: "${cpu}", memory: ${cpu * 4}Gi, pods: "110"}
  conditions: [{type: Ready, status: "True"}]
---
${pods
  .split(" ")
  .filter((pod) => pod !== "")
  .map(
    (pod) => `
apiVersion: v1
kind: Pod
metadata:
  name: ${pod}
  namespace: default
  labels: {app: ${pod.replace(/-\d+$/, "")}}
  ${pod.startsWith("pinned") ? "annotations: {karpenter.sh/do-not-disrupt: 'true'}" : ""}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: ${pod.replace(/-\d+$/, "")}-rs, uid: rs-uid, controller: true}]
spec:
  nodeName: ${name}
  containers: [{name: app, image: app, resources: {requests: {cpu: 500m, memory: 512Mi}}}]
status: {phase: Running}
---`
  )
  .join("\n")}`

const disruptionCluster = [
  nodePool("default"),
  nodePool("windowed", {
    pool: 'disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 0s, budgets: [{nodes: "0", schedule: "0 9 * * *", duration: 8h}]}'
  }),
  managedNode("guarded", "default", "db-1"),
  managedNode("pinned", "default", "pinned-1"),
  managedNode("annotated", "default", "web-1", "{karpenter.sh/do-not-disrupt: 'true'}"),
  managedNode("in-window", "windowed", "web-2"),
  managedNode("spare", "default", "web-3"),
  `
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db, namespace: default}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: db}}}
status: {disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1}
---`
].join("\n")

describe("explain node", () => {
  it.effect(
    "says what protects a node (PDB, do-not-disrupt, budget window) and when it opens, and prices the consolidation",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* withLiveCluster(disruptionCluster, ({ run, writes }) =>
          Effect.gen(function* () {
            const explain = (node: string) =>
              Effect.map(run(["explain", "node", node, "-o", "json"]), (text) => JSON.parse(text))
            const guarded = yield* explain("guarded")
            assert.deepStrictEqual(
              [guarded.candidate, guarded.blocked],
              [false, ["pdb default/db prevents pod evictions"]]
            )
            assert.deepStrictEqual(guarded.pods, [
              {
                pod: "default/db-1",
                note: "pdb default/db allows no eviction now (disruptionsAllowed 0): blocks until it allows one"
              }
            ])
            const pinned = yield* explain("pinned")
            assert.deepStrictEqual(pinned.blocked, ["pod default/pinned-1 has karpenter.sh/do-not-disrupt"])
            const annotated = yield* explain("annotated")
            assert.deepStrictEqual(annotated.blocked, ["node has karpenter.sh/do-not-disrupt"])
            const windowed = yield* explain("in-window")
            assert.strictEqual(windowed.consolidation.decision, "delete")
            assert.deepStrictEqual(windowed.blocked, [
              'Underutilized disruptions blocked by budget: budget "0" allows 0 until 17:00 UTC'
            ])
            const spare = yield* explain("spare")
            assert.deepStrictEqual([spare.candidate, spare.blocked, spare.consolidation.decision], [true, [], "delete"])
            assert.isAbove(spare.consolidation.price, 0)
            const text = yield* run(["explain", "node", "in-window"])
            assert.include(
              text,
              'blocked: Underutilized disruptions blocked by budget: budget "0" allows 0 until 17:00 UTC'
            )
            assert.strictEqual(writes(), 0)
          })
        )
      }),
    30_000
  )
})

/**
 * A Deployment `web` (3 replicas, 500m each) on the 8-CPU node `big` with a DaemonSet pod, and the 2-CPU node `small`
 * with 1 CPU left.
 */
const whatIfCluster = [
  nodePool("default"),
  managedNode("big", "default", "web-1 web-2 web-3"),
  managedNode("small", "default", "api-1 api-2", "{}", 2),
  `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: app, resources: {requests: {cpu: 500m, memory: 512Mi}}}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-rs
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: web-uid, controller: true}]
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: app, resources: {requests: {cpu: 500m, memory: 512Mi}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: logs-big
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: logs, uid: logs-uid, controller: true}]
spec:
  nodeName: big
  containers: [{name: logs, image: logs, resources: {requests: {cpu: 100m, memory: 100Mi}}}]
status: {phase: Running}
---`
].join("\n")

/** Runs `explain what-if` with the change flags and `-o json` against the what-if cluster's live copy. */
/** The message of the error `run` fails with for `args`. */
const failureOf = (run: (args: ReadonlyArray<string>) => Effect.Effect<string, unknown>, args: ReadonlyArray<string>) =>
  Effect.map(Effect.flip(run(args)), (error) => (error as { message: string }).message)

const whatIf = (run: (args: ReadonlyArray<string>) => Effect.Effect<string, unknown>, ...change: Array<string>) =>
  Effect.map(run(["explain", "what-if", ...change, "-o", "json"]), (text) => JSON.parse(text))

const movesOf = (result: { provisioning: { existingNodes: Array<{ name: string; pods: Array<string> }> } }) =>
  result.provisioning.existingNodes.flatMap((node) => node.pods.map((pod) => `${pod} -> ${node.name}`))

describe("explain what-if", () => {
  it.effect(
    "--delete-node: the node's pods become pending (DaemonSet pods dropped), move to existing nodes or launch",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* withLiveCluster(whatIfCluster, ({ run, writes }) =>
          Effect.gen(function* () {
            const result = yield* whatIf(run, "--delete-node", "big")
            assert.strictEqual(result.change, "delete node big")
            assert.deepStrictEqual(result.pods, [
              { pod: "default/logs-big", effect: "goes with the node (owned by a DaemonSet)" },
              { pod: "default/web-1", effect: "evicted: pending until it is scheduled again" },
              { pod: "default/web-2", effect: "evicted: pending until it is scheduled again" },
              { pod: "default/web-3", effect: "evicted: pending until it is scheduled again" }
            ])
            // small has 1 CPU left: two web pods move there, the third needs a new node (the cheapest that fits).
            assert.deepStrictEqual(movesOf(result), ["default/web-1 -> small", "default/web-2 -> small"])
            assert.deepStrictEqual(
              result.provisioning.nodeClaims.map((claim: { pods: Array<string>; launch: object }) => [
                claim.pods,
                claim.launch
              ]),
              [
                [
                  ["default/web-3"],
                  { instanceType: "c-1x-amd64-linux", zone: "test-zone-a", capacityType: "spot", price: 0.0190032386 }
                ]
              ]
            )
            assert.deepStrictEqual(result.provisioning.unschedulable, [])
            const text = yield* run(["explain", "what-if", "--delete-node", "big"])
            assert.include(
              text,
              [
                "provisioning:",
                "  launch c-1x-amd64-linux (nodepool default, test-zone-a, spot, $0.0190032386/hour) for default/web-3",
                "  move default/web-1 → small",
                "  move default/web-2 → small"
              ].join("\n")
            )
            const missing = yield* failureOf(run, ["explain", "what-if", "--delete-node", "nope"])
            assert.strictEqual(missing, "node nope not found")
            assert.strictEqual(writes(), 0)
          })
        )
      }),
    30_000
  )

  it.effect(
    "--scale: extra replicas from the template go pending and launch; fewer replicas let consolidation act",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        yield* withLiveCluster(whatIfCluster, ({ run, writes }) =>
          Effect.gen(function* () {
            const up = yield* whatIf(run, "--scale", "deployment/default/web=20")
            assert.strictEqual(up.change, "scale deployment default/web from 3 to 20 replicas")
            assert.strictEqual(up.pods.length, 17)
            assert.deepStrictEqual(up.pods[0], {
              pod: "default/web-rs-whatif-1",
              effect: "created (scale up): pending"
            })
            // 6.4 CPUs left on big take 12 new pods, small's 1 CPU two, and the last three launch a node.
            const moves = movesOf(up)
            assert.deepStrictEqual(
              [
                moves.filter((move) => move.endsWith("-> big")).length,
                moves.filter((move) => move.endsWith("-> small")).length
              ],
              [12, 2]
            )
            assert.deepStrictEqual(
              up.provisioning.nodeClaims.map((claim: { pods: Array<string>; launch: object }) => [
                claim.pods.length,
                claim.launch
              ]),
              [
                [
                  3,
                  { instanceType: "c-2x-amd64-linux", zone: "test-zone-a", capacityType: "spot", price: 0.0380064771 }
                ]
              ]
            )
            assert.isUndefined(up.disruption)
            const down = yield* whatIf(run, "--scale", "deployment/default/web=1")
            assert.deepStrictEqual(down.pods, [
              { pod: "default/web-3", effect: "deleted (scale down)" },
              { pod: "default/web-2", effect: "deleted (scale down)" }
            ])
            // web-1 fits on small: single-node consolidation deletes big (the 10% budget allows one node at a time).
            assert.deepStrictEqual(down.disruption, {
              command: {
                method: "single",
                reason: "Underutilized",
                nodes: [{ name: "big", price: 0.2171798692 }],
                replacements: []
              },
              notes: []
            })
            const text = yield* run(["explain", "what-if", "--scale", "deployment/default/web=1"])
            assert.include(text, "disruption:\n  single (Underutilized): remove big ($0.2171798692/hour)")
            const bad = yield* failureOf(run, ["explain", "what-if", "--scale", "web=2"])
            assert.include(bad, "expected deployment/NAMESPACE/NAME=REPLICAS")
            const missing = yield* failureOf(run, ["explain", "what-if", "--scale", "deployment/default/api=2"])
            assert.strictEqual(missing, "deployment default/api not found")
            assert.strictEqual(writes(), 0)
          })
        )
      }),
    30_000
  )

  it.effect(
    "--apply: a NodePool that no longer allows a node's instance type drifts it, and drift replaces it",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse("2026-01-01T10:00:00Z"))
        const file = join(mkdtempSync(join(tmpdir(), "whatif-test-")), "nodepool.yaml")
        writeFileSync(
          file,
          nodePool("default", {
            spec: ", {key: node.kubernetes.io/instance-type, operator: In, values: [c-2x-amd64-linux]}"
          })
        )
        yield* withLiveCluster(whatIfCluster, ({ run, writes }) =>
          Effect.gen(function* () {
            const result = yield* whatIf(run, "--apply", file)
            assert.strictEqual(result.change, "apply nodepool default")
            assert.deepStrictEqual(result.drifted, [{ nodeClaim: "big", node: "big", reason: "RequirementsDrifted" }])
            assert.deepStrictEqual(result.provisioning.nodeClaims, [])
            // Drift replaces big: two of its pods fit on small, the third needs a c-2x, the only type still allowed.
            assert.deepStrictEqual(result.disruption.command, {
              method: "drift",
              reason: "Drifted",
              nodes: [{ name: "big", price: 0.2171798692 }],
              replacements: [
                { instanceType: "c-2x-amd64-linux", zone: "test-zone-a", capacityType: "spot", price: 0.0380064771 }
              ]
            })
            const text = yield* run(["explain", "what-if", "--apply", file])
            assert.include(text, "nodeclaim big (node big) drifted: RequirementsDrifted")
            assert.include(text, "drift (Drifted): remove big ($0.2171798692/hour)")
            const none = yield* failureOf(run, ["explain", "what-if"])
            assert.include(none, "what-if needs one change")
            assert.strictEqual(writes(), 0)
          })
        )
      }),
    30_000
  )
})
