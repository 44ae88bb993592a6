/**
 * The `capacitybuffer` controller (upstream v1.14 `pkg/controllers/capacitybuffer/controller.go`, behind the
 * CapacityBuffer feature gate): resolves each buffer's pod template and replicas into its status
 * (ReadyForProvisioning, `replicas`, `podTemplateRef`/`podTemplateGeneration`), again every 30 s and whenever a
 * PodTemplate or workload it names changes. The provisioner reads the ready buffers' virtual pods
 * ({@link virtualPods}) in every pass.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Api from "../../api/CapacityBuffer.ts"
import type { Pod } from "../../api/Pod.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resource from "../../kube/Resource.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Controller from "../../runtime/Controller.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import * as Result from "../../runtime/Result.ts"
import * as CapacityBuffers from "./CapacityBuffers.ts"

/** What the operator's options say of CapacityBuffers. */
export interface Options {
  /** The CapacityBuffer feature gate (upstream v1.14, off by default). */
  readonly capacityBuffer?: boolean
}

/** Upstream's requeue: workload replicas change without an event on the buffer. */
export const resyncInterval = "30 seconds"

/** The PodTemplates and workloads buffers resolve against, from the process's caches. */
export const workloads = Effect.gen(function* () {
  const [podTemplates, deployments, statefulSets, replicaSets] = yield* Effect.all([
    InformerCache.informer(Resources.PodTemplates),
    InformerCache.informer(Resources.Deployments),
    InformerCache.informer(Resources.StatefulSets),
    InformerCache.informer(Resources.ReplicaSets)
  ])
  return CapacityBuffers.workloadsOf({
    podTemplates: yield* podTemplates.list(),
    deployments: yield* deployments.list(),
    statefulSets: yield* statefulSets.list(),
    replicaSets: yield* replicaSets.list()
  })
})

/**
 * The virtual pods of every buffer ready for provisioning (upstream `virtualpods.Cache.GetAll`), buffers by key; a
 * buffer whose reference no longer resolves holds no room.
 */
export const virtualPods = Effect.gen(function* () {
  const buffers = yield* InformerCache.informer(Resources.CapacityBuffers)
  const ready = (yield* buffers.list()).filter(CapacityBuffers.isReadyForProvisioning)
  if (ready.length === 0) return [] as ReadonlyArray<Pod>
  const resolveAgainst = yield* workloads
  return ready.flatMap((buffer) => {
    const resolution = CapacityBuffers.resolve(buffer, resolveAgainst)
    return resolution._tag === "Resolved" ? CapacityBuffers.virtualPods(buffer, resolution.template) : []
  })
})

/** Starts the `capacitybuffer` controller. */
export const make = Effect.fn("CapacityBufferController.make")(function* () {
  const kube = yield* KubeClient
  const buffers = yield* InformerCache.informer(Resources.CapacityBuffers)

  // The keys of the buffers in `namespace` whose reference `matches`.
  const referring = (namespace: string | undefined, matches: (buffer: Api.CapacityBuffer) => boolean) =>
    Effect.map(buffers.list(), (all) =>
      all.filter((buffer) => buffer.metadata.namespace === namespace && matches(buffer)).map(Resource.keyOf)
    )
  const scalableWatch = <A extends Resource.KubeObject>(resource: Resource.Resource<A>, kind: string) => ({
    source: resource,
    map: (workload: A) =>
      referring(
        workload.metadata.namespace,
        (buffer) => buffer.spec.scalableRef?.kind === kind && buffer.spec.scalableRef.name === workload.metadata.name
      )
  })

  const reconcile = Effect.fn("CapacityBufferController.reconcile")(function* (buffer: Api.CapacityBuffer) {
    const resolution = CapacityBuffers.resolve(buffer, yield* workloads)
    const status = CapacityBuffers.status(buffer, resolution, yield* Clock.currentTimeMillis)
    if (JSON.stringify(status) !== JSON.stringify(buffer.status ?? {})) {
      // The status as a whole, with the resourceVersion as precondition: a newer spec is resolved on the next run.
      yield* kube.patch(
        Resources.CapacityBuffers,
        buffer.metadata.name ?? "",
        { type: "merge", patch: { metadata: { resourceVersion: buffer.metadata.resourceVersion }, status } },
        { subresource: "status", namespace: buffer.metadata.namespace ?? "default" }
      )
    }
    return Result.requeueAfter(resyncInterval)
  })

  return yield* Controller.make({
    name: "capacitybuffer",
    for: buffers,
    watches: [
      {
        source: Resources.PodTemplates,
        map: (podTemplate: Api.PodTemplate) =>
          referring(
            podTemplate.metadata.namespace,
            (buffer) => buffer.spec.podTemplateRef?.name === podTemplate.metadata.name
          )
      },
      scalableWatch(Resources.Deployments, "Deployment"),
      scalableWatch(Resources.StatefulSets, "StatefulSet"),
      scalableWatch(Resources.ReplicaSets, "ReplicaSet")
    ],
    reconcile: (_key, buffer) => (buffer === undefined ? Effect.succeed(Result.done) : reconcile(buffer))
  })
})
