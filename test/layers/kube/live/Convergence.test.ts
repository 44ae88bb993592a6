/**
 * Issue #7's acceptance for the live client: a whole Karpenter process (every controller, the KWOK provider) on the
 * live client, talking over real HTTP to the embedded cluster (in-memory API server, façade, emulated control plane),
 * provisions for a Deployment while faults are sprayed — dropped and expired watches, 500s, 409s, throttling and hung
 * requests. It converges: every pod bound and Running, exactly one NodeClaim and Node per pod, no duplicates.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as References from "effect/References"
import * as KwokCloudProvider from "../../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KWOKNodeClass from "../../../../src/api/KWOKNodeClass.ts"
import * as ControlPlane from "../../../../src/cluster/ControlPlane.ts"
import * as Faults from "../../../../src/cluster/http/Faults.ts"
import * as HttpApi from "../../../../src/cluster/http/HttpApi.ts"
import { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Controllers from "../../../../src/operator/Controllers.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as ClusterState from "../../../../src/state/Cluster.ts"
import * as Stub from "./Stub.ts"

const replicas = 4

const manifests = {
  nodeClass: {
    apiVersion: KWOKNodeClass.apiVersion,
    kind: KWOKNodeClass.kind,
    metadata: { name: "default" },
    spec: { nodeRegistrationDelay: "1s" }
  },
  nodePool: {
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name: "default" },
    spec: {
      template: {
        spec: {
          nodeClassRef: { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: "default" },
          requirements: [
            { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
            { key: "karpenter.sh/capacity-type", operator: "In", values: ["on-demand"] }
          ]
        }
      },
      // Nothing is consolidated while the test watches the counts.
      disruption: { consolidationPolicy: "WhenEmpty", consolidateAfter: "Never" }
    }
  },
  // One pod per node (required anti-affinity on the hostname), so the right answer is exactly `replicas` NodeClaims.
  deployment: {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default" },
    spec: {
      replicas,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [{ name: "web", image: "nginx", resources: { requests: { cpu: "500m", memory: "512Mi" } } }],
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { app: "web" } } }
              ]
            }
          }
        }
      }
    }
  }
}

/** The faults sprayed, one at a time, while the process works. */
const faults: ReadonlyArray<Faults.Fault | "drop" | "expire"> = [
  "drop",
  { code: 500, method: "GET", count: 3 },
  { code: 500, method: "PATCH", count: 2 },
  { code: 409, method: "PATCH", path: "/nodeclaims" },
  "expire",
  { code: 503, watch: true, count: 2 },
  { code: 500, method: "POST", path: "/nodeclaims" },
  { code: 429, method: "POST" },
  { hang: true, method: "GET" },
  { code: 500, method: "DELETE" },
  "drop",
  { hang: true, method: "PATCH" },
  { code: 409, method: "PUT" },
  { code: 500, method: "POST", path: "/nodes" }
]

describe("live client convergence", () => {
  it.live(
    "every controller on the live client provisions exactly once per pod while faults are sprayed",
    () =>
      Effect.gen(function* () {
        // The cluster: the in-memory API server, its emulated control plane, served over HTTP with a fault switch.
        const cluster = yield* Layer.build(Layer.merge(MemoryKube.layer(), Faults.Faults.layer))
        const backend = Context.get(cluster, KubeClient.KubeClient)
        const faultSwitch = Context.get(cluster, Faults.Faults)
        yield* Layer.build(
          ControlPlane.layer.pipe(
            Layer.provide(Layer.fresh(InformerCache.layer)),
            Layer.provide(Layer.succeedContext(cluster))
          )
        )
        const served = yield* Effect.provide(HttpApi.serve(), cluster)

        yield* backend.create(Resources.KWOKNodeClasses, manifests.nodeClass as never)
        yield* backend.create(Resources.NodePools, manifests.nodePool as never)

        // The Karpenter process: every controller and the KWOK provider, on the live client only.
        const live = LiveKube.layer({
          server: served.url,
          requestTimeout: "1 second",
          retryDelay: "20 millis",
          maxRetryDelay: "200 millis"
        }).pipe(Layer.orDie)
        yield* Layer.build(
          Controllers.layer({ batchIdle: "200 millis", batchMax: "1 second" }).pipe(
            Layer.provideMerge(Layer.mergeAll(EventRecorder.layer, ClusterState.layer, KwokCloudProvider.layer())),
            Layer.provideMerge(InformerCache.layer),
            Layer.provide(live)
          )
        )

        // Pods provision once the NodePool is Ready; waiting for it keeps the run short (pods are retried every 10 s).
        yield* Stub.eventually(
          Effect.map(backend.get(Resources.NodePools, "default"), (nodePool) =>
            (nodePool.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
          )
        )
        yield* backend.create(Resources.Deployments, manifests.deployment as never)
        const spraying = yield* Effect.forkChild(
          Effect.forEach(
            faults,
            (fault) =>
              Effect.gen(function* () {
                yield* Effect.sleep(yield* Random.nextIntBetween(100, 400))
                if (fault === "drop") yield* faultSwitch.dropWatches
                else if (fault === "expire") yield* faultSwitch.expireWatches
                else yield* faultSwitch.inject(fault)
              }),
            { discard: true }
          )
        )

        yield* Fiber.join(spraying)

        const state = Effect.gen(function* () {
          const pods = (yield* backend.list(Resources.Pods, { namespace: "default" })).items
          const nodeClaims = (yield* backend.list(Resources.NodeClaims)).items
          const nodes = (yield* backend.list(Resources.Nodes)).items
          return { pods, nodeClaims, nodes }
        })
        const converged = Effect.map(
          state,
          ({ pods, nodeClaims, nodes }) =>
            pods.length === replicas &&
            pods.every((pod) => pod.status?.phase === "Running" && pod.spec.nodeName !== undefined) &&
            nodes.length === replicas &&
            nodeClaims.length === replicas &&
            nodeClaims.every((claim) =>
              claim.status?.conditions?.some(
                (condition) => condition.type === "Initialized" && condition.status === "True"
              )
            )
        )
        yield* Stub.eventually(converged, { times: 3000 }).pipe(
          Effect.catch((error) =>
            Effect.flatMap(state, ({ pods, nodeClaims, nodes }) =>
              Effect.die(
                `${error}: ${JSON.stringify({
                  pods: pods.map((pod) => [pod.metadata.name, pod.status?.phase, pod.spec.nodeName]),
                  nodeClaims: nodeClaims.map((claim) => [
                    claim.metadata.name,
                    claim.status?.nodeName,
                    claim.status?.conditions?.map((c) => `${c.type}=${c.status}`).join(",")
                  ]),
                  nodes: nodes.map((node) => node.metadata.name)
                })}`
              )
            )
          )
        )

        const { pods, nodeClaims, nodes } = yield* state
        const podNodes = new Set(pods.map((pod) => pod.spec.nodeName))
        assert.strictEqual(podNodes.size, replicas, "one pod per node")
        const claimNodes = new Set(nodeClaims.map((claim) => claim.status?.nodeName))
        assert.deepStrictEqual([...claimNodes].sort(), [...podNodes].sort() as Array<string | undefined>)
        const providerIDs = new Set(nodes.map((node) => node.spec.providerID))
        assert.deepStrictEqual([...providerIDs].sort(), nodeClaims.map((claim) => claim.status?.providerID).sort())
      }).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    { timeout: 60_000 }
  )
})
