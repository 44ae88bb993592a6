import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Storage from "../../../../src/api/Storage.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"
import * as VolumeUsage from "../../../../src/scheduling/VolumeUsage.ts"
import { existingNode, input, nodePool, pod } from "./fixtures.ts"

const valuesOf = (claim: Scheduler.NewNodeClaim, key: string) =>
  Requirement.values(Requirements.get(claim.requirements, key))
const podNames = (claim: { readonly pods: ReadonlyArray<{ readonly metadata: { readonly name?: string } }> }) =>
  claim.pods.map((p) => p.metadata.name).sort()

describe("Scheduler", () => {
  it.effect("packs pending pods onto one NodeClaim with the cheapest instance types first", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: [pod("a"), pod("b"), pod("c")] })
      )
      assert.strictEqual(results.newNodeClaims.length, 1)
      const [claim] = results.newNodeClaims
      assert.deepStrictEqual(podNames(claim!), ["a", "b", "c"])
      assert.strictEqual(claim!.nodePool.metadata.name, "default")
      assert.isAtMost(claim!.instanceTypes.length, 60)
      // 3 cpu + 3Gi do not fit a 2-cpu type's allocatable; the cheapest that fits is 4 cpu.
      assert.strictEqual(claim!.instanceTypes[0]!.name, "c-4x-amd64-linux")
      assert.deepStrictEqual(valuesOf(claim!, Labels.InstanceType), claim!.instanceTypes.map((it) => it.name).sort())
      assert.isFalse(claim!.requirements.has(Labels.Hostname))
      assert.deepStrictEqual(valuesOf(claim!, Labels.NodePool), ["default"])
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("places pods on existing capacity before launching", () =>
    Effect.gen(function* () {
      const node = existingNode("node-a", {
        labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
        cpu: "4",
        memory: "8Gi"
      })
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [pod("a", { cpu: "3" }), pod("b", { cpu: "3" })],
          existingNodes: [node]
        })
      )
      assert.deepStrictEqual(
        results.existingNodes.map((n) => [n.name, podNames(n)]),
        [["node-a", ["a"]]]
      )
      assert.strictEqual(results.newNodeClaims.length, 1)
      assert.deepStrictEqual(podNames(results.newNodeClaims[0]!), ["b"])
    })
  )

  it.effect(
    "existing nodes take what fits their room exactly; an overcommitted node takes nothing, not even a pod without requests",
    () =>
      Effect.gen(function* () {
        const labels = { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" }
        const node = (name: string, requested: Record<string, string>) => ({
          ...existingNode(name, { labels, cpu: "4", memory: "8Gi" }),
          requested: Resources.fromResourceList(requested)
        })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("big", { cpu: "3" }),
              pod("exact", { cpu: "1", memory: "1Gi" }),
              { ...pod("bare"), spec: { containers: [{ name: "c" }] } } as never
            ],
            existingNodes: [
              node("a-overcommitted", { cpu: "5", memory: "1Gi" }),
              node("b-three-left", { cpu: "1", memory: "6Gi" }),
              node("c-one-left", { cpu: "3", memory: "7Gi" })
            ]
          })
        )
        assert.deepStrictEqual(
          results.existingNodes.map((n) => [n.name, podNames(n)]),
          [
            ["b-three-left", ["bare", "big"]],
            ["c-one-left", ["exact"]]
          ]
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
      })
  )

  it.effect("keeps the pods being moved off protected destinations; other pods still land there", () =>
    Effect.gen(function* () {
      const recent = existingNode("recent", {
        labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
        cpu: "4",
        memory: "8Gi"
      })
      const results = yield* Scheduler.solve({
        ...input({
          nodePools: [nodePool("default")],
          pods: [pod("pending", { cpu: "1" }), pod("moving", { cpu: "1" })],
          existingNodes: [recent]
        }),
        protectedDestinations: { nodes: new Set(["recent"]), movingPods: new Set(["default/moving"]) }
      })
      assert.deepStrictEqual(
        results.existingNodes.map((n) => [n.name, podNames(n)]),
        [["recent", ["pending"]]]
      )
      assert.deepStrictEqual(results.newNodeClaims.map(podNames), [["moving"]])
    })
  )

  it.effect("explains a pod no NodePool can take", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve(
        input({
          nodePools: [
            nodePool("default"),
            nodePool("tainted", { taints: [{ key: "team", value: "a", effect: "NoSchedule" }] })
          ],
          pods: [pod("huge", { cpu: "1000" }), pod("arm", { spec: { nodeSelector: { [Labels.Arch]: "s390x" } } })]
        })
      )
      assert.strictEqual(results.newNodeClaims.length, 0)
      const huge = results.errors.get("default/huge") ?? ""
      assert.include(huge, `incompatible with nodepool "default": `)
      assert.include(huge, "cpu 1k")
      assert.include(huge, `incompatible with nodepool "tainted": did not tolerate taint team=a:NoSchedule`)
      assert.include(results.errors.get("default/arm") ?? "", "kubernetes.io/arch")
      assert.notInclude(huge, "\n")
    })
  )

  it.effect("tries NodePools by weight", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("light", { weight: 1 }), nodePool("heavy", { weight: 50 })],
          pods: [pod("a")]
        })
      )
      assert.strictEqual(results.newNodeClaims[0]!.nodePool.metadata.name, "heavy")
    })
  )

  it.effect("respects NodePool limits, counting existing capacity and the largest candidate", () =>
    Effect.gen(function* () {
      const node = existingNode("node-a", {
        labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
        cpu: "4",
        memory: "8Gi"
      })
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default", { limits: { cpu: "12" } })],
          pods: [pod("a", { cpu: "5" }), pod("b", { cpu: "5" })],
          existingNodes: [node]
        })
      )
      // 12 − 4 existing = 8 cpu left: only types with ≤ 8 cpu qualify, and after one such NodeClaim none is left.
      assert.strictEqual(results.newNodeClaims.length, 1)
      assert.isTrue(results.newNodeClaims[0]!.instanceTypes.every((it) => (it.capacity.cpu ?? 0) <= 8000))
      assert.include([...results.errors.values()].join(" "), `nodepool "default" is at its limits (cpu 12)`)
    })
  )

  it.effect("reserves room for DaemonSets on new nodes", () =>
    Effect.gen(function* () {
      const daemon = pod("ds", { cpu: "1", ownerKind: "DaemonSet" })
      const withDaemon = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: [pod("a", { cpu: "1500m" })], daemonSetPods: [daemon] })
      )
      // 1.5 cpu + 1 cpu of daemon do not fit a 2-cpu type (1.9 allocatable).
      assert.strictEqual(withDaemon.newNodeClaims[0]!.instanceTypes[0]!.name, "c-4x-amd64-linux")
      assert.strictEqual(withDaemon.newNodeClaims[0]!.requests.cpu, 2500)
    })
  )

  it.effect("a pod whose host port a DaemonSet holds makes no NodeClaim (the v1.4.0 duplicate fix)", () =>
    Effect.gen(function* () {
      const daemon = pod("ds", { cpu: "100m", hostPort: 9100, ownerKind: "DaemonSet" })
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [pod("exporter", { hostPort: 9100 }), pod("other")],
          daemonSetPods: [daemon]
        })
      )
      assert.strictEqual(results.newNodeClaims.length, 1)
      assert.deepStrictEqual(podNames(results.newNodeClaims[0]!), ["other"])
      assert.include(results.errors.get("default/exporter") ?? "", "9100")
    })
  )

  it.effect("spreads across zones with maxSkew 1", () =>
    Effect.gen(function* () {
      const spread = {
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: Labels.Zone,
            whenUnsatisfiable: "DoNotSchedule",
            labelSelector: { matchLabels: { app: "web" } }
          }
        ]
      }
      const pods = Array.from({ length: 8 }, (_, i) => pod(`web-${i}`, { labels: { app: "web" }, spec: spread }))
      const results = yield* Scheduler.solve(input({ nodePools: [nodePool("default")], pods }))
      const perZone = new Map<string, number>()
      for (const claim of results.newNodeClaims) {
        const zones = valuesOf(claim, Labels.Zone)
        assert.strictEqual(zones.length, 1)
        perZone.set(zones[0]!, (perZone.get(zones[0]!) ?? 0) + claim.pods.length)
      }
      assert.deepStrictEqual([...perZone.values()], [2, 2, 2, 2])
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("hostname anti-affinity gives every pod its own NodeClaim", () =>
    Effect.gen(function* () {
      const anti = {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: Labels.Hostname, labelSelector: { matchLabels: { app: "db" } } }
            ]
          }
        }
      }
      const pods = Array.from({ length: 5 }, (_, i) => pod(`db-${i}`, { labels: { app: "db" }, spec: anti }))
      const results = yield* Scheduler.solve(input({ nodePools: [nodePool("default")], pods: [...pods, pod("plain")] }))
      assert.strictEqual(results.newNodeClaims.length, 5)
      for (const claim of results.newNodeClaims) {
        assert.isAtMost(claim.pods.filter((p) => p.metadata.labels?.app === "db").length, 1)
      }
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("zonal pod affinity keeps pods in one zone", () =>
    Effect.gen(function* () {
      const affinity = {
        affinity: {
          podAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: Labels.Zone, labelSelector: { matchLabels: { app: "cache" } } }
            ]
          },
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: Labels.Hostname, labelSelector: { matchLabels: { app: "cache" } } }
            ]
          }
        }
      }
      const pods = Array.from({ length: 4 }, (_, i) => pod(`cache-${i}`, { labels: { app: "cache" }, spec: affinity }))
      const results = yield* Scheduler.solve(input({ nodePools: [nodePool("default")], pods }))
      assert.strictEqual(results.newNodeClaims.length, 4)
      const zones = new Set(results.newNodeClaims.flatMap((claim) => valuesOf(claim, Labels.Zone)))
      assert.strictEqual(zones.size, 1)
    })
  )

  it.effect("relaxes an unsatisfiable preferred node affinity", () =>
    Effect.gen(function* () {
      const preferred = {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 10,
                preference: { matchExpressions: [{ key: Labels.Zone, operator: "In", values: ["nowhere"] }] }
              }
            ]
          }
        }
      }
      const results = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: [pod("a", { spec: preferred })] })
      )
      assert.strictEqual(results.newNodeClaims.length, 1)
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("stops at the simulation timeout and keeps what it placed", () =>
    Effect.gen(function* () {
      const pods = Array.from({ length: 400 }, (_, i) =>
        pod(`p-${String(i).padStart(3, "0")}`, { cpu: "100m", memory: "100Mi" })
      )
      const fiber = yield* Effect.forkChild(Scheduler.solve(input({ nodePools: [nodePool("default")], pods })))
      yield* Effect.yieldNow
      yield* TestClock.adjust("61 seconds")
      const results = yield* Fiber.join(fiber)
      assert.isTrue(results.timedOut)
      const placed = results.newNodeClaims.reduce((sum, claim) => sum + claim.pods.length, 0)
      assert.isAbove(placed, 0)
      assert.isBelow(placed, 400)
      assert.strictEqual(placed + results.errors.size, 400)
      for (const reason of results.errors.values()) assert.include(reason, "timed out after 1m")
    })
  )
})

describe("Scheduler on existing nodes", () => {
  it.effect("honours CSI volume limits on existing nodes", () =>
    Effect.gen(function* () {
      const node = {
        ...existingNode("node-a", {
          labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
          cpu: "8",
          memory: "16Gi"
        }),
        volumeUsage: new VolumeUsage.VolumeUsage(new Map([["ebs.csi.aws.com", 1]]))
      }
      const claim = (name: string) =>
        Schema.decodeUnknownSync(Storage.PersistentVolumeClaim)({
          metadata: { name, namespace: "default" },
          spec: { storageClassName: "gp3" }
        })
      const volumes = {
        pvcs: new Map([
          ["default/a", claim("a")],
          ["default/b", claim("b")]
        ]),
        pvs: new Map(),
        storageClasses: new Map([
          [
            "gp3",
            Schema.decodeUnknownSync(Storage.StorageClass)({
              metadata: { name: "gp3" },
              provisioner: "ebs.csi.aws.com"
            })
          ]
        ])
      }
      const withClaim = (name: string, claimName: string) =>
        pod(name, { cpu: "100m", spec: { volumes: [{ name: "data", persistentVolumeClaim: { claimName } }] } })
      const results = yield* Scheduler.solve({
        ...input({
          nodePools: [nodePool("default")],
          pods: [withClaim("p1", "a"), withClaim("p2", "b")],
          existingNodes: [node]
        }),
        volumes
      })
      assert.strictEqual(results.existingNodes[0]?.pods.length, 1)
      assert.strictEqual(results.newNodeClaims.length, 1)
    })
  )

  it.effect("never gives back room for daemons running beyond the DaemonSets it knows", () =>
    Effect.gen(function* () {
      // 3 cpu, 2 cpu used by daemon pods, of which the known DaemonSet accounts for 1: 1 cpu is free, not 2.
      const node = {
        ...existingNode("node-a", {
          labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
          cpu: "3",
          memory: "8Gi"
        }),
        requested: { cpu: 2000, memory: 0 },
        daemonSetRequested: { cpu: 2000, memory: 0 }
      }
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [pod("a", { cpu: "2", memory: "1Gi" })],
          existingNodes: [node],
          daemonSetPods: [pod("ds", { cpu: "1", memory: "0", ownerKind: "DaemonSet" })]
        })
      )
      assert.deepStrictEqual(results.existingNodes, [])
      assert.strictEqual(results.newNodeClaims.length, 1)
    })
  )

  it.effect("sizes a node's missing daemons by the daemon pods of each pass, not of an earlier one", () =>
    Effect.gen(function* () {
      // The same node input object in both passes, as disruption's simulations share it: 4 cpu, none used.
      const node = existingNode("node-a", {
        labels: { [Labels.NodePool]: "default", "kubernetes.io/os": "linux" },
        cpu: "4",
        memory: "8Gi"
      })
      const solveWithDaemon = (cpu: string) =>
        Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [pod("a", { cpu: "2", memory: "1Gi" })],
            existingNodes: [node],
            daemonSetPods: [pod("ds", { cpu, memory: "0", ownerKind: "DaemonSet" })]
          })
        )
      assert.strictEqual((yield* solveWithDaemon("1")).existingNodes[0]?.pods.length, 1)
      // The DaemonSet grew to 3 cpu: its missing pod leaves 1 cpu, too little for the pod.
      const resized = yield* solveWithDaemon("3")
      assert.deepStrictEqual(resized.existingNodes, [])
      assert.strictEqual(resized.newNodeClaims.length, 1)
    })
  )
})
