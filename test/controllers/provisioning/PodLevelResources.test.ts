/**
 * Pod-level resources (`spec.resources` of a Pod, Kubernetes 1.32+; counted by upstream Karpenter since v1.8): the
 * pod's requests are its pod-level requests where set (cpu, memory, hugepages), its containers' aggregate otherwise,
 * plus overhead — in provisioning, DaemonSet overhead and the embedded kube-scheduler; the API server rejects
 * pod-level resources its validation does not allow.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as Labels from "../../../src/api/Labels.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"

/** A fake-provider environment with a Ready NodePool and the controllers running. */
const fakeCluster = Effect.gen(function* () {
  const fake = yield* Fake.FakeCloudProvider
  yield* fake.setInstanceTypes(S.fakeCatalogue())
  yield* S.createNodePool(S.nodePool("default"))
  yield* Layer.build(S.karpenter())
  yield* S.settle
})

/** A pod whose one container requests 500m / 512Mi and whose pod-level resources are `resources`. */
const podWithPodLevel = (name: string, resources: Record<string, unknown>) =>
  S.pod(name, { cpu: "500m", memory: "512Mi", spec: { resources } })

describe("Pod-level resources: provisioning", S.controllerSuite, () => {
  it.effect("a pod whose pod-level requests exceed its containers' gets a NodeClaim sized by the pod-level value", () =>
    Effect.gen(function* () {
      yield* fakeCluster
      // 3 CPU does not fit the small type (1.9 allocatable); the container's 500m would.
      yield* S.createPendingPod(podWithPodLevel("app", { requests: { cpu: "3", memory: "1Gi" } }))
      yield* S.advance(2_000, 500)

      const [claim, ...more] = yield* S.listNodeClaims
      assert.lengthOf(more, 0)
      assert.deepStrictEqual(claim?.spec.resources?.requests, { cpu: "3", memory: "1Gi", pods: "1" })
      assert.strictEqual(claim?.metadata.labels?.[Labels.InstanceType], "default-instance-type")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("pod-level limits alone stand for the requests no container makes (the API server's defaulting)", () =>
    Effect.gen(function* () {
      yield* fakeCluster
      // No container requests memory: the pod-level limit is its request. cpu stays the containers' 500m.
      yield* S.createPendingPod(
        S.pod("app", {
          spec: {
            containers: [{ name: "app", resources: { requests: { cpu: "500m" } } }],
            resources: { limits: { cpu: "1", memory: "3Gi" } }
          }
        })
      )
      yield* S.advance(2_000, 500)

      const [claim, ...more] = yield* S.listNodeClaims
      assert.lengthOf(more, 0)
      assert.deepStrictEqual(claim?.spec.resources?.requests, { cpu: "500m", memory: "3Gi", pods: "1" })
      assert.strictEqual(claim?.metadata.labels?.[Labels.InstanceType], "default-instance-type")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a DaemonSet whose template has pod-level requests counts them as overhead", () =>
    Effect.gen(function* () {
      yield* fakeCluster
      yield* S.createDaemonSet("agent", {
        containers: [S.container("100m", "64Mi")],
        resources: { requests: { cpu: "1", memory: "64Mi" } }
      })
      yield* S.settle
      // 1.5 CPU + the daemon's 100m would fit the small type; with its pod-level 1 CPU it does not.
      yield* S.createPendingPod(S.pod("app", { cpu: "1500m", memory: "1Gi" }))
      yield* S.advance(2_000, 500)

      const [claim, ...more] = yield* S.listNodeClaims
      assert.lengthOf(more, 0)
      assert.deepStrictEqual(claim?.spec.resources?.requests, { cpu: "2500m", memory: "1088Mi", pods: "2" })
      assert.strictEqual(claim?.metadata.labels?.[Labels.InstanceType], "default-instance-type")
    }).pipe(Effect.provide(S.fakeBase))
  )
})

describe("Pod-level resources: the embedded kube-scheduler", S.controllerSuite, () => {
  it.effect("binds a pod only where its pod-level requests fit", () =>
    Effect.gen(function* () {
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
      yield* Layer.build(Layer.mergeAll(S.karpenter(), S.controlPlane))
      yield* S.settle
      // A Ready node with room for the container's 500m but not for the pod's 2 CPU.
      yield* S.createNode(S.node("existing", { capacity: { cpu: "1500m", memory: "4Gi", pods: "110" } }))
      yield* S.createPod(podWithPodLevel("app", { requests: { cpu: "2", memory: "1Gi" } }))
      yield* S.advance(60_000, 1_000)

      const pod = yield* S.getPod("app")
      assert.isDefined(pod.spec.nodeName)
      assert.notStrictEqual(pod.spec.nodeName, "existing")
      const [claim] = yield* S.listNodeClaims
      assert.strictEqual(claim?.spec.resources?.requests?.cpu, "2")
    }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("Pod-level resources: validation", S.controllerSuite, () => {
  it.effect("the API server rejects pod-level resources kube-apiserver does not allow", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const rejected = (resources: Record<string, unknown>) =>
        Effect.map(
          Effect.flip(
            kube.create(Resources.Pods, podWithPodLevel("bad", resources) as never, { namespace: "default" })
          ),
          (error) => String((error as { readonly message?: string }).message)
        )
      // Below the containers' aggregate (500m).
      assert.include(
        yield* rejected({ requests: { cpu: "100m" } }),
        'spec.resources.requests[cpu]: Invalid value: "100m": must be greater than or equal to aggregate container requests of 500m'
      )
      // Only cpu, memory and hugepages.
      assert.include(
        yield* rejected({ requests: { "ephemeral-storage": "1Gi" } }),
        'spec.resources.requests[ephemeral-storage]: Unsupported value: "ephemeral-storage": supported values: "cpu", "hugepages-", "memory"'
      )
      // Requests at most the limits.
      assert.include(
        yield* rejected({ requests: { cpu: "2" }, limits: { cpu: "1" } }),
        'spec.resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
      )
      // No container limit above the pod's.
      const pod = S.pod("bad", { spec: { resources: { limits: { cpu: "2" } } } })
      const overLimit = yield* Effect.flip(
        kube.create(
          Resources.Pods,
          {
            ...pod,
            spec: { ...pod.spec, containers: [S.container("1", "1Gi", { resources: { limits: { cpu: "3" } } })] }
          } as never,
          { namespace: "default" }
        )
      )
      assert.include(
        String((overLimit as { readonly message?: string }).message),
        'spec.resources.containers[0][cpu].limits: Invalid value: "3": must be less than or equal to pod limits of 2'
      )
      // A valid pod-level spec is accepted and kept.
      const created = yield* kube.create(
        Resources.Pods,
        podWithPodLevel("good", { requests: { cpu: "1" }, limits: { cpu: "2", memory: "1Gi" } }) as never,
        { namespace: "default" }
      )
      assert.deepStrictEqual(created.spec.resources, { requests: { cpu: "1" }, limits: { cpu: "2", memory: "1Gi" } })
    }).pipe(Effect.provide(S.fakeBase))
  )
})
