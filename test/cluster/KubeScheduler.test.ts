import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Pod from "../../src/api/Pod.ts"
import * as Scheduler from "../../src/cluster/KubeScheduler.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { boundPod, listPods, node, pod, podCondition, podSpec, readyNode, settle, withKube } from "./support.ts"

const place = (
  nodes: ReadonlyArray<ReturnType<typeof readyNode>>,
  bound: ReadonlyArray<Pod.Pod>,
  incoming: Pod.Pod,
  scoring?: Scheduler.Scoring
) => Scheduler.Snapshot.make(nodes, bound).place(incoming, scoring)

const fitsOn = (placement: Scheduler.Placement): string =>
  placement._tag === "Fit" ? placement.node : `NoFit: ${placement.message}`

describe("Scheduler.labelsMatchTerm", () => {
  const labels = { zone: "a", size: "8", gpu: "true" }
  it("ANDs expressions with kube's label semantics", () => {
    const term = (operator: string, key: string, values?: Array<string>) => ({
      matchExpressions: [{ key, operator, ...(values === undefined ? {} : { values }) }]
    })
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("In", "zone", ["a", "b"])))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, term("In", "zone", ["b"])))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, term("In", "missing", ["a"])))
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("NotIn", "zone", ["b"])))
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("NotIn", "missing", ["b"])))
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("Exists", "gpu")))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, term("DoesNotExist", "gpu")))
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("DoesNotExist", "missing")))
    assert.isTrue(Scheduler.labelsMatchTerm(labels, term("Gt", "size", ["4"])))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, term("Lt", "size", ["4"])))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, term("Gt", "zone", ["4"])))
    assert.isFalse(
      Scheduler.labelsMatchTerm(labels, {
        matchExpressions: [
          { key: "zone", operator: "In", values: ["a"] },
          { key: "gpu", operator: "In", values: ["false"] }
        ]
      })
    )
  })

  it("matches metadata.name fields, and an empty or invalid term matches nothing", () => {
    const byName = { matchFields: [{ key: "metadata.name", operator: "In", values: ["n1"] }] }
    assert.isTrue(Scheduler.labelsMatchTerm(labels, byName, "n1"))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, byName, "n2"))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, {}))
    assert.isFalse(Scheduler.labelsMatchTerm(labels, { matchExpressions: [{ key: "zone", operator: "Near" }] }))
  })
})

describe("Scheduler.Snapshot", () => {
  it("honours NoSchedule/NoExecute taints and tolerations, ignores PreferNoSchedule", () => {
    const nodes = [
      readyNode("a", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
      readyNode("b", { taints: [{ key: "karpenter.sh/unregistered", effect: "NoExecute" }] }),
      readyNode("c", { taints: [{ key: "soft", effect: "PreferNoSchedule" }] })
    ]
    assert.strictEqual(fitsOn(place(nodes, [], boundPod("p"))), "c")
    assert.strictEqual(
      fitsOn(place(nodes.slice(0, 2), [], boundPod("p"))),
      "NoFit: 0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, " +
        "1 node(s) had untolerated taint {karpenter.sh/unregistered: }."
    )
    const tolerant = boundPod("p", {
      spec: podSpec("1", { tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] })
    })
    assert.strictEqual(fitsOn(place(nodes.slice(0, 2), [], tolerant)), "a")
  })

  it("skips nodes that are not Ready, cordoned or being deleted", () => {
    const notReady = readyNode("a", { ready: false })
    const cordoned = readyNode("b", { unschedulable: true })
    const deleting = { ...readyNode("c"), metadata: { name: "c", deletionTimestamp: "1970-01-01T00:00:00Z" } }
    assert.strictEqual(
      fitsOn(place([notReady, cordoned, deleting], [], boundPod("p"))),
      "NoFit: 0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, " +
        "1 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }, 1 node(s) were being deleted."
    )
  })

  it("requires the nodeSelector and any required node-affinity term", () => {
    const nodes = [
      readyNode("a", { labels: { zone: "z1", disk: "hdd" } }),
      readyNode("b", { labels: { zone: "z2", disk: "ssd" } }),
      readyNode("c", { labels: { zone: "z3", disk: "ssd" } })
    ]
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "zone", operator: "In", values: ["z9"] }] },
            { matchExpressions: [{ key: "zone", operator: "In", values: ["z1", "z3"] }] }
          ]
        }
      }
    }
    assert.strictEqual(fitsOn(place(nodes, [], boundPod("p", { spec: podSpec("1", { affinity }) }))), "a")
    const both = boundPod("p", { spec: podSpec("1", { affinity, nodeSelector: { disk: "ssd" } }) })
    assert.strictEqual(fitsOn(place(nodes, [], both)), "c")
    const none = boundPod("p", { spec: podSpec("1", { nodeSelector: { disk: "nvme" } }) })
    assert.strictEqual(
      fitsOn(place(nodes, [], none)),
      "NoFit: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )
  })

  it("fits resources against allocatable minus the requests of bound non-terminal pods, pods count included", () => {
    const nodes = [readyNode("a", { allocatable: { cpu: "2", memory: "4Gi", pods: "3" } })]
    const bound = [boundPod("x", { nodeName: "a", spec: podSpec("1500m") })]
    assert.strictEqual(
      fitsOn(place(nodes, bound, boundPod("p", { spec: podSpec("1") }))),
      "NoFit: 0/1 nodes are available: 1 Insufficient cpu."
    )
    assert.strictEqual(fitsOn(place(nodes, bound, boundPod("p", { spec: podSpec("500m") }))), "a")
    const finished = { ...bound[0]!, status: { phase: "Succeeded" } }
    assert.strictEqual(fitsOn(place(nodes, [finished], boundPod("p", { spec: podSpec("2") }))), "a")
    const full = ["x", "y", "z"].map((name) => boundPod(name, { nodeName: "a", spec: podSpec("0") }))
    assert.strictEqual(
      fitsOn(place(nodes, full, boundPod("p", { spec: podSpec("0") }))),
      "NoFit: 0/1 nodes are available: 1 Too many pods."
    )
  })

  it("reuses a node's bookings while its object and pod array stay the same, and never what a pass booked onto it", () => {
    const nodes = [readyNode("a", { allocatable: { cpu: "2", memory: "4Gi", pods: "10" } })]
    const onA = [boundPod("x", { nodeName: "a", spec: podSpec("1") })]
    const snapshot = (pods: ReadonlyArray<Pod.Pod>) => Scheduler.Snapshot.ofNodes(nodes, () => pods, [], [])
    const first = snapshot(onA)
    first.assume(boundPod("y", { spec: podSpec("1") }), "a")
    assert.strictEqual(
      fitsOn(first.place(boundPod("p", { spec: podSpec("1") }))),
      "NoFit: 0/1 nodes are available: 1 Insufficient cpu."
    )
    // The next pass over the same arrays starts from the bound pods only.
    assert.strictEqual(fitsOn(snapshot(onA).place(boundPod("p", { spec: podSpec("1") }))), "a")
    // A pod of the node changed: the index hands out a new array, booked anew.
    const changed = [...onA, boundPod("y", { nodeName: "a", spec: podSpec("1") })]
    assert.strictEqual(
      fitsOn(snapshot(changed).place(boundPod("p", { spec: podSpec("1") }))),
      "NoFit: 0/1 nodes are available: 1 Insufficient cpu."
    )
  })

  it("keeps host ports unique per node", () => {
    const withPort = (name: string, nodeName?: string) =>
      boundPod(name, {
        ...(nodeName === undefined ? {} : { nodeName }),
        spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 8080 }] }] }
      })
    const nodes = [readyNode("a"), readyNode("b")]
    assert.strictEqual(fitsOn(place(nodes, [withPort("x", "a")], withPort("p"))), "b")
    assert.strictEqual(
      fitsOn(place(nodes, [withPort("x", "a"), withPort("y", "b")], withPort("p"))),
      "NoFit: 0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    )
  })

  it("honours required pod anti-affinity both ways, and pod affinity with the first-pod exception", () => {
    const zones = [
      readyNode("a", { labels: { zone: "z1" } }),
      readyNode("b", { labels: { zone: "z1" } }),
      readyNode("c", { labels: { zone: "z2" } })
    ]
    const term = (app: string, topologyKey = "kubernetes.io/hostname") => ({
      labelSelector: { matchLabels: { app } },
      topologyKey
    })
    const anti = (name: string, nodeName?: string) =>
      boundPod(name, {
        labels: { app: "web" },
        ...(nodeName === undefined ? {} : { nodeName }),
        spec: podSpec("100m", {
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("web", "zone")] } }
        })
      })
    // One web pod per zone: z1 is taken, so only c (z2) is left.
    assert.strictEqual(fitsOn(place(zones, [anti("w1", "a")], anti("w2"))), "c")
    assert.strictEqual(
      fitsOn(place(zones, [anti("w1", "a"), anti("w2", "c")], anti("w3"))),
      "NoFit: 0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    )
    // The bound web pods repel only what their terms select (app=web).
    assert.strictEqual(fitsOn(place(zones, [anti("w1", "a")], boundPod("other"))), "b")
    // A pod without anti-affinity of its own, repelled by the term of a bound pod that selects it.
    const repelled = boundPod("db", { labels: { app: "web" } })
    assert.strictEqual(fitsOn(place(zones, [anti("w1", "a")], repelled)), "c")
    assert.strictEqual(
      fitsOn(place(zones, [anti("w1", "a"), anti("w2", "c")], repelled)),
      "NoFit: 0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
    )

    const affine = (name: string, nodeName?: string) =>
      boundPod(name, {
        labels: { app: "cache" },
        ...(nodeName === undefined ? {} : { nodeName }),
        spec: podSpec("100m", {
          affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("cache", "zone")] } }
        })
      })
    // The first pod of a self-affine group may go anywhere; the next follow it into its zone.
    assert.strictEqual(fitsOn(place(zones, [], affine("c1"))), "a")
    assert.strictEqual(fitsOn(place(zones, [affine("c1", "c")], affine("c2"))), "c")
    const follower = boundPod("f", {
      spec: podSpec("100m", {
        affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term("cache", "zone")] } }
      })
    })
    assert.strictEqual(
      fitsOn(place(zones, [], follower)),
      "NoFit: 0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    )
  })

  it("honours DoNotSchedule topology spread and ignores ScheduleAnyway", () => {
    const zones = [
      readyNode("a", { labels: { zone: "z1" } }),
      readyNode("b", { labels: { zone: "z2" } }),
      readyNode("c")
    ]
    const spread = (name: string, whenUnsatisfiable: string, nodeName?: string) =>
      boundPod(name, {
        labels: { app: "web" },
        ...(nodeName === undefined ? {} : { nodeName }),
        spec: podSpec("100m", {
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: "zone", whenUnsatisfiable, labelSelector: { matchLabels: { app: "web" } } }
          ]
        })
      })
    const bound = [spread("w1", "DoNotSchedule", "a")]
    // z1 has one already; z2 is the only place within skew, and c has no zone label.
    assert.strictEqual(fitsOn(place(zones, bound, spread("w2", "DoNotSchedule"))), "b")
    // z2's only node is full, yet z2 still counts as a domain with no web pods: z1 would be 2 ahead.
    const full = readyNode("b", { labels: { zone: "z2" }, allocatable: { cpu: "0", memory: "1Gi", pods: "10" } })
    assert.strictEqual(
      fitsOn(place([zones[0]!, full, zones[2]!], bound, spread("w2", "DoNotSchedule"))),
      "NoFit: 0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints, " +
        "1 node(s) didn't match pod topology spread constraints (missing required label)."
    )
    assert.strictEqual(fitsOn(place([zones[0]!], bound, spread("w2", "ScheduleAnyway"))), "a")
  })

  it("scores LeastAllocated (spread) by default and MostAllocated (pack) on request, ties by name", () => {
    const nodes = [readyNode("a"), readyNode("b"), readyNode("c")]
    const bound = [boundPod("x", { nodeName: "a", spec: podSpec("2") })]
    assert.strictEqual(fitsOn(place(nodes, bound, boundPod("p"))), "b")
    assert.strictEqual(fitsOn(place(nodes, bound, boundPod("p"), "MostAllocated")), "a")
    assert.strictEqual(fitsOn(place(nodes, [], boundPod("p"))), "a")
  })

  it("is deterministic: the same input gives the same placements, whatever the input order", () => {
    const nodes = Array.from({ length: 6 }, (_, i) => readyNode(`n${i}`, { labels: { zone: `z${i % 3}` } }))
    const pending = Array.from({ length: 26 }, (_, i) => boundPod(`p${String(i).padStart(2, "0")}`))
    const run = (order: ReadonlyArray<ReturnType<typeof readyNode>>) => {
      const snapshot = Scheduler.Snapshot.make(order, [])
      return pending.map((p) => {
        const placement = snapshot.place(p)
        if (placement._tag === "Fit") snapshot.assume(p, placement.node)
        return fitsOn(placement)
      })
    }
    const first = run(nodes)
    assert.deepStrictEqual(run([...nodes].reverse()), first)
    assert.strictEqual(new Set(first.slice(0, 24)).size, 6)
    assert.isTrue(first.slice(24).every((placement) => placement.startsWith("NoFit")))
  })
})

describe("Scheduler controller", () => {
  it.effect("marks a pod that fits nowhere Unschedulable once, then binds it when a fitting node appears", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("small", { ready: true, allocatable: { cpu: "1", pods: "10" } }))
        yield* kube.create(Resources.Pods, pod("big", { spec: podSpec("2") }))
        yield* Scheduler.make()
        yield* settle
        const [pending] = yield* listPods
        assert.strictEqual(pending!.spec.nodeName, undefined)
        const condition = podCondition(pending!, "PodScheduled")
        assert.deepStrictEqual(
          { status: condition?.status, reason: condition?.reason, message: condition?.message },
          {
            status: "False",
            reason: "Unschedulable",
            message: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
          }
        )
        // Unrelated changes do not rewrite an unchanged condition.
        const version = pending!.metadata.resourceVersion
        yield* kube.patch(Resources.Nodes, "small", { type: "merge", patch: { metadata: { labels: { x: "y" } } } })
        yield* settle
        assert.strictEqual((yield* listPods)[0]!.metadata.resourceVersion, version)

        yield* kube.create(Resources.Nodes, node("large", { ready: true }))
        yield* settle
        const [bound] = yield* listPods
        assert.strictEqual(bound!.spec.nodeName, "large")
        assert.strictEqual(podCondition(bound!, "PodScheduled")?.status, "True")
      })
    )
  )

  it.effect("never overbooks a node while its cache catches up, and leaves other schedulers' pods alone", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(
          Resources.Nodes,
          node("a", { ready: true, allocatable: { cpu: "3", memory: "8Gi", pods: "10" } })
        )
        yield* Scheduler.make()
        for (let i = 0; i < 5; i++) yield* kube.create(Resources.Pods, pod(`p${i}`))
        yield* kube.create(Resources.Pods, pod("custom", { spec: podSpec("1", { schedulerName: "other" }) }))
        yield* settle
        const pods = yield* listPods
        assert.deepStrictEqual(
          pods.map((p) => [p.metadata.name, p.spec.nodeName ?? podCondition(p, "PodScheduled")?.reason ?? "-"]),
          [
            ["custom", "-"],
            ["p0", "a"],
            ["p1", "a"],
            ["p2", "a"],
            ["p3", "Unschedulable"],
            ["p4", "Unschedulable"]
          ]
        )
      })
    )
  )
})
