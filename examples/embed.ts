/**
 * Embedding karpenter-effect in another Effect program: the provisioning and disruption controllers (and the
 * NodePool controllers that mark NodePools Ready) run on this program's own KubeClient and CloudProvider layers —
 * here the in-memory API server and the scriptable fake provider, composed by hand. The program applies a NodePool
 * and pending pods, waits for the NodeClaim the provisioner creates for them, and prints it.
 *
 * Run it with `npm run build && node dist/examples/embed.js`. From the published package the same modules are
 * `karpenter-effect/operator/Controllers`, `karpenter-effect/controllers/provisioning/Provisioner`,
 * `karpenter-effect/layers/kube/memory`, `karpenter-effect/layers/cloudprovider/fake`, and so on.
 */
import { pathToFileURL } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fake from "../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../layers/cloudprovider/fake/InstanceTypes.ts"
import * as MemoryKube from "../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../src/api/Labels.ts"
import type { NodeClaim } from "../src/api/NodeClaim.ts"
import * as Disruption from "../src/controllers/disruption/Disruption.ts"
import * as NodePoolControllers from "../src/controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../src/controllers/provisioning/Provisioner.ts"
import { EventRecorder } from "../src/kube/EventRecorder.ts"
import { KubeClient } from "../src/kube/KubeClient.ts"
import * as Resources from "../src/kube/Resources.ts"
import * as InformerCache from "../src/runtime/InformerCache.ts"
import * as ClusterState from "../src/state/Cluster.ts"

/** The NodePool the program applies: any of the fake provider's instance types, on-demand only. */
export const nodePool: typeof Resources.NodePools.schema.Encoded = {
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name: "embedded" },
  spec: {
    template: {
      spec: {
        nodeClassRef: {
          group: FakeInstanceTypes.NodeClassGroup,
          kind: FakeInstanceTypes.NodeClassKind,
          name: "default"
        },
        requirements: [{ key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeOnDemand] }]
      }
    }
  }
}

/** A pod asking for half a CPU, as the program's workload. */
export const pod = (name: string): typeof Resources.Pods.schema.Encoded => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: { app: "embedded" } },
  spec: { containers: [{ name: "app", image: "app", resources: { requests: { cpu: "500m", memory: "512Mi" } } }] }
})

/** The pods the program applies. */
export const podNames = ["web-1", "web-2", "web-3"]

/**
 * What this program brings: its KubeClient (in memory) and CloudProvider (the fake), plus the services every
 * Karpenter process has — the informer cache, the event recorder and the cluster state — built on them.
 */
export const environment = Layer.mergeAll(EventRecorder.layer, ClusterState.layer).pipe(
  Layer.provideMerge(InformerCache.layer),
  Layer.provideMerge(Layer.mergeAll(MemoryKube.layer(), Fake.layer))
)

/** The embedded controllers: NodePool readiness, provisioning and disruption. */
export const controllers = (options?: Provisioner.Options & Disruption.Options) =>
  Layer.mergeAll(
    NodePoolControllers.layer,
    Layer.effectDiscard(Provisioner.run(options)),
    Layer.effectDiscard(Disruption.make(options))
  )

/** Creates a pod and marks it as kube-scheduler marks a pod it cannot place (this program runs no kube-scheduler). */
const createPendingPod = Effect.fn("embed.createPendingPod")(function* (name: string) {
  const kube = yield* KubeClient
  yield* kube.create(Resources.Pods, pod(name), { namespace: "default" })
  yield* kube.patch(
    Resources.Pods,
    name,
    {
      type: "merge",
      patch: {
        status: {
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "no nodes" }]
        }
      }
    },
    { namespace: "default", subresource: "status" }
  )
})

/**
 * Applies the NodePool and the pending pods, runs the controllers and returns the first NodeClaim they create; the
 * controllers stop when it returns.
 */
export const program = (options?: Provisioner.Options & Disruption.Options) =>
  Effect.scoped(
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* kube.create(Resources.NodePools, nodePool)
      // Watch from before the controllers start, so the creation cannot be missed.
      const { resourceVersion } = yield* kube.list(Resources.NodeClaims)
      const created = kube.watch(Resources.NodeClaims, { resourceVersion }).pipe(
        Stream.flatMap((event) => (event.type === "ADDED" ? Stream.make(event.object) : Stream.empty)),
        Stream.runHead
      )
      yield* Effect.forEach(podNames, createPendingPod, { discard: true })
      yield* Layer.build(controllers(options))
      return yield* Effect.flatMap(created, (claim) =>
        Option.isSome(claim) ? Effect.succeed(claim.value) : Effect.die("the NodeClaim watch ended")
      )
    })
  )

/** One line about a NodeClaim: name, NodePool, requested resources and how many instance types it allows. */
export const describe = (claim: NodeClaim): string => {
  const instanceTypes = claim.spec.requirements.find((requirement) => requirement.key === Labels.InstanceType)
  const requests = Object.entries(claim.spec.resources?.requests ?? {})
    .map(([name, quantity]) => `${name}=${quantity}`)
    .join(",")
  return [
    `NodeClaim ${claim.metadata.name}`,
    `nodepool=${claim.metadata.labels?.[Labels.NodePool]}`,
    `requests=${requests}`,
    `instance-types=${instanceTypes?.values?.length ?? 0}`
  ].join(" ")
}

/** The whole program: its environment, the run, the NodeClaim printed. */
export const main = program().pipe(
  Effect.tap((claim) => Console.log(describe(claim))),
  Effect.provide(environment)
)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main)
}
