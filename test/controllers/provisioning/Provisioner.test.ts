import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Fake from "../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import type { Pod } from "../../../src/api/Pod.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Hash from "../../../src/controllers/nodepool/hash/Hash.ts"
import * as Provisioner from "../../../src/controllers/provisioning/Provisioner.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"

const requirementOf = (claim: NodeClaim, key: string) =>
  claim.spec.requirements.find((requirement) => requirement.key === key)

const sorted = (values: ReadonlyArray<string> | undefined) => [...(values ?? [])].sort()

const kwokPool = { nodeClassRef: S.kwokNodeClassRef } as const

/** A fake-provider environment with a Ready NodePool and the controllers running. */
const fakeCluster = (nodePool = S.nodePool("default"), labels: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const fake = yield* Fake.FakeCloudProvider
    yield* fake.setInstanceTypes(S.fakeCatalogue(undefined, labels))
    yield* S.createNodePool(nodePool)
    yield* Layer.build(S.karpenter())
    yield* S.settle
    return fake
  })

/** A KWOK environment with the embedded control plane, a KWOKNodeClass and a NodePool. */
const kwokCluster = (nodeClass = S.kwokNodeClass("default"), nodePool = S.nodePool("default", kwokPool)) =>
  Effect.gen(function* () {
    yield* S.createKwokNodeClass(nodeClass)
    yield* S.createNodePool(nodePool)
    yield* Layer.build(Layer.mergeAll(S.karpenter(), S.controlPlane))
    yield* S.settle
  })

const podPhase = (pod: Pod) => [pod.metadata.name, pod.spec.nodeName ?? "", pod.status?.phase ?? ""]

describe("Provisioner.isUnschedulable", () => {
  const base = { metadata: { name: "p" }, spec: { containers: [] } } as unknown as Pod
  const unschedulable = { type: "PodScheduled", status: "False", reason: "Unschedulable" }

  it("is true only for unbound, unnominated pods the kube-scheduler marked Unschedulable", () => {
    assert.isTrue(Provisioner.isUnschedulable({ ...base, status: { conditions: [unschedulable] } } as Pod))
    // Not yet looked at by the kube-scheduler, or waiting for something else.
    assert.isFalse(Provisioner.isUnschedulable(base))
    assert.isFalse(
      Provisioner.isUnschedulable({
        ...base,
        status: { conditions: [{ ...unschedulable, reason: "SchedulingGated" }] }
      } as Pod)
    )
    // Bound, or nominated to a node by preemption.
    assert.isFalse(
      Provisioner.isUnschedulable({
        ...base,
        spec: { ...base.spec, nodeName: "n" },
        status: { conditions: [unschedulable] }
      } as Pod)
    )
    assert.isFalse(
      Provisioner.isUnschedulable({
        ...base,
        status: { nominatedNodeName: "n", conditions: [unschedulable] }
      } as Pod)
    )
  })
})

describe("Provisioner batching", S.controllerSuite, () => {
  it.effect("a pass runs once no new unschedulable pod came for 1 s (idle window)", () =>
    Effect.gen(function* () {
      yield* fakeCluster()
      yield* S.createPendingPod(S.pod("a"))
      yield* S.settle
      yield* S.advance(600, 100)
      // A second pod 600 ms in extends the window to 1.6 s.
      yield* S.createPendingPod(S.pod("b"))
      yield* S.settle
      yield* S.advance(999, 111)
      assert.strictEqual((yield* S.listNodeClaims).length, 0, "no NodeClaim before the window closes")
      yield* S.advance(1, 1)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      // One pass for both pods: one NodeClaim asking for both.
      assert.deepStrictEqual(claims[0]?.spec.resources?.requests, { cpu: "2", memory: "2Gi", pods: "2" })
      assert.strictEqual(claims[0]?.metadata.creationTimestamp, "1970-01-01T00:00:01Z")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a pass runs after at most 10 s while unschedulable pods keep coming (max window)", () =>
    Effect.gen(function* () {
      yield* fakeCluster()
      // A new pod every 900 ms: the idle window never closes.
      for (let i = 0; i < 11; i++) {
        yield* S.createPendingPod(S.pod(`p${i}`, { cpu: "100m", memory: "100Mi" }))
        yield* S.settle
        yield* S.advance(900, 300)
      }
      // t = 9.9 s
      yield* S.advance(99, 33)
      assert.strictEqual((yield* S.listNodeClaims).length, 0, "no NodeClaim before 10 s")
      yield* S.advance(1, 1)
      // The fake types hold 5 pods each: the pass asked for three nodes for the 11 pods.
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 3)
      assert.strictEqual(
        claims.reduce((pods, claim) => pods + Number(claim.spec.resources?.requests?.pods ?? 0), 0),
        11
      )
      assert.isTrue(claims.every((claim) => claim.metadata.creationTimestamp === "1970-01-01T00:00:10Z"))
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("pods the kube-scheduler has not marked Unschedulable open no batch", () =>
    Effect.gen(function* () {
      yield* fakeCluster()
      yield* S.createPod(S.pod("fresh"))
      yield* S.advance(15_000)
      assert.strictEqual((yield* S.listNodeClaims).length, 0)
      yield* S.markUnschedulable("fresh")
      yield* S.settle
      yield* S.advance(1_000, 250)
      assert.strictEqual((yield* S.listNodeClaims).length, 1)
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("no pass runs while a NodeClaim is still launching (cluster state not synced)", () =>
    Effect.gen(function* () {
      const fake = yield* fakeCluster()
      // Every launch fails (not for capacity): the first NodeClaim stays without a providerID.
      yield* fake.setAllowedCreateCalls(0)
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(1_000, 250)
      const [launching] = yield* S.listNodeClaims
      assert.isUndefined(launching?.status?.providerID)

      // A pod too big for the first NodeClaim's type: its batch finds the cluster unsynced and creates nothing.
      yield* S.createPendingPod(S.pod("b", { cpu: "3" }))
      yield* S.advance(10_000)
      assert.deepStrictEqual(
        (yield* S.listNodeClaims).map((claim) => claim.metadata.name),
        [launching?.metadata.name]
      )

      // The launch succeeds at last: the provisioner, retrying every second, creates the second NodeClaim.
      yield* fake.setAllowedCreateCalls(Number.MAX_SAFE_INTEGER)
      yield* S.advance(30_000)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 2)
      assert.isTrue(claims.every((claim) => claim.status?.providerID !== undefined))
      assert.deepStrictEqual(
        claims
          .map((claim) => claim.spec.resources?.requests?.cpu)
          .filter((cpu) => cpu !== undefined)
          .sort(),
        ["1", "3"]
      )
      const second = claims.find((claim) => claim.metadata.name !== launching?.metadata.name)
      assert.isAbove(Date.parse(second?.metadata.creationTimestamp ?? ""), 11_000, "created once the first launched")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a NodePool that is not Ready gets no NodeClaims", () =>
    Effect.gen(function* () {
      // Its KWOKNodeClass does not exist: NodeClassReady=False, so Ready=False.
      yield* S.createNodePool(S.nodePool("default", kwokPool))
      yield* Layer.build(S.karpenter())
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(5_000, 1_000)
      const nodePool = yield* S.getNodePool("default")
      assert.strictEqual(S.conditionOf(nodePool.status?.conditions, ConditionTypes.Ready)?.status, "False")
      assert.strictEqual((yield* S.listNodeClaims).length, 0)
    }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("Provisioner NodeClaims", S.controllerSuite, () => {
  it.effect("a NodeClaim carries the NodePool's labels, hash, owner, requirements and the pods' requests", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* fakeCluster(
        S.nodePool("default", {
          labels: { team: "a" },
          annotations: { "example.com/owner": "me" },
          requirements: [
            { key: Labels.Arch, operator: "In", values: [Labels.ArchAmd64] },
            { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeOnDemand] }
          ]
        }),
        { team: "a" }
      )
      yield* S.createPendingPod(S.pod("a", { cpu: "1", memory: "1Gi" }))
      yield* S.createPendingPod(S.pod("b", { cpu: "500m", memory: "512Mi" }))
      yield* S.settle
      yield* S.advance(1_000, 250)

      const [claim, ...others] = yield* S.listNodeClaims
      assert.strictEqual(others.length, 0)
      assert.isDefined(claim)
      if (claim === undefined) return
      const nodePool = yield* S.getNodePool("default")

      assert.strictEqual(claim.metadata.generateName, "default-")
      assert.strictEqual(claim.metadata.labels?.[Labels.NodePool], "default")
      assert.strictEqual(claim.metadata.labels?.["karpenter.test.sh/testnodeclass"], "default")
      assert.strictEqual(claim.metadata.labels?.team, "a")
      assert.strictEqual(claim.metadata.annotations?.["example.com/owner"], "me")
      assert.strictEqual(claim.metadata.annotations?.[Labels.NodePoolHashAnnotation], Hash.hashOf(nodePool))
      // The hash controller wrote the same hash on the NodePool: a fresh NodeClaim is not drifted.
      assert.strictEqual(
        claim.metadata.annotations?.[Labels.NodePoolHashAnnotation],
        nodePool.metadata.annotations?.[Labels.NodePoolHashAnnotation]
      )
      assert.strictEqual(claim.metadata.annotations?.[Labels.NodePoolHashVersionAnnotation], "v3")
      assert.deepStrictEqual(claim.metadata.ownerReferences, [
        {
          apiVersion: "karpenter.sh/v1",
          kind: "NodePool",
          name: "default",
          uid: nodePool.metadata.uid ?? "",
          blockOwnerDeletion: true
        }
      ])
      assert.deepStrictEqual(claim.spec.nodeClassRef, S.fakeNodeClassRef)

      assert.deepStrictEqual(sorted(requirementOf(claim, Labels.NodePool)?.values), ["default"])
      assert.deepStrictEqual(sorted(requirementOf(claim, "team")?.values), ["a"])
      assert.deepStrictEqual(sorted(requirementOf(claim, Labels.Arch)?.values), [Labels.ArchAmd64])
      assert.deepStrictEqual(sorted(requirementOf(claim, Labels.CapacityType)?.values), [Labels.CapacityTypeOnDemand])
      assert.isUndefined(requirementOf(claim, Labels.Hostname), "the hostname placeholder is removed")
      // Every amd64 type the pods fit on is an option; the arm64 one is not.
      const instanceTypes = requirementOf(claim, Labels.InstanceType)
      assert.strictEqual(instanceTypes?.operator, "In")
      assert.deepStrictEqual(sorted(instanceTypes?.values), [
        "default-instance-type",
        "gpu-vendor-b-instance-type",
        "gpu-vendor-instance-type",
        "small-instance-type"
      ])
      assert.deepStrictEqual(claim.spec.resources?.requests, { cpu: "1500m", memory: "1536Mi", pods: "2" })

      // Launched: the cheapest option, on-demand as required.
      assert.strictEqual(claim.metadata.labels?.[Labels.InstanceType], "small-instance-type")
      assert.strictEqual(claim.metadata.labels?.[Labels.CapacityType], Labels.CapacityTypeOnDemand)
      assert.isTrue(
        claim.status?.conditions?.some(
          (condition) => condition.type === ConditionTypes.Launched && condition.status === "True"
        )
      )
      // The pods were nominated for it.
      const nominated = (yield* kube.list(Resources.Events)).items.filter((event) => event.reason === "Nominated")
      assert.deepStrictEqual(nominated.map((event) => event.involvedObject.name).sort(), ["a", "b"])
      assert.isTrue(nominated.every((event) => (event.message ?? "").endsWith(`nodeclaim/${claim.metadata.name}`)))
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a pod that fits on a NodeClaim in flight is nominated for it, with no new NodeClaim", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* fakeCluster()
      yield* S.createPendingPod(S.pod("a", { cpu: "100m", memory: "100Mi" }))
      yield* S.advance(2_000, 250)
      const [claim, ...others] = yield* S.listNodeClaims
      assert.strictEqual(others.length, 0)
      // No Node registers with the fake provider: the NodeClaim stays in flight.
      yield* S.createPendingPod(S.pod("b", { cpu: "100m", memory: "100Mi" }))
      yield* S.advance(2_000, 250)
      assert.strictEqual((yield* S.listNodeClaims).length, 1, "b goes to the NodeClaim in flight")
      const forB = (yield* kube.list(Resources.Events)).items.filter(
        (event) => event.reason === "Nominated" && event.involvedObject.name === "b"
      )
      assert.deepStrictEqual(
        forB.map((event) => event.message),
        [`Pod should schedule on: nodeclaim/${claim?.metadata.name}`]
      )
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("pods bind once the Nodes of their NodeClaims register (control plane + KWOK)", () =>
    Effect.gen(function* () {
      yield* kwokCluster(S.kwokNodeClass("default", { nodeRegistrationDelay: "30s" }))
      for (const name of ["a", "b", "c"]) yield* S.createPod(S.pod(name, { cpu: "1500m" }))
      yield* S.settle
      // The kube-scheduler found no node for them.
      for (const pod of yield* S.listPods) assert.isTrue(Provisioner.isUnschedulable(pod))

      yield* S.advance(2_000, 250)
      const claims = yield* S.listNodeClaims
      assert.isAbove(claims.length, 0)
      assert.strictEqual((yield* S.listNodes).length, 0, "the Nodes register after 30 s")
      assert.deepStrictEqual((yield* S.listPods).map(podPhase), [
        ["a", "", "Pending"],
        ["b", "", "Pending"],
        ["c", "", "Pending"]
      ])

      yield* S.advance(31_000)
      const nodes = yield* S.listNodes
      assert.deepStrictEqual(
        nodes.map((node) => node.metadata.name),
        claims.map((claim) => claim.metadata.name)
      )
      const pods = yield* S.listPods
      for (const pod of pods) {
        assert.include(
          nodes.map((node) => node.metadata.name),
          pod.spec.nodeName,
          `${pod.metadata.name} is bound to a new node`
        )
        assert.strictEqual(pod.status?.phase, "Running")
      }
      for (const claim of yield* S.listNodeClaims) {
        const node = nodes.find((candidate) => candidate.metadata.name === claim.status?.nodeName)
        assert.isDefined(node)
        assert.strictEqual(node?.spec.providerID, claim.status?.providerID)
        assert.strictEqual(node?.metadata.labels?.[Labels.NodeRegistered], "true")
        assert.strictEqual(node?.metadata.labels?.[Labels.NodeInitialized], "true")
        assert.strictEqual(node?.metadata.labels?.[Labels.NodePool], "default")
        assert.include(node?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
        assert.deepStrictEqual(
          node?.metadata.ownerReferences?.map((owner) => [owner.kind, owner.name]),
          [["NodeClaim", claim.metadata.name]]
        )
        assert.isFalse(
          (node?.spec.taints ?? []).some((taint) => taint.key === "karpenter.sh/unregistered"),
          "the unregistered taint is gone"
        )
        for (const type of [ConditionTypes.Launched, ConditionTypes.Registered, ConditionTypes.Initialized]) {
          assert.strictEqual(S.conditionOf(claim.status?.conditions, type)?.status, "True", type)
        }
      }
      // Nothing more to do: no further NodeClaims.
      yield* S.advance(20_000, 5_000)
      assert.strictEqual((yield* S.listNodeClaims).length, claims.length)
    }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("the NodePool's limits stop NodeClaims that would exceed them", () =>
    Effect.gen(function* () {
      yield* fakeCluster(S.nodePool("default", { limits: { cpu: "3" } }))
      // Each pod needs a node of its own (anti-affinity on the hostname).
      const spread = {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: { app: "spread" } }, topologyKey: Labels.Hostname }
            ]
          }
        }
      }
      for (const name of ["a", "b", "c"]) {
        yield* S.createPendingPod(S.pod(name, { labels: { app: "spread" }, spec: spread }))
      }
      yield* S.settle
      yield* S.advance(1_000, 250)
      // The first NodeClaim (2 cpu, the cheapest) fits the limit; a second would make 4.
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      assert.strictEqual(claims[0]?.status?.capacity?.cpu, "2")
    }).pipe(Effect.provide(S.fakeBase))
  )
})

describe("Provisioner.readyNodePools", S.controllerSuite, () => {
  it.effect("an unchanged NodePool is the same input from pass to pass; a changed one is a new input", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", kwokPool))
      const services = yield* Layer.build(S.karpenter())
      yield* S.settle
      const ready = Effect.provide(Provisioner.readyNodePools(), services)
      const [first] = yield* ready
      const [again] = yield* ready
      assert.isDefined(first)
      assert.strictEqual(again, first)
      yield* kube.patch(Resources.NodePools, "default", {
        type: "merge",
        patch: { spec: { template: { metadata: { labels: { team: "b" } } } } }
      })
      yield* S.settle
      const [changed] = yield* ready
      assert.notStrictEqual(changed, first)
      assert.strictEqual(changed?.nodePool.spec.template.metadata?.labels?.team, "b")
      assert.strictEqual(changed?.instanceTypes, first?.instanceTypes)
    }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("Provisioner launch failures", S.controllerSuite, () => {
  it.effect("insufficient capacity deletes the NodeClaim, and the next pass launches another type", () =>
    Effect.gen(function* () {
      const fake = yield* fakeCluster()
      yield* fake.failNextCreate(
        new CloudProvider.InsufficientCapacity({ message: "insufficient capacity, small-instance-type is sold out" })
      )
      yield* S.createPendingPod(S.pod("a"))
      yield* S.settle
      yield* S.advance(1_000, 250)

      const [first] = yield* fake.createCalls
      assert.isDefined(first)
      const firstName = first?.metadata.name ?? ""
      // The NodeClaim is gone, with a warning event on it.
      assert.notInclude(
        (yield* S.listNodeClaims).map((claim) => claim.metadata.name),
        firstName
      )
      const events = (yield* S.listEvents).filter((event) => event.involvedObject.name === firstName)
      assert.deepStrictEqual(
        events.map((event) => [event.involvedObject.kind, event.type, event.reason]),
        [["NodeClaim", "Warning", "InsufficientCapacityError"]]
      )
      assert.include(events[0]?.message ?? "", "small-instance-type is sold out")

      // The provider now knows the cheapest type is unavailable (what a real provider's ICE cache does).
      yield* fake.setInstanceTypes(
        S.fakeCatalogue(
          FakeInstanceTypes.defaults().map((instanceType) =>
            instanceType.name === "small-instance-type"
              ? InstanceType.make({
                  ...instanceType,
                  offerings: instanceType.offerings.map((offering) => ({ ...offering, available: false }))
                })
              : instanceType
          )
        )
      )
      yield* S.advance(2_000, 250)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      const [second] = claims
      assert.notStrictEqual(second?.metadata.name, firstName)
      assert.notInclude(requirementOf(second!, Labels.InstanceType)?.values ?? [], "small-instance-type")
      assert.strictEqual(second?.metadata.labels?.[Labels.InstanceType], "default-instance-type")
      assert.strictEqual(
        S.conditionOf(second?.status?.conditions, ConditionTypes.Launched)?.status,
        "True",
        "the second NodeClaim launched"
      )
      // Every create after the failure was for the second NodeClaim.
      assert.deepStrictEqual(
        [...new Set((yield* fake.createCalls).map((call) => call.metadata.name))],
        [firstName, second?.metadata.name]
      )
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a pod needing a host port a DaemonSet holds gets at most one NodeClaim, batch after batch", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* kwokCluster()
      const ports = { ports: [{ containerPort: 8080, hostPort: 8080 }] }
      yield* S.createDaemonSet("agent", { containers: [S.container("100m", "64Mi", ports)] })
      yield* S.settle
      yield* S.createPod(S.pod("app"))
      yield* S.createPod(S.pod("hostport", { container: ports }))
      yield* S.settle
      // Every 5 s the pending pod changes, which opens a new batch.
      for (let i = 0; i < 6; i++) {
        yield* S.advance(5_000)
        yield* kube.patch(
          Resources.Pods,
          "hostport",
          { type: "merge", patch: { metadata: { labels: { app: "hostport", round: String(i) } } } },
          { namespace: "default" }
        )
      }
      yield* S.advance(5_000)

      // One NodeClaim, for `app`; the DaemonSet pod runs on its node and holds the port.
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      const pods = yield* S.listPods
      const nodeName = claims[0]?.metadata.name
      assert.strictEqual(pods.find((pod) => pod.metadata.name === "app")?.spec.nodeName, nodeName)
      assert.isTrue(pods.some((pod) => pod.metadata.name?.startsWith("agent-") && pod.spec.nodeName === nodeName))
      const hostport = pods.find((pod) => pod.metadata.name === "hostport")
      assert.isUndefined(hostport?.spec.nodeName)
      // The pod was told why, instead of getting a node it cannot use; its repeats within 5 minutes are dropped.
      const failed = (yield* S.listEvents).filter(
        (event) => event.involvedObject.name === "hostport" && event.reason === "FailedScheduling"
      )
      assert.strictEqual(failed.length, 1)
      assert.include(failed[0]?.message ?? "", "host port 8080/TCP")
      assert.strictEqual(failed[0]?.count, 1)
    }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("Provisioner DaemonSet overhead", S.controllerSuite, () => {
  /** The `agent` DaemonSet, its template requesting `cpu`. */
  const createAgent = (cpu: string) => S.createDaemonSet("agent", { containers: [S.container(cpu, "64Mi")] })

  /** A pod of the DaemonSet on `nodeName` requesting `cpu` (as a VPA or a LimitRange may have sized it). */
  const createAgentPod = (
    name: string,
    cpu: string,
    daemonSet: { readonly metadata: { readonly name?: string; readonly uid?: string } },
    options: { readonly controller?: boolean; readonly nodeName?: string } = {}
  ) => {
    const manifest = S.pod(name, { cpu, memory: "64Mi", labels: { app: "agent" } })
    return Effect.flatMap(Effect.service(KubeClient), (kube) =>
      kube.create(
        Resources.Pods,
        {
          ...manifest,
          metadata: {
            ...manifest.metadata,
            ownerReferences: [
              {
                apiVersion: "apps/v1",
                kind: "DaemonSet",
                name: daemonSet.metadata.name,
                uid: daemonSet.metadata.uid,
                controller: options.controller ?? true
              }
            ]
          },
          spec: { ...manifest.spec, nodeName: options.nodeName ?? "existing" }
        } as never,
        { namespace: "default" }
      )
    )
  }

  /** A node not managed by Karpenter where the daemon runs: too small for the pending pod. */
  const createExistingNode = S.createNode(
    S.node("existing", { capacity: { cpu: "1500m", memory: "4Gi", pods: "110" } })
  )

  /** Creates the pending pod `name` (1.5 CPU) and lets one provisioning pass run; returns the NodeClaims. */
  const provisionFor = (name: string) =>
    Effect.gen(function* () {
      yield* S.createPendingPod(S.pod(name, { cpu: "1500m", memory: "1Gi" }))
      yield* S.advance(2_000, 500)
      return yield* S.listNodeClaims
    })

  it.effect("sizes the NodeClaim by the DaemonSet's newest pod, not by its template (upstream getDaemonSetPods)", () =>
    Effect.gen(function* () {
      yield* fakeCluster()
      const daemonSet = yield* createAgent("1")
      yield* createExistingNode
      // The first pod has the template's request; the newer one the smaller request a VPA gave it.
      yield* createAgentPod("agent-1", "1", daemonSet)
      yield* S.advance(1_000)
      yield* createAgentPod("agent-2", "100m", daemonSet)

      const [claim, ...more] = yield* provisionFor("app")
      assert.lengthOf(more, 0)
      // 1.5 CPU + the daemon's 100m fits the small type (1.9 CPU allocatable); with the template's 1 CPU it would not.
      assert.deepStrictEqual(claim?.spec.resources?.requests, { cpu: "1600m", memory: "1088Mi", pods: "2" })
      assert.strictEqual(claim?.metadata.labels?.[Labels.InstanceType], "small-instance-type")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("falls back to the template while the DaemonSet controls no pod", () =>
    Effect.gen(function* () {
      yield* fakeCluster()
      const daemonSet = yield* createAgent("1")
      yield* createExistingNode
      // Owned by the DaemonSet but not controlled by it: not one of its pods (upstream metav1.IsControlledBy).
      yield* createAgentPod("adopted", "100m", daemonSet, { controller: false })

      const [claim, ...more] = yield* provisionFor("app")
      assert.lengthOf(more, 0)
      assert.deepStrictEqual(claim?.spec.resources?.requests, { cpu: "2500m", memory: "1088Mi", pods: "2" })
      assert.strictEqual(claim?.metadata.labels?.[Labels.InstanceType], "default-instance-type")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect(
    "keeps sizing by the last pod seen once the DaemonSet's pods are gone (upstream Cluster.UpdateDaemonSet)",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* fakeCluster()
        const daemonSet = yield* createAgent("1")
        yield* createExistingNode
        yield* createAgentPod("agent-1", "100m", daemonSet)
        const [first] = yield* provisionFor("first")
        assert.strictEqual(first?.metadata.labels?.[Labels.InstanceType], "small-instance-type")

        // The daemon's node goes, and its pod with it: no pod of the DaemonSet is left.
        yield* kube.delete(Resources.Pods, "agent-1", { namespace: "default", gracePeriodSeconds: 0 })
        yield* kube.delete(Resources.Nodes, "existing")
        assert.notInclude(
          (yield* S.listPods).map((pod) => pod.metadata.name),
          "agent-1"
        )
        const claims = yield* provisionFor("second")
        assert.lengthOf(claims, 2)
        const second = claims.find((claim) => claim.metadata.name !== first?.metadata.name)
        assert.deepStrictEqual(second?.spec.resources?.requests, { cpu: "1600m", memory: "1088Mi", pods: "2" })
        assert.strictEqual(second?.metadata.labels?.[Labels.InstanceType], "small-instance-type")
      }).pipe(Effect.provide(S.fakeBase))
  )
})

describe("Provisioner restart", S.controllerSuite, () => {
  it.effect("a process stopped before its NodeClaim launched leaves one NodeClaim, launched by the next (fake)", () =>
    Effect.gen(function* () {
      const fake = yield* Fake.FakeCloudProvider
      yield* fake.setInstanceTypes(S.fakeCatalogue())
      yield* S.createNodePool(S.nodePool("default"))
      const first = yield* S.startIn(S.karpenter())
      yield* S.createPendingPod(S.pod("a"))
      yield* S.settle
      // The launch keeps failing while the first process runs: stop it before any launch succeeds.
      yield* fake.setAllowedCreateCalls(0)
      yield* S.advance(1_000, 250)
      const [created, ...more] = yield* S.listNodeClaims
      assert.strictEqual(more.length, 0)
      assert.isUndefined(created?.status?.providerID, "not launched")
      assert.strictEqual((yield* fake.instances).size, 0)
      yield* Scope.close(first, Exit.void)
      yield* fake.setAllowedCreateCalls(Number.MAX_SAFE_INTEGER)

      yield* S.advance(5_000)
      const second = yield* S.startIn(S.karpenter())
      yield* S.advance(20_000, 500)
      const claims = yield* S.listNodeClaims
      assert.deepStrictEqual(
        claims.map((claim) => claim.metadata.name),
        [created?.metadata.name],
        "the pod got no second NodeClaim"
      )
      const providerID = claims[0]?.status?.providerID
      assert.isDefined(providerID, "launched by the new process")
      assert.deepStrictEqual([...(yield* fake.instances).keys()], [providerID], "one instance, no leak")
      assert.deepStrictEqual(
        [...new Set((yield* fake.createCalls).map((call) => call.metadata.name))],
        [created?.metadata.name]
      )
      yield* Scope.close(second, Exit.void)
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a restart between provisioning and launch leaves exactly one NodeClaim, Node and instance (KWOK)", () =>
    Effect.gen(function* () {
      const cloud = yield* CloudProvider.CloudProvider
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", kwokPool))
      yield* Layer.build(S.controlPlane)
      // The NodePool controllers make the NodePool Ready, then stop.
      const setup = yield* S.startIn(S.karpenter())
      yield* Scope.close(setup, Exit.void)
      // A process whose lifecycle controller never got to the NodeClaim: only the provisioner runs.
      const first = yield* S.startIn(Layer.effectDiscard(Provisioner.run()).pipe(Layer.provideMerge(S.processServices)))
      yield* S.createPod(S.pod("a"))
      yield* S.settle
      yield* S.advance(1_000, 250)
      const [created, ...more] = yield* S.listNodeClaims
      assert.strictEqual(more.length, 0)
      assert.isUndefined(created?.status?.providerID)
      yield* Scope.close(first, Exit.void)

      yield* S.advance(5_000)
      const second = yield* S.startIn(S.karpenter())
      yield* S.advance(20_000, 500)
      const claims = yield* S.listNodeClaims
      assert.deepStrictEqual(
        claims.map((claim) => claim.metadata.name),
        [created?.metadata.name]
      )
      assert.deepStrictEqual(
        (yield* S.listNodes).map((node) => node.metadata.name),
        [created?.metadata.name]
      )
      const instances = yield* cloud.list()
      assert.deepStrictEqual(
        instances.map((instance) => instance.status?.providerID),
        [claims[0]?.status?.providerID]
      )
      assert.strictEqual((yield* S.getPod("a")).spec.nodeName, created?.metadata.name)
      yield* Scope.close(second, Exit.void)
    }).pipe(Effect.provide(S.kwokBase))
  )
})
