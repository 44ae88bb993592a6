import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as AttachDetach from "../../../../src/cluster/AttachDetach.ts"
import * as DisruptionBudgets from "../../../../src/cluster/DisruptionBudgets.ts"
import * as Kubelet from "../../../../src/cluster/Kubelet.ts"
import * as Termination from "../../../../src/controllers/node/termination/Termination.ts"
import * as Metrics from "../../../../src/controllers/node/termination/TerminationMetrics.ts"
import * as Lifecycle from "../../../../src/controllers/nodeclaim/lifecycle/Lifecycle.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { createCsiClaim, listVolumeAttachments } from "../../support.ts"
import {
  advance,
  createBudget,
  createPod,
  environment,
  findNode,
  findNodeClaim,
  findPod,
  launch,
  type Recorder,
  reasonsFor,
  recorder,
  recordRemovals,
  setMinAvailable,
  settle
} from "./support.ts"

/** Runs `body` on a fresh API server, fake provider, event sink and metric registry. */
const run = <A, E, R>(recorded: Recorder, body: Effect.Effect<A, E, R>, shutdownMillis = 0) =>
  body.pipe(
    Effect.provide(environment(recorded, { shutdownMillis })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

/**
 * The kubelets (pods run, graceful deletions complete), optionally the PDB controller and CSI volume attachment, and
 * the two finalizers.
 */
const start = (options: { readonly budgets?: boolean; readonly volumes?: boolean } = {}) =>
  Effect.gen(function* () {
    yield* Kubelet.make()
    if (options.budgets === true) yield* DisruptionBudgets.make()
    if (options.volumes === true) yield* AttachDetach.make()
    yield* Lifecycle.make
    const termination = yield* Termination.makeWith()
    yield* settle
    return termination
  })

const deleteNode = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.delete(Resources.Nodes, name))

/** The pods the eviction API accepted, in order. */
const evicted = (recorded: Recorder) =>
  recorded.evictions.filter((eviction) => eviction.outcome === "ok").map((eviction) => eviction.pod)

const instanceExists = (providerID: string) =>
  Effect.map(Effect.service(Fake.FakeCloudProvider), (fake) => fake.instances).pipe(
    Effect.flatten,
    Effect.map((instances) => instances.has(providerID))
  )

const deleteCalls = Effect.flatMap(Effect.service(Fake.FakeCloudProvider), (fake) => fake.deleteCalls)

describe("Node termination", () => {
  it.effect(
    "a Node deleted directly takes its NodeClaim along, drains, terminates the instance, then both finalizers go",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const providerID = yield* launch("n1")
          yield* start()
          yield* createPod("web", "n1", { grace: 10 })
          yield* settle
          assert.strictEqual((yield* findPod("web"))?.status?.phase, "Running")
          const removed = yield* recordRemovals

          yield* deleteNode("n1")
          yield* advance(500)
          // The NodeClaim is being deleted too; the Node is tainted, excluded from load balancers, and draining.
          assert.isDefined((yield* findNodeClaim("n1"))?.metadata.deletionTimestamp)
          const node = yield* findNode("n1")
          assert.deepStrictEqual(node?.spec.taints, [{ key: "karpenter.sh/disrupted", effect: "NoSchedule" }])
          assert.strictEqual(node?.metadata.labels?.[Labels.ExcludeFromExternalLoadBalancers], "karpenter")
          assert.deepStrictEqual(evicted(recorded), ["web"])
          assert.isDefined((yield* findPod("web"))?.metadata.deletionTimestamp)
          assert.deepStrictEqual(yield* deleteCalls, [], "no instance termination while pods remain")
          assert.isTrue(yield* instanceExists(providerID))
          assert.include(reasonsFor(recorded, "Node", "n1"), "FailedDraining")
          assert.deepStrictEqual(
            recorded.events.filter((event) => event.reason === "Evicted").map((event) => event.message),
            ["Evicted pod: Forceful Termination"]
          )

          // The pod goes after its 10 s grace; then the instance is terminated (confirmed gone 5 s later).
          yield* advance(9_000)
          assert.isDefined(yield* findPod("web"))
          assert.deepStrictEqual(yield* deleteCalls, [])
          yield* advance(2_000)
          assert.isUndefined(yield* findPod("web"))
          assert.isFalse(yield* instanceExists(providerID))
          assert.isDefined(yield* findNode("n1"), "kept until the provider confirms the instance is gone")
          yield* advance(6_000)
          assert.isUndefined(yield* findNode("n1"))
          assert.isUndefined(yield* findNodeClaim("n1"))
          assert.deepStrictEqual(removed, ["Node/n1", "NodeClaim/n1"])

          const count = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
            Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)
          // As upstream, every pass that finds the node drained counts (here: before and after the 5 s wait).
          assert.strictEqual(yield* count(Metrics.nodesDrainedTotal, { nodepool: "default" }), 2)
          assert.strictEqual(yield* count(Metrics.nodesTerminatedTotal, { nodepool: "default" }), 1)
          assert.strictEqual(
            yield* count(Metrics.nodeClaimsTerminatedTotal, { nodepool: "default", capacity_type: "" }),
            1
          )
          assert.strictEqual(yield* count(Metrics.nodesEvictionRequestsTotal, { code: "200" }), 1)
        })
      )
    },
    60_000
  )

  it.effect(
    "drains non-critical pods before critical ones, and DaemonSet pods after the others of their class",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          yield* launch("n1")
          yield* start()
          yield* createPod("critical-ds", "n1", {
            grace: 10,
            daemonSet: true,
            priorityClassName: "system-node-critical"
          })
          yield* createPod("critical", "n1", { grace: 10, priorityClassName: "system-cluster-critical" })
          yield* createPod("ds", "n1", { grace: 10, daemonSet: true })
          yield* createPod("app", "n1", { grace: 10 })
          yield* createPod("app-2", "n1", { grace: 10 })
          // Tolerating the disrupted taint: neither evicted nor waited for.
          yield* createPod("tolerant", "n1", { grace: 10, tolerations: [{ operator: "Exists" }] })
          yield* settle

          yield* deleteNode("n1")
          yield* advance(60_000, 500)
          assert.deepStrictEqual(evicted(recorded), ["app", "app-2", "ds", "critical", "critical-ds"])
          // Each group is evicted only once the previous one is gone (10 s of grace, then the next drain pass).
          const at = (pod: string) => recorded.evictions.find((eviction) => eviction.pod === pod)?.at ?? Number.NaN
          assert.strictEqual(at("app"), at("app-2"))
          assert.isAtLeast(at("ds") - at("app"), 10_000)
          assert.isAtLeast(at("critical") - at("ds"), 10_000)
          assert.isAtLeast(at("critical-ds") - at("critical"), 10_000)
          assert.isUndefined(yield* findNode("n1"))
          assert.isDefined(yield* findPod("tolerant"))
        })
      )
    },
    60_000
  )

  it.effect(
    "a PDB allowing no disruption keeps its pod (429, retried with growing backoff) until it allows one",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const providerID = yield* launch("n1")
          yield* start({ budgets: true })
          yield* createBudget(1)
          yield* createPod("web", "n1", { grace: 5, labels: { app: "web" } })
          yield* settle
          const kube = yield* KubeClient
          assert.strictEqual(
            (yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })).status
              ?.disruptionsAllowed,
            0
          )

          yield* deleteNode("n1")
          yield* advance(30_000)
          assert.isTrue(recorded.evictions.length >= 5)
          assert.isTrue(recorded.evictions.every((eviction) => eviction.outcome === "TooManyRequests"))
          const gaps = recorded.evictions.slice(1).map((eviction, index) => eviction.at - recorded.evictions[index]!.at)
          assert.deepStrictEqual(gaps.slice(0, 4), [100, 200, 400, 800])
          for (let i = 1; i < gaps.length; i++) assert.isAtLeast(gaps[i]!, gaps[i - 1]!)
          assert.isAtMost(Math.max(...gaps), 10_000)
          assert.isUndefined((yield* findPod("web"))?.metadata.deletionTimestamp)
          assert.isDefined(yield* findNode("n1"))
          assert.isTrue(yield* instanceExists(providerID))
          assert.deepStrictEqual(yield* deleteCalls, [])
          assert.include(reasonsFor(recorded, "Pod", "web"), "FailedDraining")

          // The budget allows one: the next attempt evicts, the pod goes after 5 s, then the node.
          yield* setMinAvailable(0)
          yield* advance(11_000)
          assert.strictEqual(recorded.evictions.at(-1)?.outcome, "ok")
          yield* advance(12_000)
          assert.isUndefined(yield* findPod("web"))
          assert.isUndefined(yield* findNode("n1"))
          assert.isUndefined(yield* findNodeClaim("n1"))
          assert.isFalse(yield* instanceExists(providerID))
        })
      )
    },
    60_000
  )

  it.effect(
    "do-not-disrupt pods are waited for but never evicted, and hold back the later groups",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const kube = yield* KubeClient
          const providerID = yield* launch("n1")
          yield* start()
          yield* createPod("app", "n1", { grace: 5 })
          yield* createPod("protected", "n1", { grace: 5, doNotDisrupt: true })
          yield* createPod("ds", "n1", { grace: 5, daemonSet: true })
          yield* settle

          yield* deleteNode("n1")
          yield* advance(60_000, 1_000)
          assert.deepStrictEqual(evicted(recorded), ["app"])
          assert.isUndefined(yield* findPod("app"))
          assert.isUndefined((yield* findPod("protected"))?.metadata.deletionTimestamp)
          assert.isUndefined((yield* findPod("ds"))?.metadata.deletionTimestamp, "the DaemonSet group waits")
          assert.isDefined(yield* findNode("n1"))
          assert.isTrue(yield* instanceExists(providerID))

          // Someone deletes the protected pod: the drain moves on to the DaemonSet pod, then the node goes.
          yield* kube.delete(Resources.Pods, "protected", { namespace: "default" })
          yield* advance(20_000, 1_000)
          assert.deepStrictEqual(evicted(recorded), ["app", "ds"])
          assert.isUndefined(yield* findNode("n1"))
          assert.isFalse(yield* instanceExists(providerID))
        })
      )
    },
    60_000
  )

  it.effect(
    "terminationGracePeriod deletes a pod its grace period before the deadline, and the node goes then despite its PDB",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const providerID = yield* launch("n1", { terminationGracePeriod: "5m" })
          yield* start({ budgets: true })
          yield* createBudget(1)
          yield* createPod("web", "n1", { grace: 30, labels: { app: "web" } })
          yield* settle

          yield* deleteNode("n1")
          yield* advance(1_000, 1_000)
          const claim = yield* findNodeClaim("n1")
          assert.strictEqual(
            claim?.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation],
            "1970-01-01T00:05:00Z"
          )
          assert.deepStrictEqual(
            recorded.events
              .filter((event) => event.reason === "TerminationGracePeriodExpiring")
              .map((event) => `${event.involvedObject.kind}: ${event.message}`),
            [
              "NodeClaim: All pods will be deleted by 1970-01-01T00:05:00Z",
              "Node: All pods will be deleted by 1970-01-01T00:05:00Z"
            ]
          )

          // 4m29s: the PDB still protects the pod.
          yield* advance(268_000, 1_000)
          assert.isUndefined((yield* findPod("web"))?.metadata.deletionTimestamp)
          // 4m30s: deleted with its whole 30 s grace period, bypassing the PDB.
          yield* advance(1_000, 1_000)
          const deleted = yield* findPod("web")
          assert.strictEqual(deleted?.metadata.deletionTimestamp, "1970-01-01T00:05:00Z")
          assert.strictEqual(deleted?.metadata.deletionGracePeriodSeconds, 30)
          const disrupted = recorded.events.find((event) => event.reason === "Disrupted")
          assert.include(
            disrupted?.message ?? "",
            "granted 30 seconds of grace-period of its 30 terminationGracePeriodSeconds"
          )
          assert.isTrue(recorded.evictions.every((eviction) => eviction.outcome === "TooManyRequests"))

          // 4m59s: the node still drains; 5m: the pod is gone and the instance terminated, confirmed 5 s later.
          yield* advance(29_000, 1_000)
          assert.isDefined(yield* findNode("n1"))
          assert.deepStrictEqual(yield* deleteCalls, [])
          yield* advance(1_000, 1_000)
          assert.isUndefined(yield* findPod("web"))
          assert.isFalse(yield* instanceExists(providerID))
          yield* advance(6_000, 1_000)
          assert.isUndefined(yield* findNode("n1"))
          assert.isUndefined(yield* findNodeClaim("n1"))
        })
      )
    },
    60_000
  )

  it.effect(
    "deleting a NodeClaim deletes its Node, which is drained and removed before the NodeClaim",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const kube = yield* KubeClient
          const providerID = yield* launch("n1")
          yield* start()
          yield* createPod("web", "n1", { grace: 10 })
          yield* settle
          const removed = yield* recordRemovals

          yield* kube.delete(Resources.NodeClaims, "n1")
          yield* advance(1_000)
          assert.isDefined((yield* findNode("n1"))?.metadata.deletionTimestamp)
          assert.deepStrictEqual(evicted(recorded), ["web"])
          assert.include((yield* findNodeClaim("n1"))?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
          assert.isTrue(yield* instanceExists(providerID))

          yield* advance(20_000)
          assert.deepStrictEqual(removed, ["Node/n1", "NodeClaim/n1"])
          assert.isFalse(yield* instanceExists(providerID))
        })
      )
    },
    60_000
  )

  it.effect(
    "an unregistered NodeClaim's instance is terminated, checking every 5 s until the provider reports it gone",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const kube = yield* KubeClient
          yield* launch("n1", { registered: false })
          yield* start()

          yield* kube.delete(Resources.NodeClaims, "n1")
          yield* settle
          // Termination started: InstanceTerminating, and the finalizer stays until the provider says NotFound.
          const terminating = yield* findNodeClaim("n1")
          assert.strictEqual(
            Conditions.get(terminating?.status?.conditions, ConditionTypes.InstanceTerminating)?.status,
            "True"
          )
          yield* advance(9_000, 1_000)
          assert.isDefined(yield* findNodeClaim("n1"))
          yield* advance(1_000, 1_000)
          assert.isUndefined(yield* findNodeClaim("n1"))
          // The instance went on the first call; the call at 10 s is the first to reach NotFound.
          assert.strictEqual((yield* deleteCalls).length, 2)
        }),
        10_000
      )
    },
    60_000
  )

  it.effect(
    "a NotReady node whose instance is gone loses its finalizer at once; a Ready one keeps draining",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const cloud = yield* CloudProvider.CloudProvider
          yield* launch("dead", { ready: false })
          yield* launch("alive")
          yield* start()
          yield* createPod("stuck", "dead", { doNotDisrupt: true })
          yield* createPod("protected", "alive", { doNotDisrupt: true })
          yield* settle
          // Both instances vanish behind Karpenter's back.
          for (const name of ["dead", "alive"]) {
            const claim = yield* findNodeClaim(name)
            yield* cloud.delete(claim!)
          }

          yield* deleteNode("dead")
          yield* deleteNode("alive")
          yield* advance(10_000, 1_000)
          assert.isUndefined(yield* findNode("dead"))
          assert.isUndefined((yield* findPod("stuck"))?.metadata.deletionTimestamp, "not evicted")
          assert.isUndefined(yield* findNodeClaim("dead"))
          assert.isDefined(yield* findNode("alive"), "its kubelet still reports Ready: keep waiting for the pod")
        })
      )
    },
    60_000
  )

  it.effect(
    "replaces a disrupted taint of another effect, and leaves nodes of other NodeClasses alone",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          yield* launch("n1", {
            taints: [
              { key: "karpenter.sh/disrupted", effect: "NoExecute" },
              { key: "team", value: "a", effect: "NoSchedule" }
            ]
          })
          yield* launch("foreign", { managed: false })
          yield* start()
          yield* createPod("protected", "n1", { doNotDisrupt: true })
          yield* settle

          yield* deleteNode("n1")
          yield* deleteNode("foreign")
          yield* advance(5_000, 1_000)
          assert.deepStrictEqual((yield* findNode("n1"))?.spec.taints, [
            { key: "team", value: "a", effect: "NoSchedule" },
            { key: "karpenter.sh/disrupted", effect: "NoSchedule" }
          ])
          const foreign = yield* findNode("foreign")
          assert.include(foreign?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
          assert.isUndefined(foreign?.spec.taints)
          assert.isUndefined((yield* findNodeClaim("foreign"))?.metadata.deletionTimestamp)
        })
      )
    },
    60_000
  )

  it.effect(
    "waits for the VolumeAttachments of the drained pods to go before terminating the instance",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const providerID = yield* launch("n1")
          yield* start({ volumes: true })
          yield* createCsiClaim("data", "pv-data")
          yield* createPod("db", "n1", { grace: 10, claims: ["data"] })
          yield* settle
          assert.deepStrictEqual(
            (yield* listVolumeAttachments).map((attachment) => [attachment.spec.nodeName, attachment.status?.attached]),
            [["n1", true]]
          )

          yield* deleteNode("n1")
          // 10.5 s: the pod went after its grace period; its volume is being detached (5 s).
          yield* advance(10_500)
          assert.isUndefined(yield* findPod("db"))
          assert.isDefined((yield* listVolumeAttachments)[0]?.metadata.deletionTimestamp)
          assert.deepStrictEqual(yield* deleteCalls, [], "no instance termination while a volume is attached")
          assert.isTrue(yield* instanceExists(providerID))
          yield* advance(4_000)
          assert.lengthOf(yield* listVolumeAttachments, 1)
          assert.deepStrictEqual(yield* deleteCalls, [])

          // 15 s: detached; the next check (1 s) terminates the instance, confirmed gone 5 s later.
          yield* advance(2_000)
          assert.lengthOf(yield* listVolumeAttachments, 0)
          assert.isFalse(yield* instanceExists(providerID))
          assert.isDefined(yield* findNode("n1"))
          yield* advance(6_000)
          assert.isUndefined(yield* findNode("n1"))
          assert.isUndefined(yield* findNodeClaim("n1"))
        })
      )
    },
    60_000
  )

  it.effect(
    "a VolumeAttachment that never goes away holds the instance only until the terminationGracePeriod",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const kube = yield* KubeClient
          const providerID = yield* launch("n1", { terminationGracePeriod: "2m" })
          // No attach/detach controller: nothing will ever detach this volume.
          yield* start()
          yield* kube.create(Resources.VolumeAttachments, {
            apiVersion: "storage.k8s.io/v1",
            kind: "VolumeAttachment",
            metadata: { name: "csi-stuck" },
            spec: { attacher: "ebs.csi.aws.com", nodeName: "n1", source: { persistentVolumeName: "pv-stuck" } }
          })

          yield* deleteNode("n1")
          yield* advance(119_000, 1_000)
          assert.isDefined(yield* findNode("n1"), "the node waits for its volume until 2m")
          assert.deepStrictEqual(yield* deleteCalls, [], "drained, but the volume is still attached")
          assert.isTrue(yield* instanceExists(providerID))

          // 2m: the termination time has come; the instance goes with the volume still attached.
          yield* advance(3_000, 1_000)
          assert.isFalse(yield* instanceExists(providerID))
          yield* advance(6_000, 1_000)
          assert.isUndefined(yield* findNode("n1"))
          assert.isUndefined(yield* findNodeClaim("n1"))
          assert.lengthOf(yield* listVolumeAttachments, 1)
        })
      )
    },
    60_000
  )

  it.effect(
    "the VolumeAttachments of pods the drain does not wait for do not hold the instance",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const providerID = yield* launch("n1")
          yield* start({ volumes: true })
          yield* createCsiClaim("data", "pv-data")
          yield* createCsiClaim("agent-state", "pv-agent")
          yield* createPod("db", "n1", { grace: 10, claims: ["data"] })
          // Tolerates the disrupted taint: never evicted, and its volume stays attached.
          yield* createPod("agent", "n1", { grace: 10, claims: ["agent-state"], tolerations: [{ operator: "Exists" }] })
          yield* settle
          assert.lengthOf(yield* listVolumeAttachments, 2)

          yield* deleteNode("n1")
          yield* advance(10_500)
          assert.isUndefined(yield* findPod("db"))
          assert.deepStrictEqual(yield* deleteCalls, [], "pv-data is being detached")
          yield* advance(6_000)
          assert.isFalse(yield* instanceExists(providerID))
          assert.deepStrictEqual(evicted(recorded), ["db"])
          const attached = yield* listVolumeAttachments
          assert.deepStrictEqual(
            attached.map((attachment) => [
              attachment.spec.source.persistentVolumeName,
              attachment.metadata.deletionTimestamp
            ]),
            [["pv-agent", undefined]]
          )
        })
      )
    },
    60_000
  )
})
