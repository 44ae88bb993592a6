/**
 * The embedded cluster's control plane: the parts of a real cluster Karpenter relies on, each a controller over the
 * KubeClient contract — kube-scheduler, kubelets, the Deployment/ReplicaSet and DaemonSet controllers, the disruption
 * (PDB status) controller, the pod garbage collector and CSI volume attachment. They take their informers from the
 * process's InformerCache: one per kind, shared with Karpenter's controllers when they run in the same process (`dev`,
 * `simulate`).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { KubeClient } from "../kube/KubeClient.ts"
import type { InformerCache } from "../runtime/InformerCache.ts"
import * as AttachDetach from "./AttachDetach.ts"
import * as DaemonSets from "./DaemonSets.ts"
import * as DisruptionBudgets from "./DisruptionBudgets.ts"
import * as Kubelet from "./Kubelet.ts"
import * as Scheduler from "./KubeScheduler.ts"
import * as PodGarbageCollector from "./PodGarbageCollector.ts"
import * as Workloads from "./WorkloadControllers.ts"

/** Tuning of the emulated components. */
export interface Options {
  readonly scheduler?: Scheduler.Options
  readonly kubelet?: Kubelet.Options
}

/** The running control plane. */
export interface ControlPlane {
  readonly scheduler: Scheduler.Scheduler
}

/** Starts the whole control plane in the current Scope. */
export const make = Effect.fn("Cluster.make")(function* (
  options?: Options
): Effect.fn.Return<ControlPlane, never, KubeClient | InformerCache | Scope.Scope> {
  const scheduler = yield* Scheduler.make(options?.scheduler)
  yield* Kubelet.make(options?.kubelet)
  yield* Workloads.make()
  yield* DaemonSets.make()
  yield* DisruptionBudgets.make()
  yield* PodGarbageCollector.make()
  yield* AttachDetach.make()
  return { scheduler }
})

/** The control plane with options, as a Layer. */
export const layerWith = (options: Options): Layer.Layer<never, never, KubeClient | InformerCache> =>
  Layer.effectDiscard(make(options))

/** The control plane with kube's defaults, as a Layer: built, it runs until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | InformerCache> = Layer.effectDiscard(make())
