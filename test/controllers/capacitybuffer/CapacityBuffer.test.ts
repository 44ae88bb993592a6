import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Api from "../../../src/api/CapacityBuffer.ts"
import * as ProvisioningMetrics from "../../../src/controllers/provisioning/ProvisioningMetrics.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as D from "../disruption/support.ts"
import * as S from "../support.ts"

/** Pods of `app: web`; `onePerNode`: with a required anti-affinity to each other by hostname. */
const template = (cpu: string, onePerNode = false) => ({
  metadata: { labels: { app: "web" } },
  spec: {
    containers: [S.container(cpu)],
    ...(onePerNode
      ? {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { labelSelector: { matchLabels: { app: "web" } }, topologyKey: "kubernetes.io/hostname" }
              ]
            }
          }
        }
      : {})
  }
})

const podTemplate = (name: string, cpu: string, onePerNode = false) => ({
  apiVersion: "v1",
  kind: "PodTemplate",
  metadata: { name, namespace: "default" },
  template: template(cpu, onePerNode)
})

const deployment = (name: string, replicas: number, cpu: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: "default" },
  spec: { replicas, selector: { matchLabels: { app: "web" } }, template: template(cpu) }
})

const buffer = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: Api.apiVersion,
  kind: Api.kind,
  metadata: { name, namespace: "default" },
  spec
})

const createBuffer = (name: string, spec: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.CapacityBuffers, buffer(name, spec) as never)
  )

const getBuffer = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.get(Resources.CapacityBuffers, name, { namespace: "default" })
  )

const condition = (name: string, type: string) =>
  Effect.map(getBuffer(name), (object) => {
    const found = S.conditionOf(object.status?.conditions, type)
    return found === undefined ? undefined : { status: found.status, reason: found.reason }
  })

const createPodTemplate = (name: string, cpu: string, onePerNode = false) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.PodTemplates, podTemplate(name, cpu, onePerNode) as never)
  )

/** A NodePool that consolidates after 30 s, with these budgets, and the controllers under the gate. */
const cluster = (gate: boolean, budgets?: ReadonlyArray<D.Budget>) =>
  Effect.gen(function* () {
    yield* D.setup(D.nodePool("default", budgets === undefined ? {} : { budgets }))
    return yield* D.start({ capacityBuffer: gate })
  })

describe("CapacityBuffer: the buffer controller resolves status", S.controllerSuite, () => {
  it.effect("podTemplateRef with replicas: ReadyForProvisioning, replicas, the template and its generation", () =>
    Effect.gen(function* () {
      yield* cluster(true)
      yield* createPodTemplate("web", "1")
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 2 })
      yield* S.advance(5_000, 1_000)
      const status = (yield* getBuffer("headroom")).status
      assert.strictEqual(status?.replicas, 2)
      assert.deepStrictEqual(status?.podTemplateRef, { name: "web" })
      const kube = yield* KubeClient
      const observed = yield* kube.get(Resources.PodTemplates, "web", { namespace: "default" })
      assert.strictEqual(status?.podTemplateGeneration, observed.metadata.generation ?? 0)
      assert.strictEqual(status?.provisioningStrategy, Api.ActiveProvisioningStrategy)
      assert.deepStrictEqual(yield* condition("headroom", Api.ReadyForProvisioning), {
        status: "True",
        reason: Api.ReasonResolved
      })
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("a missing PodTemplate: ReadyForProvisioning=False PodTemplateNotFound, and no launch", () =>
    Effect.gen(function* () {
      yield* cluster(true)
      yield* createBuffer("headroom", { podTemplateRef: { name: "absent" }, replicas: 2 })
      yield* S.advance(60_000)
      assert.deepStrictEqual(yield* condition("headroom", Api.ReadyForProvisioning), {
        status: "False",
        reason: Api.ReasonPodTemplateNotFound
      })
      assert.deepStrictEqual(yield* condition("headroom", Api.Provisioning), {
        status: "False",
        reason: Api.ReasonNotReadyForProvisioning
      })
      assert.lengthOf(yield* S.listNodeClaims, 0)
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("scalableRef: the larger of replicas and the percentage, capped by limits; follows the workload", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* cluster(true)
      yield* kube.create(Resources.Deployments, deployment("web", 10, "1") as never)
      yield* createBuffer("percent", { scalableRef: { kind: "Deployment", name: "web" }, percentage: 25, replicas: 1 })
      yield* createBuffer("capped", {
        scalableRef: { apiGroup: "apps", kind: "Deployment", name: "web" },
        replicas: 5,
        limits: { cpu: "3" }
      })
      yield* createBuffer("limits-only", { scalableRef: { kind: "Deployment", name: "web" }, limits: { cpu: "2500m" } })
      yield* createBuffer("unsupported", { scalableRef: { kind: "CronJob", name: "web" }, replicas: 1 })
      yield* S.advance(5_000, 1_000)
      assert.strictEqual((yield* getBuffer("percent")).status?.replicas, 3, "ceil(10 × 25%) = 3 > 1")
      assert.strictEqual((yield* getBuffer("capped")).status?.replicas, 3, "min(5, 3 cpu / 1 cpu)")
      assert.strictEqual((yield* getBuffer("limits-only")).status?.replicas, 2)
      assert.deepStrictEqual(yield* condition("unsupported", Api.ReadyForProvisioning), {
        status: "False",
        reason: Api.ReasonResolutionFailed
      })
      // The workload scales: a watched change re-resolves the buffer.
      yield* kube.patch(
        Resources.Deployments,
        "web",
        { type: "merge", patch: { spec: { replicas: 20 } } },
        {
          namespace: "default"
        }
      )
      yield* S.advance(5_000, 1_000)
      assert.strictEqual((yield* getBuffer("percent")).status?.replicas, 5)
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("the apiserver rejects what upstream's CRD rejects", () =>
    Effect.gen(function* () {
      yield* cluster(true)
      const rejected = yield* createBuffer("bad", { podTemplateRef: { name: "web" } }).pipe(Effect.flip)
      assert.strictEqual(rejected._tag, "Invalid")
      assert.include(rejected.message, "If podTemplateRef is set, replicas or limits must also be set")
    }).pipe(Effect.provide(D.base()))
  )
})

describe("CapacityBuffer: headroom kept launched", S.controllerSuite, () => {
  it.effect("a warm node is launched before the pods arrive; they bind to it; the headroom is launched again", () =>
    Effect.gen(function* () {
      yield* cluster(true)
      yield* createPodTemplate("web", "1")
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 2 })
      yield* S.advance(60_000)
      const warm = yield* S.listNodeClaims
      assert.lengthOf(warm, 1, "one NodeClaim holds the two virtual pods")
      assert.lengthOf(yield* S.listPods, 0, "virtual pods are never objects")
      assert.deepStrictEqual(yield* condition("headroom", Api.Provisioning), {
        status: "True",
        reason: Api.ReasonFitsExistingCapacity
      })

      // Two real pods arrive: kube-scheduler binds them to the warm node at once, no launch to wait for.
      yield* S.createPod(S.pod("web-1", { cpu: "1" }))
      yield* S.createPod(S.pod("web-2", { cpu: "1" }))
      yield* S.advance(2_000, 1_000)
      const bound = (yield* S.listPods).map((pod) => pod.spec.nodeName)
      assert.deepStrictEqual(bound, [warm[0]!.status?.nodeName, warm[0]!.status?.nodeName])

      // The headroom they took is launched again on the next buffer pass (within upstream's 30 s).
      yield* S.advance(60_000)
      assert.lengthOf(yield* S.listNodeClaims, 2)
      assert.deepStrictEqual(yield* condition("headroom", Api.Provisioning), {
        status: "True",
        reason: Api.ReasonFitsExistingCapacity
      })
    }).pipe(Effect.provide(D.base()))
  )

  // Upstream v1.14.0 reports virtual pods as it reports real ones, except nominations of existing nodes:
  // `Results.Record` publishes FailedScheduling for every pod error, `Provisioner.Create` (RecordPodNomination)
  // a Nominated event for every pod of a new NodeClaim, and the unschedulable-pods gauge counts every pod error.
  it.effect("virtual pods get Nominated events for the NodeClaim launched for them, and FailedScheduling", () =>
    Effect.gen(function* () {
      yield* cluster(true)
      yield* createPodTemplate("web", "1")
      yield* createPodTemplate("huge", "1000")
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 1 })
      yield* createBuffer("toobig", { podTemplateRef: { name: "huge" }, replicas: 1 })
      yield* S.advance(60_000)
      const [claim] = yield* S.listNodeClaims
      const events = (yield* S.listEvents).map((event) => [event.reason, event.involvedObject.name, event.message])
      assert.deepInclude(events, [
        "Nominated",
        "capacity-buffer-headroom-1",
        `Pod should schedule on: nodeclaim/${claim!.metadata.name}`
      ])
      const failed = events.filter(
        ([reason, name]) => reason === "FailedScheduling" && name === "capacity-buffer-toobig-1"
      )
      assert.lengthOf(failed, 1)
      const unschedulable = Metric.withAttributes(ProvisioningMetrics.unschedulablePodsCount, {
        controller: "provisioner"
      })
      assert.strictEqual((yield* Metric.value(unschedulable)).value, 1, "the virtual pod that fits nowhere counts")
      assert.deepStrictEqual(yield* condition("toobig", Api.Provisioning), {
        status: "False",
        reason: Api.ReasonRequiresNewCapacity
      })
    }).pipe(Effect.provide(D.base()))
  )

  it.effect("with the gate off, a CapacityBuffer changes nothing: no status, no launch", () =>
    Effect.gen(function* () {
      yield* cluster(false)
      yield* createPodTemplate("web", "1")
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 2 })
      yield* S.advance(5 * 60_000)
      assert.lengthOf(yield* S.listNodeClaims, 0)
      assert.isUndefined((yield* getBuffer("headroom")).status)
    }).pipe(Effect.provide(D.base()))
  )
})

describe("CapacityBuffer and disruption", S.controllerSuite, () => {
  it.effect("emptiness keeps nodes holding headroom; once the buffer is gone, they go one at a time (budget 1)", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const log = yield* cluster(true, [{ nodes: "1" }])
      const tracker = yield* D.trackDisrupting
      // Three chunks, one per node: three warm nodes without a real pod.
      yield* createPodTemplate("web", "1", true)
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 3 })
      yield* S.advance(10 * 60_000, 10_000)
      assert.lengthOf(yield* S.listNodeClaims, 3, "the warm nodes stay past consolidateAfter")
      assert.deepStrictEqual(log.entries(), [])
      const warmNode = (yield* D.nodeNames)[0]
      assert.include(yield* D.eventsWithReason("Unconsolidatable"), `${warmNode}: Node "${warmNode}" has buffer pods`)

      yield* kube.delete(Resources.CapacityBuffers, "headroom", { namespace: "default" })
      yield* S.advance(10 * 60_000, 10_000)
      assert.lengthOf(yield* S.listNodeClaims, 0)
      assert.deepStrictEqual(
        log.entries().map((entry) => [entry.reason, entry.candidates.length]),
        [
          ["Empty", 1],
          ["Empty", 1],
          ["Empty", 1]
        ]
      )
      assert.strictEqual(tracker.most(), 1, "never more than the budget's one node disrupted at once")
    }).pipe(Effect.provide(D.base()))
  )

  // Only 4-core nodes: two of them with a 1-core pod each are one node too many, unless headroom needs the room.
  const mediumOnly = [D.instanceType("medium", 4, 0.2)]
  const twoHalfEmptyNodes = (gate: boolean) =>
    Effect.gen(function* () {
      const log = yield* cluster(gate, [{ nodes: "100%" }])
      yield* D.launch("n1", "medium")
      yield* D.launch("n2", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("p1", "n1", { cpu: "1" })
      yield* D.boundPod("p2", "n2", { cpu: "1" })
      yield* createPodTemplate("web", "2")
      // Two 2-core chunks: beside the pods they fit on the two nodes, not on one.
      yield* createBuffer("headroom", { podTemplateRef: { name: "web" }, replicas: 2 })
      yield* S.advance(10 * 60_000, 10_000)
      return { nodes: yield* D.nodeNames, reasons: log.entries().map((entry) => entry.reason) }
    }).pipe(Effect.provide(D.base(mediumOnly)))

  it.effect("consolidation keeps the room the headroom needs: no node is deleted from under it", () =>
    Effect.gen(function* () {
      const { nodes, reasons } = yield* twoHalfEmptyNodes(true)
      assert.deepStrictEqual([...nodes].sort(), ["n1", "n2"])
      assert.deepStrictEqual(reasons, [])
    })
  )

  it.effect("with the gate off, the same cluster loses a node to consolidation", () =>
    Effect.gen(function* () {
      const { nodes, reasons } = yield* twoHalfEmptyNodes(false)
      assert.lengthOf(nodes, 1)
      assert.deepStrictEqual(reasons, ["Underutilized"])
    })
  )
})
