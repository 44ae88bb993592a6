/**
 * Cases where the scheduler once differed from upstream (found by the property and suite tests); each failed before
 * its fix.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import { nodePool, pod } from "./fixtures.ts"
import { boundPod, input, matchApp, node, singleValue, spread, term } from "./support.ts"

const unzoned = () =>
  node("unzoned", { cpu: "4", memory: "8Gi", labels: { [Labels.NodePool]: "default", [Labels.OS]: "linux" } })

describe("Scheduler regressions", () => {
  it.effect("an existing node only reserves DaemonSet overhead the daemon's affinity strictly matches", () =>
    Effect.gen(function* () {
      const small = node("small", { cpu: "1", memory: "2Gi", labels: { [Labels.OS]: "linux" } })
      const zonalDaemon = pod("ds", {
        cpu: "100m",
        memory: "100Gi",
        ownerKind: "DaemonSet",
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: Labels.Zone, operator: "In", values: ["test-zone-a"] }] }
                ]
              }
            }
          }
        }
      })
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [pod("app", { cpu: "500m", memory: "1Gi" })],
          existingNodes: [small],
          daemonSetPods: [zonalDaemon]
        })
      )
      assert.deepStrictEqual(
        results.existingNodes.map((n) => n.name),
        ["small"]
      )
    })
  )

  it.effect("a spread honouring taints ignores domains only tainted nodes and pools offer", () =>
    Effect.gen(function* () {
      const taint = { key: "taintname", value: "taintvalue", effect: "NoSchedule" }
      const existing = ["foo", "bar"].map((value) =>
        node(value, { cpu: "100m", labels: { "fake-label": value, [Labels.OS]: "linux" }, taints: [taint] })
      )
      const pods = Array.from({ length: 5 }, (_, i) =>
        pod(`web-${i}`, {
          labels: { app: "web" },
          spec: { topologySpreadConstraints: [spread("fake-label", 1, "web", { nodeTaintsPolicy: "Honor" })] }
        })
      )
      const results = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default", { labels: { "fake-label": "baz" } })],
          pods,
          existingNodes: existing
        })
      )
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("a spread honouring node affinity ignores domains of nodes the pod could not use", () =>
    Effect.gen(function* () {
      const full = node("amd", {
        cpu: "1",
        labels: { [Labels.Zone]: "test-zone-c", [Labels.Arch]: "amd64", [Labels.OS]: "linux" },
        requested: { cpu: "1" }
      })
      const pods = Array.from({ length: 4 }, (_, i) =>
        pod(`arm-${i}`, {
          labels: { app: "arm" },
          spec: { nodeSelector: { [Labels.Arch]: "arm64" }, topologySpreadConstraints: [spread(Labels.Zone, 1, "arm")] }
        })
      )
      const pool = nodePool("default", {
        requirements: [{ key: Labels.Zone, operator: "In", values: ["test-zone-a", "test-zone-b"] }]
      })
      const results = yield* Scheduler.solve(input({ nodePools: [pool], pods, existingNodes: [full] }))
      assert.strictEqual(results.errors.size, 0)
      const perZone = new Map<string, number>()
      for (const claim of results.newNodeClaims) {
        const zone = singleValue(claim, Labels.Zone) ?? "?"
        perZone.set(zone, (perZone.get(zone) ?? 0) + claim.pods.length)
      }
      assert.deepStrictEqual([...perZone.values()].sort(), [2, 2])
    })
  )

  it.effect("an existing node without the topology key cannot satisfy a zonal constraint", () =>
    Effect.gen(function* () {
      const spreadPod = pod("spread", {
        labels: { app: "web" },
        spec: { topologySpreadConstraints: [spread(Labels.Zone, 1, "web")] }
      })
      const spreadResults = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: [spreadPod], existingNodes: [unzoned()] })
      )
      assert.deepStrictEqual(spreadResults.existingNodes, [])
      assert.strictEqual(spreadResults.newNodeClaims.length, 1)

      const zoneC = node("zone-c", {
        cpu: "1",
        labels: { [Labels.Zone]: "test-zone-c", [Labels.OS]: "linux" },
        requested: { cpu: "1" }
      })
      const db = boundPod("db", "zone-c", { labels: { app: "db" } })
      const follower = pod("follower", {
        spec: {
          affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, "db")] } }
        }
      })
      const affinityResults = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [follower],
          existingNodes: [unzoned(), zoneC],
          boundPods: [db]
        })
      )
      assert.deepStrictEqual(affinityResults.existingNodes, [])
      assert.strictEqual(singleValue(affinityResults.newNodeClaims[0]!, Labels.Zone), "test-zone-c")

      const guard = boundPod("guard", "zone-c", {
        spec: {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Zone, labelSelector: matchApp("web") }
              ]
            }
          }
        }
      })
      const repelled = yield* Scheduler.solve(
        input({
          nodePools: [nodePool("default")],
          pods: [pod("web", { labels: { app: "web" } })],
          existingNodes: [unzoned(), zoneC],
          boundPods: [guard]
        })
      )
      assert.deepStrictEqual(repelled.existingNodes, [])
      assert.notInclude(
        repelled.newNodeClaims.map((claim) => singleValue(claim, Labels.Zone)),
        "test-zone-c"
      )
    })
  )
})
