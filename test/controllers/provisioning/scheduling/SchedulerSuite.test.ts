/**
 * Scheduler cases modelled on upstream's scheduling suites (kubernetes-sigs/karpenter v1.4.0
 * `pkg/controllers/provisioning/scheduling/{suite,topology,instance_selection}_test.go`), against the KWOK catalogue:
 * zones test-zone-a..d, spot and on-demand everywhere, families c/s/m, 1–256 cpu, 100m/10Mi kube-reserved.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../../src/api/Labels.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"
import { nodePool, pod } from "./fixtures.ts"
import {
  boundPod,
  CpuLabel,
  catalogue,
  claimOf,
  errorOf,
  FamilyLabel,
  input,
  inZone,
  matchApp,
  names,
  node,
  nodeOf,
  priceUnder,
  requiredTerms,
  scheduled,
  singleValue,
  sortedCounts,
  spread,
  term,
  valuesOf,
  wellKnown,
  zoneCounts
} from "./support.ts"

const linux = { key: Labels.OS, operator: "In", values: ["linux"] }
const zoneA = "test-zone-a"
const zoneB = "test-zone-b"
const zoneC = "test-zone-c"
const zoneD = "test-zone-d"

/** `count` pods `<prefix>-<i>` with the same options. */
const replicas = (prefix: string, count: number, options: Parameters<typeof pod>[1]) =>
  Array.from({ length: count }, (_, i) => pod(`${prefix}-${i}`, options))

const cpuOf = (instanceType: InstanceType.InstanceType) => (instanceType.capacity.cpu ?? 0) / 1000

describe("Scheduler (upstream suite)", () => {
  describe("custom constraints", () => {
    it.effect("NodePool template labels satisfy node selectors and label the NodeClaim", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { labels: { team: "payments" } })],
            pods: [pod("selects", { spec: { nodeSelector: { team: "payments" } } }), pod("plain")]
          })
        )
        assert.strictEqual(results.errors.size, 0)
        assert.strictEqual(results.newNodeClaims.length, 1)
        const [claim] = results.newNodeClaims
        assert.deepStrictEqual(names(claim!), ["plain", "selects"])
        assert.strictEqual(claim!.labels.team, "payments")
        assert.deepStrictEqual(valuesOf(claim!, "team"), ["payments"])
      })
    )

    it.effect("a node selector conflicting with a template label is unschedulable", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { labels: { team: "payments" } })],
            pods: [pod("other-team", { spec: { nodeSelector: { team: "search" } } })]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.include(errorOf(results, "other-team") ?? "", "team")
      })
    )

    it.effect("a node selector on a label no NodePool defines is unschedulable, naming the label", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [pod("gpu", { spec: { nodeSelector: { "example.com/accelerator": "a100" } } })]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.include(errorOf(results, "gpu") ?? "", `label "example.com/accelerator" does not have known values`)
      })
    )

    it.effect("NotIn and DoesNotExist on an undefined key schedule; In and Exists do not", () =>
      Effect.gen(function* () {
        const withExpression = (name: string, operator: string, values?: Array<string>) =>
          pod(name, {
            spec: {
              affinity: requiredTerms([{ key: "test-key", operator, ...(values === undefined ? {} : { values }) }])
            }
          })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              withExpression("not-in", "NotIn", ["test-value"]),
              withExpression("does-not-exist", "DoesNotExist"),
              withExpression("in", "In", ["test-value"]),
              withExpression("exists", "Exists")
            ]
          })
        )
        assert.deepStrictEqual(scheduled(results), ["does-not-exist", "not-in"])
        assert.include(errorOf(results, "in") ?? "", `label "test-key" does not have known values`)
        assert.include(errorOf(results, "exists") ?? "", `label "test-key" does not have known values`)
      })
    )

    it.effect("well-known labels may be undefined on instance types (region)", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [pod("regional", { spec: { nodeSelector: { [Labels.Region]: "us-west-2" } } })]
          })
        )
        assert.strictEqual(results.errors.size, 0)
        const claim = claimOf(results, "regional")!
        assert.deepStrictEqual(valuesOf(claim, Labels.Region), ["us-west-2"])
        assert.isAbove(claim.instanceTypes.length, 0)
      })
    )

    it.effect("Exists does not widen an In on the same key", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("nowhere", {
                spec: {
                  affinity: requiredTerms([inZone("non-existent-zone"), { key: Labels.Zone, operator: "Exists" }])
                }
              })
            ]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.isDefined(errorOf(results, "nowhere"))
      })
    )

    it.effect("compatible pods share a NodeClaim; pods selecting different values get different ones", () =>
      Effect.gen(function* () {
        const pool = nodePool("default", {
          requirements: [linux, { key: "test-key", operator: "In", values: ["test-value", "another-value"] }]
        })
        const expression = (name: string, operator: string, value: string) =>
          pod(name, { spec: { affinity: requiredTerms([{ key: "test-key", operator, values: [value] }]) } })
        const compatible = yield* Scheduler.solve(
          input({
            nodePools: [pool],
            pods: [expression("in", "In", "test-value"), expression("not-in", "NotIn", "another-value")]
          })
        )
        assert.strictEqual(compatible.newNodeClaims.length, 1)
        assert.deepStrictEqual(valuesOf(compatible.newNodeClaims[0]!, "test-key"), ["test-value"])
        const incompatible = yield* Scheduler.solve(
          input({
            nodePools: [pool],
            pods: [expression("first", "In", "test-value"), expression("second", "In", "another-value")]
          })
        )
        assert.strictEqual(incompatible.newNodeClaims.length, 2)
        assert.deepStrictEqual(valuesOf(claimOf(incompatible, "first")!, "test-key"), ["test-value"])
        assert.deepStrictEqual(valuesOf(claimOf(incompatible, "second")!, "test-key"), ["another-value"])
      })
    )
  })

  describe("instance selection", () => {
    it.effect("Gt on the NodePool's instance-cpu keeps only larger types, cheapest first", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", { requirements: [linux, { key: CpuLabel, operator: "Gt", values: ["8"] }] })
            ],
            pods: [pod("a")]
          })
        )
        const claim = results.newNodeClaims[0]!
        assert.isTrue(claim.instanceTypes.every((it) => cpuOf(it) > 8))
        assert.strictEqual(claim.instanceTypes[0]!.name, "c-16x-amd64-linux")
      })
    )

    it.effect("Lt on the NodePool's instance-cpu keeps only smaller types that still fit", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", { requirements: [linux, { key: CpuLabel, operator: "Lt", values: ["8"] }] })
            ],
            pods: [pod("a")]
          })
        )
        const claim = results.newNodeClaims[0]!
        // 1 cpu + 1Gi does not fit a 1-cpu type (900m allocatable): 2 and 4 cpu remain.
        assert.deepStrictEqual([...new Set(claim.instanceTypes.map(cpuOf))].sort(), [2, 4])
        assert.strictEqual(claim.instanceTypes[0]!.name, "c-2x-amd64-linux")
      })
    )

    it.effect("a NodePool Gt and a pod Lt on instance-cpu intersect", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", { requirements: [linux, { key: CpuLabel, operator: "Gt", values: ["2"] }] })
            ],
            pods: [pod("a", { spec: { affinity: requiredTerms([{ key: CpuLabel, operator: "Lt", values: ["16"] }]) } })]
          })
        )
        const claim = results.newNodeClaims[0]!
        assert.deepStrictEqual([...new Set(claim.instanceTypes.map(cpuOf))].sort(), [4, 8])
      })
    )

    it.effect("minValues 3 on instance-family is met by the KWOK catalogue", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", { requirements: [linux, { key: FamilyLabel, operator: "Exists", minValues: 3 }] })
            ],
            pods: [pod("a")]
          })
        )
        assert.strictEqual(results.errors.size, 0)
        const claim = results.newNodeClaims[0]!
        const families = new Set(claim.instanceTypes.map((it) => it.requirements.get(FamilyLabel)!.values))
        assert.strictEqual(new Set([...families].flatMap((values) => [...values])).size, 3)
        assert.strictEqual(claim.requirements.get(FamilyLabel)?.minValues, 3)
      })
    )

    it.effect("minValues 4 on instance-family cannot be met", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", { requirements: [linux, { key: FamilyLabel, operator: "Exists", minValues: 4 }] })
            ],
            pods: [pod("a")]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.include(errorOf(results, "a") ?? "", "minValues requirement is not met")
      })
    )

    it.effect("minValues broken by truncation drops the NodeClaim and fails its pods", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("default", {
                requirements: [linux, { key: Labels.InstanceType, operator: "Exists", minValues: 2 }]
              })
            ],
            pods: [pod("a"), pod("b")],
            maxInstanceTypes: 1
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.include(errorOf(results, "a") ?? "", "minValues requirement is not met")
        assert.include(errorOf(results, "b") ?? "", "minValues requirement is not met")
      })
    )

    it.effect("a spot-only NodePool launches only spot offerings", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("spot", {
                requirements: [linux, { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeSpot] }]
              })
            ],
            pods: [pod("a"), pod("on-demand", { spec: { nodeSelector: { [Labels.CapacityType]: "on-demand" } } })]
          })
        )
        const claim = claimOf(results, "a")!
        assert.deepStrictEqual(valuesOf(claim, Labels.CapacityType), [Labels.CapacityTypeSpot])
        for (const instanceType of claim.instanceTypes) {
          const offerings = InstanceType.compatibleOfferings(instanceType, claim.requirements, wellKnown)
          assert.isAbove(offerings.length, 0)
          assert.isTrue(offerings.every((o) => o.capacityType === Labels.CapacityTypeSpot))
        }
        assert.include(errorOf(results, "on-demand") ?? "", Labels.CapacityType)
      })
    )

    it.effect("pods selecting different architectures land on different NodeClaims", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("amd", { spec: { nodeSelector: { [Labels.Arch]: "amd64" } } }),
              pod("arm", { spec: { nodeSelector: { [Labels.Arch]: "arm64" } } })
            ]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 2)
        assert.isTrue(claimOf(results, "amd")!.instanceTypes.every((it) => it.name.includes("-amd64-")))
        assert.isTrue(claimOf(results, "arm")!.instanceTypes.every((it) => it.name.includes("-arm64-")))
      })
    )

    it.effect("truncation to 60 instance types keeps the cheapest", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(input({ nodePools: [nodePool("default")], pods: [pod("a")] }))
        const claim = results.newNodeClaims[0]!
        const fitting = catalogue.filter(
          (it) => it.requirements.get(Labels.OS)!.values.has("linux") && Resources.fits(claim.requests, it.allocatable)
        )
        assert.isAbove(fitting.length, 60)
        assert.strictEqual(claim.instanceTypes.length, 60)
        const kept = new Set(claim.instanceTypes.map((it) => it.name))
        const keptMax = Math.max(...claim.instanceTypes.map((it) => priceUnder(it, claim.requirements)))
        const droppedMin = Math.min(
          ...fitting.filter((it) => !kept.has(it.name)).map((it) => priceUnder(it, claim.requirements))
        )
        assert.isAtMost(keptMax, droppedMin)
        assert.deepStrictEqual(valuesOf(claim, Labels.InstanceType), [...kept].sort())
      })
    )

    it.effect("init containers and native sidecars count in a pod's requests", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("init", {
                spec: {
                  initContainers: [{ name: "init", resources: { requests: { cpu: "2", memory: "1Gi" } } }]
                }
              }),
              pod("huge-init", {
                spec: { initContainers: [{ name: "init", resources: { requests: { cpu: "2", memory: "4Ti" } } }] }
              })
            ]
          })
        )
        const claim = claimOf(results, "init")!
        assert.strictEqual(claim.requests.cpu, 2000)
        // 2 cpu does not fit a 2-cpu type's 1.9 allocatable.
        assert.strictEqual(claim.instanceTypes[0]!.name, "c-4x-amd64-linux")
        assert.isDefined(errorOf(results, "huge-init"))
        const sidecar = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("sidecar", {
                spec: {
                  initContainers: [
                    { name: "proxy", restartPolicy: "Always", resources: { requests: { cpu: "1", memory: "1Gi" } } }
                  ]
                }
              })
            ]
          })
        )
        assert.strictEqual(sidecar.newNodeClaims[0]!.requests.cpu, 2000)
        assert.strictEqual(
          sidecar.newNodeClaims[0]!.requests.memory,
          Resources.fromResourceList({ memory: "2Gi" }).memory
        )
      })
    )
  })

  describe("queue order and existing capacity", () => {
    it.effect("pods of equal size are scheduled oldest first", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [node("only-room-for-one", { cpu: "1500m", labels: { [Labels.OS]: "linux" } })],
            pods: [
              pod("newer", { creationTimestamp: "2024-01-02T00:00:00Z" }),
              pod("older", { creationTimestamp: "2024-01-01T00:00:00Z" })
            ]
          })
        )
        assert.strictEqual(nodeOf(results, "older"), "only-room-for-one")
        assert.isDefined(claimOf(results, "newer"))
      })
    )

    it.effect("larger pods are scheduled first", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [node("three-cpu", { cpu: "3" })],
            pods: [pod("small", { creationTimestamp: "2020-01-01T00:00:00Z" }), pod("large", { cpu: "3" })]
          })
        )
        assert.strictEqual(nodeOf(results, "large"), "three-cpu")
        assert.isDefined(claimOf(results, "small"))
      })
    )

    it.effect("initialized existing nodes are tried before uninitialized ones", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [
              node("a-uninitialized", { cpu: "4", initialized: false }),
              node("b-initialized", { cpu: "4" })
            ],
            pods: [pod("a")]
          })
        )
        assert.strictEqual(nodeOf(results, "a"), "b-initialized")
        assert.strictEqual(results.newNodeClaims.length, 0)
        // An uninitialized (in-flight) node still takes pods before anything is launched.
        const inFlight = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [node("in-flight", { cpu: "4", initialized: false })],
            pods: [pod("a")]
          })
        )
        assert.strictEqual(nodeOf(inFlight, "a"), "in-flight")
        assert.strictEqual(inFlight.newNodeClaims.length, 0)
      })
    )

    it.effect("a pod incompatible with an existing node launches a NodeClaim", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [node("in-a", { cpu: "16", labels: { [Labels.Zone]: zoneA } })],
            pods: [pod("wants-b", { spec: { nodeSelector: { [Labels.Zone]: zoneB } } })]
          })
        )
        assert.strictEqual(results.existingNodes.length, 0)
        assert.deepStrictEqual(valuesOf(claimOf(results, "wants-b")!, Labels.Zone), [zoneB])
      })
    )

    it.effect("DaemonSet pods already running on an existing node are not reserved again", () =>
      Effect.gen(function* () {
        const daemon = pod("agent", { cpu: "1", memory: "100Mi", ownerKind: "DaemonSet" })
        const existing = node("node", {
          cpu: "2",
          memory: "4Gi",
          requested: { cpu: "1", memory: "100Mi", pods: "1" },
          daemonSetRequested: { cpu: "1", memory: "100Mi", pods: "1" }
        })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [existing],
            daemonSetPods: [daemon],
            pods: [pod("fits", { cpu: "900m", memory: "1Gi" })]
          })
        )
        assert.strictEqual(nodeOf(results, "fits"), "node")
      })
    )
  })

  describe("NodePools", () => {
    it.effect("a heavier NodePool at its limits falls back to the next NodePool", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("heavy", { weight: 10, limits: { cpu: "4" } }), nodePool("light", { weight: 1 })],
            pods: replicas("p", 3, { cpu: "3" })
          })
        )
        assert.strictEqual(results.errors.size, 0)
        const byPool = results.newNodeClaims.map((claim) => [claim.nodePool.metadata.name, claim.pods.length])
        assert.deepStrictEqual(byPool, [
          ["heavy", 1],
          ["light", 2]
        ])
        assert.isTrue(results.newNodeClaims[0]!.instanceTypes.every((it) => cpuOf(it) <= 4))
      })
    )

    it.effect("NodePools of equal weight are tried by name, descending", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({ nodePools: [nodePool("alpha"), nodePool("beta")], pods: [pod("a")] })
        )
        assert.strictEqual(results.newNodeClaims[0]!.nodePool.metadata.name, "beta")
      })
    )

    it.effect("a NodePool no instance type satisfies is skipped", () =>
      Effect.gen(function* () {
        const broken = nodePool("broken", { weight: 100, requirements: [linux, inZone("nowhere")] })
        const alone = yield* Scheduler.solve(input({ nodePools: [broken], pods: [pod("a")] }))
        assert.include(errorOf(alone, "a") ?? "", `nodepool "broken"`)
        const withFallback = yield* Scheduler.solve(
          input({ nodePools: [broken, nodePool("working")], pods: [pod("a")] })
        )
        assert.strictEqual(claimOf(withFallback, "a")?.nodePool.metadata.name, "working")
      })
    )

    it.effect("a NoSchedule taint needs a toleration", () =>
      Effect.gen(function* () {
        const tainted = nodePool("gpu", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [tainted],
            pods: [
              pod("intolerant"),
              pod("tolerant", {
                spec: { tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] }
              })
            ]
          })
        )
        assert.deepStrictEqual(scheduled(results), ["tolerant"])
        assert.include(errorOf(results, "intolerant") ?? "", "did not tolerate taint dedicated=gpu:NoSchedule")
      })
    )

    it.effect("a PreferNoSchedule taint is honoured first and tolerated through relaxation", () =>
      Effect.gen(function* () {
        const soft = nodePool("soft", { weight: 100, taints: [{ key: "spare", effect: "PreferNoSchedule" }] })
        const preferred = yield* Scheduler.solve(
          input({ nodePools: [soft, nodePool("plain", { weight: 1 })], pods: [pod("a")] })
        )
        assert.strictEqual(claimOf(preferred, "a")?.nodePool.metadata.name, "plain")
        const relaxed = yield* Scheduler.solve(input({ nodePools: [soft], pods: [pod("a")] }))
        assert.strictEqual(claimOf(relaxed, "a")?.nodePool.metadata.name, "soft")
        assert.strictEqual(relaxed.errors.size, 0)
      })
    )
  })

  describe("DaemonSets", () => {
    it.effect("a DaemonSet whose node selector excludes the NodePool adds no overhead", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("amd", { requirements: [linux, { key: Labels.Arch, operator: "In", values: ["amd64"] }] })
            ],
            daemonSetPods: [
              pod("arm-agent", { cpu: "1", ownerKind: "DaemonSet", spec: { nodeSelector: { [Labels.Arch]: "arm64" } } })
            ],
            pods: [pod("a", { cpu: "1500m" })]
          })
        )
        const claim = claimOf(results, "a")!
        assert.strictEqual(claim.requests.cpu, 1500)
        assert.strictEqual(claim.instanceTypes[0]!.name, "c-2x-amd64-linux")
      })
    )

    it.effect(
      "only DaemonSets tolerating the NodePool's taints add overhead (PreferNoSchedule is always tolerated)",
      () =>
        Effect.gen(function* () {
          const results = yield* Scheduler.solve(
            input({
              nodePools: [
                nodePool("tainted", {
                  taints: [
                    { key: "dedicated", value: "x", effect: "NoSchedule" },
                    { key: "spare", effect: "PreferNoSchedule" }
                  ]
                })
              ],
              daemonSetPods: [
                pod("intolerant", { cpu: "1", memory: "100Mi", ownerKind: "DaemonSet" }),
                pod("tolerant", {
                  cpu: "500m",
                  memory: "100Mi",
                  ownerKind: "DaemonSet",
                  spec: { tolerations: [{ key: "dedicated", operator: "Exists" }] }
                })
              ],
              pods: [pod("a", { spec: { tolerations: [{ operator: "Exists" }] } })]
            })
          )
          assert.strictEqual(claimOf(results, "a")!.requests.cpu, 1500)
        })
    )

    it.effect("a DaemonSet's host port sends a pod needing that port to a NodePool the DaemonSet skips", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [
              nodePool("monitored", { weight: 10, labels: { monitoring: "on" } }),
              nodePool("bare", { weight: 1 })
            ],
            daemonSetPods: [
              pod("exporter", {
                cpu: "100m",
                hostPort: 9100,
                ownerKind: "DaemonSet",
                spec: { nodeSelector: { monitoring: "on" } }
              })
            ],
            // The larger pod goes first and opens a NodeClaim on "monitored"; the other cannot join it.
            pods: [pod("needs-9100", { hostPort: 9100 }), pod("plain", { cpu: "2" })]
          })
        )
        assert.strictEqual(claimOf(results, "needs-9100")?.nodePool.metadata.name, "bare")
        assert.strictEqual(claimOf(results, "plain")?.nodePool.metadata.name, "monitored")
        assert.strictEqual(claimOf(results, "plain")!.requests.cpu, 2100)
      })
    )

    it.effect("pods binding the same host port never share a NodeClaim", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({ nodePools: [nodePool("default")], pods: replicas("web", 3, { hostPort: 8080 }) })
        )
        assert.strictEqual(results.newNodeClaims.length, 3)
        assert.strictEqual(results.errors.size, 0)
      })
    )
  })

  describe("preferences", () => {
    it.effect("required node-affinity OR terms are relaxed one at a time, in order", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("a", {
                spec: {
                  affinity: requiredTerms([inZone("invalid")], [inZone("invalid")], [inZone(zoneA)], [inZone(zoneB)])
                }
              })
            ]
          })
        )
        assert.deepStrictEqual(valuesOf(claimOf(results, "a")!, Labels.Zone), [zoneA])
      })
    )

    it.effect("the last required node-affinity term is never relaxed", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [pod("a", { spec: { affinity: requiredTerms([inZone("invalid")]) } })]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 0)
        assert.isDefined(errorOf(results, "a"))
      })
    )

    it.effect("preferred node affinity relaxes to lighter weights", () =>
      Effect.gen(function* () {
        const weighted = (weight: number, expression: Record<string, unknown>) => ({
          weight,
          preference: { matchExpressions: [expression] }
        })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB)] })],
            pods: [
              pod("a", {
                spec: {
                  affinity: {
                    nodeAffinity: {
                      preferredDuringSchedulingIgnoredDuringExecution: [
                        weighted(100, { key: Labels.InstanceType, operator: "In", values: ["no-such-type"] }),
                        weighted(50, inZone(zoneB)),
                        weighted(1, inZone(zoneA))
                      ]
                    }
                  }
                }
              })
            ]
          })
        )
        assert.deepStrictEqual(valuesOf(claimOf(results, "a")!, Labels.Zone), [zoneB])
      })
    )

    it.effect("preferred pod anti-affinity is relaxed when every domain is taken; required is not", () =>
      Effect.gen(function* () {
        // Four 2-cpu web pods go first (larger) and occupy every zone.
        const web = replicas("web", 4, {
          cpu: "2",
          labels: { app: "web" },
          spec: { topologySpreadConstraints: [spread(Labels.Zone, 1, "web")] }
        })
        const preferring = replicas("prefers-apart", 3, {
          spec: {
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 50, podAffinityTerm: term(Labels.Zone, "web") }
                ]
              }
            }
          }
        })
        const requiring = pod("requires-apart", {
          spec: {
            affinity: {
              podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, "web")] }
            }
          }
        })
        const results = yield* Scheduler.solve(
          input({ nodePools: [nodePool("default")], pods: [...web, ...preferring, requiring] })
        )
        assert.deepStrictEqual(sortedCounts(zoneCounts(results, "web")), [1, 1, 1, 1])
        for (const p of preferring) assert.isUndefined(errorOf(results, p.metadata.name!))
        assert.isDefined(errorOf(results, "requires-apart"))
        assert.strictEqual(results.errors.size, 1)
      })
    )

    it.effect("preferred pod affinity to a pod that does not exist is relaxed; required is not", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("prefers", {
                spec: {
                  affinity: {
                    podAffinity: {
                      preferredDuringSchedulingIgnoredDuringExecution: [
                        { weight: 50, podAffinityTerm: term(Labels.Hostname, "ghost") }
                      ]
                    }
                  }
                }
              }),
              pod("requires", {
                spec: {
                  affinity: {
                    podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, "ghost")] }
                  }
                }
              })
            ]
          })
        )
        assert.deepStrictEqual(scheduled(results), ["prefers"])
        assert.isDefined(errorOf(results, "requires"))
      })
    )

    it.effect("a ScheduleAnyway spread is relaxed where DoNotSchedule fails", () =>
      Effect.gen(function* () {
        // A tainted node in zone b makes b a zero-count domain the NodePool (zone a only) can never fill.
        const blocker = node("tainted-b", {
          cpu: "100m",
          labels: { [Labels.Zone]: zoneB },
          taints: [{ key: "blocked", value: "yes", effect: "NoSchedule" }]
        })
        const solveWith = (whenUnsatisfiable: string) =>
          Scheduler.solve(
            input({
              nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA)] })],
              existingNodes: [blocker],
              pods: replicas("web", 3, {
                labels: { app: "web" },
                spec: { topologySpreadConstraints: [spread(Labels.Zone, 1, "web", { whenUnsatisfiable })] }
              })
            })
          )
        const strict = yield* solveWith("DoNotSchedule")
        assert.strictEqual(scheduled(strict).length, 1)
        assert.strictEqual(strict.errors.size, 2)
        const lenient = yield* solveWith("ScheduleAnyway")
        assert.strictEqual(scheduled(lenient).length, 3)
        assert.deepStrictEqual(zoneCounts(lenient, "web"), { [zoneA]: 3 })
      })
    )
  })

  describe("topology spread", () => {
    const web = (count: number, constraint: Record<string, unknown>, options?: Parameters<typeof pod>[1]) =>
      replicas("web", count, {
        ...options,
        labels: { app: "web", ...options?.labels },
        spec: { topologySpreadConstraints: [constraint], ...options?.spec }
      })

    it.effect("DoNotSchedule zone spread stays within the two zones the NodePool allows", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB)] })],
            pods: web(4, spread(Labels.Zone, 1, "web"))
          })
        )
        assert.strictEqual(results.errors.size, 0)
        assert.deepStrictEqual(zoneCounts(results, "web"), { [zoneA]: 2, [zoneB]: 2 })
      })
    )

    it.effect("a bound pod in a zone the NodePool cannot reach limits the skew", () =>
      Effect.gen(function* () {
        const full = node("full-c", {
          cpu: "1",
          labels: { [Labels.Zone]: zoneC },
          requested: { cpu: "1", pods: "1" }
        })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB)] })],
            existingNodes: [full],
            boundPods: [boundPod("running", "full-c", { labels: { app: "web" } })],
            pods: web(6, spread(Labels.Zone, 1, "web"))
          })
        )
        // With one pod in zone c, zones a and b can hold two each before the skew exceeds 1.
        assert.deepStrictEqual(zoneCounts(results, "web"), { [zoneA]: 2, [zoneB]: 2 })
        assert.strictEqual(results.errors.size, 2)
      })
    )

    it.effect("minDomains above the eligible domain count keeps the global minimum at zero", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB)] })],
            pods: web(3, spread(Labels.Zone, 1, "web", { minDomains: 3 }))
          })
        )
        assert.deepStrictEqual(sortedCounts(zoneCounts(results, "web")), [1, 1])
        assert.strictEqual(results.errors.size, 1)
        const satisfied = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB, zoneC)] })],
            pods: web(11, spread(Labels.Zone, 1, "web", { minDomains: 3 }))
          })
        )
        assert.deepStrictEqual(sortedCounts(zoneCounts(satisfied, "web")), [3, 4, 4])
        assert.strictEqual(satisfied.errors.size, 0)
      })
    )

    it.effect("only active bound pods in the selector's namespace on zoned nodes are counted", () =>
      Effect.gen(function* () {
        const nodes = [
          node("first", { cpu: "0", labels: { [Labels.Zone]: zoneA } }),
          node("second", { cpu: "0", labels: { [Labels.Zone]: zoneB } }),
          node("third", { cpu: "0" })
        ]
        const labels = { app: "web" }
        const bound = [
          boundPod("unlabelled", "first"),
          boundPod("no-domain", "third", { labels }),
          boundPod("other-namespace", "first", { labels, namespace: "elsewhere" }),
          boundPod("terminating", "first", { labels, deletionTimestamp: "2024-01-01T00:00:00Z" }),
          boundPod("failed", "first", { labels, phase: "Failed" }),
          boundPod("succeeded", "first", { labels, phase: "Succeeded" }),
          boundPod("counted-1", "first", { labels }),
          boundPod("counted-2", "first", { labels }),
          boundPod("counted-3", "second", { labels })
        ]
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { requirements: [linux, inZone(zoneA, zoneB, zoneC)] })],
            existingNodes: nodes,
            boundPods: bound,
            pods: web(2, spread(Labels.Zone, 1, "web"))
          })
        )
        // Counts start at a=2, b=1, c=0. The first pending pod opens a NodeClaim in c; then the minimum is 1 and
        // the second joins that NodeClaim (in-flight NodeClaims are tried first): 2, 1, 2 overall.
        assert.deepStrictEqual(zoneCounts(results, "web"), { [zoneC]: 2 })
        assert.strictEqual(results.errors.size, 0)
      })
    )

    it.effect("a spread whose selector matches none of the pods does not separate them", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: replicas("other", 5, {
              cpu: "100m",
              spec: { topologySpreadConstraints: [spread(Labels.Hostname, 1, "web")] }
            })
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 1)
      })
    )

    it.effect("hostname spread with maxSkew 2 puts two pods per NodeClaim", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({ nodePools: [nodePool("default")], pods: web(4, spread(Labels.Hostname, 2, "web")) })
        )
        assert.deepStrictEqual(
          results.newNodeClaims.map((claim) => claim.pods.length),
          [2, 2]
        )
      })
    )

    it.effect("matchLabelKeys spreads each revision separately; unknown keys are ignored", () =>
      Effect.gen(function* () {
        const constraint = spread(Labels.Hostname, 1, "web", { matchLabelKeys: ["revision"] })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              ...replicas("rev-a", 2, {
                labels: { app: "web", revision: "a" },
                spec: { topologySpreadConstraints: [constraint] }
              }),
              ...replicas("rev-b", 2, {
                labels: { app: "web", revision: "b" },
                spec: { topologySpreadConstraints: [constraint] }
              })
            ]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 2)
        for (const claim of results.newNodeClaims) {
          assert.deepStrictEqual(claim.pods.map((p) => p.metadata.labels?.revision).sort(), ["a", "b"])
        }
        const unknown = yield* Scheduler.solve(input({ nodePools: [nodePool("default")], pods: web(4, constraint) }))
        assert.strictEqual(unknown.newNodeClaims.length, 4)
      })
    )

    const spreadLabel = "fake-label"
    const taintedNodes = [
      node("foo", {
        cpu: "100m",
        labels: { [spreadLabel]: "foo" },
        taints: [{ key: "taintname", value: "taintvalue", effect: "NoSchedule" }]
      }),
      node("bar", {
        cpu: "100m",
        labels: { [spreadLabel]: "bar" },
        taints: [{ key: "taintname", value: "taintvalue", effect: "NoSchedule" }]
      })
    ]

    it.effect("nodeTaintsPolicy Ignore counts the domains of tainted nodes", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { labels: { [spreadLabel]: "baz" } })],
            existingNodes: taintedNodes,
            pods: web(5, spread(spreadLabel, 1, "web", { nodeTaintsPolicy: "Ignore" }))
          })
        )
        assert.strictEqual(scheduled(results).length, 1)
        assert.strictEqual(results.errors.size, 4)
      })
    )

    const discoveredPools = [
      nodePool("open", { requirements: [linux, { key: spreadLabel, operator: "In", values: ["foo"] }] }),
      nodePool("closed", {
        requirements: [linux, { key: spreadLabel, operator: "In", values: ["bar"] }],
        taints: [{ key: "taint-key", value: "taint-value", effect: "NoSchedule" }]
      })
    ]

    it.effect("nodeTaintsPolicy Ignore counts domains only a tainted NodePool offers", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: discoveredPools,
            pods: web(2, spread(spreadLabel, 1, "web", { nodeTaintsPolicy: "Ignore" }))
          })
        )
        assert.strictEqual(scheduled(results).length, 1)
      })
    )

    const mismatchedNodes = [
      node("foo", { cpu: "100m", labels: { [spreadLabel]: "foo", selector: "mismatch" } }),
      node("bar", { cpu: "100m", labels: { [spreadLabel]: "bar", selector: "mismatch" } })
    ]

    it.effect("nodeAffinityPolicy Ignore counts the domains of nodes the pod cannot select", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { labels: { [spreadLabel]: "baz", selector: "value" } })],
            existingNodes: mismatchedNodes,
            pods: web(5, spread(spreadLabel, 1, "web", { nodeAffinityPolicy: "Ignore" }), {
              spec: { nodeSelector: { selector: "value" } }
            })
          })
        )
        assert.strictEqual(scheduled(results).length, 1)
      })
    )
    it.effect("one constraint object shared by pods with different node selectors counts each pod's own nodes", () =>
      Effect.gen(function* () {
        // The same object in every pod (as a workload's copies share their spec): with nodeAffinityPolicy Honor the
        // selector-bound pods count only the pool's domain and all fit; the others also count foo and bar, which
        // take no pod, so once the pool's domain holds one the rest would exceed the skew.
        const constraint = spread(spreadLabel, 1, "web")
        const selected = web(5, constraint, { spec: { nodeSelector: { selector: "value" } } }).map((p) => ({
          ...p,
          metadata: { ...p.metadata, name: `selected-${p.metadata.name}` }
        }))
        const pods = [...selected, ...web(5, constraint)]
        const shared = pods[0]!.spec.topologySpreadConstraints![0]!
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default", { labels: { [spreadLabel]: "baz", selector: "value" } })],
            existingNodes: mismatchedNodes,
            pods: pods.map((p) => ({ ...p, spec: { ...p.spec, topologySpreadConstraints: [shared] } }))
          })
        )
        const placed = scheduled(results)
        assert.deepStrictEqual(
          placed.filter((name) => name.includes("selected-")).length,
          5,
          `scheduled: ${placed.join(", ")}`
        )
        assert.isAtMost(placed.length, 6)
      })
    )
  })

  describe("pod affinity and anti-affinity", () => {
    const securityLabels = { security: "s2" }
    const antiZone = {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: Labels.Zone, labelSelector: { matchLabels: securityLabels } }
        ]
      }
    }

    it.effect("hostname anti-affinity separates pods whichever is scheduled first", () =>
      Effect.gen(function* () {
        const anti = {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Hostname, labelSelector: { matchLabels: securityLabels } }
              ]
            }
          }
        }
        for (const [first, second] of [
          ["a-target", "b-avoider"],
          ["b-target", "a-avoider"]
        ] as const) {
          const target = first.endsWith("target") ? first : second
          const avoider = first.endsWith("avoider") ? first : second
          const results = yield* Scheduler.solve(
            input({
              nodePools: [nodePool("default")],
              pods: [pod(target, { labels: securityLabels }), pod(avoider, { spec: { affinity: anti.affinity } })]
            })
          )
          assert.strictEqual(results.newNodeClaims.length, 2)
          assert.notStrictEqual(claimOf(results, target), claimOf(results, avoider))
        }
      })
    )

    it.effect("bound pods with required zone anti-affinity repel a pending pod they select", () =>
      Effect.gen(function* () {
        const solveAgainst = (occupied: ReadonlyArray<string>) => {
          const nodes = occupied.map((zone) => node(`node-${zone}`, { cpu: "0", labels: { [Labels.Zone]: zone } }))
          return Scheduler.solve(
            input({
              nodePools: [nodePool("default")],
              existingNodes: nodes,
              boundPods: nodes.map((n) => boundPod(`guard-${n.name}`, n.name, { spec: { affinity: antiZone } })),
              pods: [pod("selected", { labels: securityLabels })]
            })
          )
        }
        const everywhere = yield* solveAgainst([zoneA, zoneB, zoneC, zoneD])
        assert.strictEqual(everywhere.newNodeClaims.length, 0)
        assert.isDefined(errorOf(everywhere, "selected"))
        const oneFree = yield* solveAgainst([zoneA, zoneB, zoneC])
        assert.deepStrictEqual(valuesOf(claimOf(oneFree, "selected")!, Labels.Zone), [zoneD])
      })
    )

    it.effect("pending pods with zone anti-affinity pinned to zones repel a pod they select", () =>
      Effect.gen(function* () {
        const guards = [zoneA, zoneB, zoneC, zoneD].map((zone, i) =>
          pod(`guard-${i}`, { cpu: "2", spec: { affinity: antiZone, nodeSelector: { [Labels.Zone]: zone } } })
        )
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [...guards, pod("selected", { labels: securityLabels })]
          })
        )
        assert.strictEqual(results.newNodeClaims.length, 4)
        assert.deepStrictEqual([...results.errors.keys()], ["default/selected"])
      })
    )

    it.effect("a pod with anti-affinity and no zone yet blocks every zone for the pods it selects", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: [
              pod("anywhere", { cpu: "2", spec: { affinity: antiZone } }),
              pod("selected", { labels: securityLabels })
            ]
          })
        )
        assert.deepStrictEqual(scheduled(results), ["anywhere"])
        assert.isDefined(errorOf(results, "selected"))
      })
    )

    it.effect("pod affinity follows a bound pod into its zone", () =>
      Effect.gen(function* () {
        const dbNode = node("db-node", { cpu: "0", labels: { [Labels.Zone]: zoneC } })
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [dbNode],
            boundPods: [boundPod("db-0", "db-node", { labels: { app: "db" } })],
            pods: [
              pod("client", {
                spec: {
                  affinity: {
                    podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, "db")] }
                  }
                }
              })
            ]
          })
        )
        assert.deepStrictEqual(valuesOf(claimOf(results, "client")!, Labels.Zone), [zoneC])
      })
    )

    it.effect("self pod affinity on zone keeps every replica in one zone", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: replicas("cache", 6, {
              cpu: "3",
              labels: { app: "cache" },
              spec: {
                affinity: {
                  podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(Labels.Zone, "cache")] }
                }
              }
            })
          })
        )
        assert.strictEqual(results.errors.size, 0)
        const zonesUsed = new Set(results.newNodeClaims.map((claim) => singleValue(claim, Labels.Zone)))
        assert.strictEqual(zonesUsed.size, 1)
        assert.isFalse(zonesUsed.has(undefined))
      })
    )

    it.effect("self pod affinity on hostname keeps every replica on one NodeClaim", () =>
      Effect.gen(function* () {
        const results = yield* Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            pods: replicas("sticky", 4, {
              labels: { app: "sticky" },
              spec: {
                affinity: {
                  podAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                      { topologyKey: Labels.Hostname, labelSelector: matchApp("sticky") }
                    ]
                  }
                }
              }
            })
          })
        )
        assert.strictEqual(results.errors.size, 0)
        assert.strictEqual(results.newNodeClaims.length, 1)
        assert.strictEqual(results.newNodeClaims[0]!.pods.length, 4)
      })
    )

    describe("self affinity under zone requirements", () => {
      /** Required affinity on `key` to pods of `app`, with a required node affinity to these zones. */
      const affineIn = (app: string, zones: ReadonlyArray<string>, key: string = Labels.Zone) => ({
        affinity: {
          ...requiredTerms([inZone(...zones)]),
          podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term(key, app)] }
        }
      })
      /** A full node in `zone` running one pod of `app`, and an empty node in zone b. */
      const withRunning = (app: string, zone: string, pods: ReadonlyArray<ReturnType<typeof pod>>) =>
        Scheduler.solve(
          input({
            nodePools: [nodePool("default")],
            existingNodes: [
              node("full", { cpu: "0", labels: { [Labels.Zone]: zone } }),
              node("free-b", { cpu: "4", labels: { [Labels.Zone]: zoneB } })
            ],
            boundPods: [boundPod(`${app}-0`, "full", { labels: { app } })],
            pods
          })
        )

      it.effect("two self-affine pods whose zones differ each start their own zone", () =>
        Effect.gen(function* () {
          const results = yield* Scheduler.solve(
            input({
              nodePools: [nodePool("default")],
              pods: [
                pod("in-b", { labels: { app: "cache" }, spec: affineIn("cache", [zoneB]) }),
                pod("in-c", { labels: { app: "cache" }, spec: affineIn("cache", [zoneC]) })
              ]
            })
          )
          assert.strictEqual(results.errors.size, 0)
          assert.deepStrictEqual(valuesOf(claimOf(results, "in-b")!, Labels.Zone), [zoneB])
          assert.deepStrictEqual(valuesOf(claimOf(results, "in-c")!, Labels.Zone), [zoneC])
        })
      )

      it.effect("a selected pod only in an excluded zone: a self-selecting pod starts its zone, another cannot", () =>
        Effect.gen(function* () {
          const results = yield* withRunning("db", zoneA, [
            pod("replica", { labels: { app: "db" }, spec: affineIn("db", [zoneC]) }),
            pod("client", { labels: { app: "client" }, spec: affineIn("db", [zoneD]) })
          ])
          assert.deepStrictEqual(valuesOf(claimOf(results, "replica")!, Labels.Zone), [zoneC])
          assert.include(errorOf(results, "client"), "pod affinity")
        })
      )

      it.effect("a self-selecting pod joins a selected pod in a zone it may use, not an empty node elsewhere", () =>
        Effect.gen(function* () {
          const results = yield* withRunning("cache", zoneA, [
            pod("joiner", { labels: { app: "cache" }, spec: affineIn("cache", [zoneA, zoneB]) })
          ])
          assert.isUndefined(nodeOf(results, "joiner"))
          assert.deepStrictEqual(valuesOf(claimOf(results, "joiner")!, Labels.Zone), [zoneA])
        })
      )

      it.effect("with several zones allowed and none holding a selected pod, existing capacity starts one", () =>
        Effect.gen(function* () {
          const results = yield* withRunning("cache", zoneA, [
            pod("starter", { labels: { app: "cache" }, spec: affineIn("cache", [zoneB, zoneC]) }),
            pod("follower", { labels: { app: "cache" }, spec: affineIn("cache", [zoneB, zoneC]) })
          ])
          assert.strictEqual(nodeOf(results, "starter"), "free-b")
          assert.strictEqual(nodeOf(results, "follower"), "free-b")
        })
      )

      it.effect("hostname self affinity: a selected pod on any host blocks a new host, whatever the zones", () =>
        Effect.gen(function* () {
          // Upstream's "first empty topology domain only (hostname/constrained zones)": the pods constrain zones, not
          // hostnames, so the host already running a selected pod is one they may use and no other host may start.
          const results = yield* withRunning("sticky", zoneA, [
            pod("sticky-1", { labels: { app: "sticky" }, spec: affineIn("sticky", [zoneB, zoneC], Labels.Hostname) })
          ])
          assert.strictEqual(results.newNodeClaims.length, 0)
          assert.include(errorOf(results, "sticky-1"), "pod affinity")
        })
      )
    })
  })
})
