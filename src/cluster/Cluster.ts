/**
 * The embedded cluster's control plane: the parts of a real cluster Karpenter relies on, each a controller over the
 * KubeClient contract — kube-scheduler, kubelets, the Deployment/ReplicaSet and DaemonSet controllers, the disruption
 * (PDB status) controller, the pod garbage collector and CSI volume attachment. They share one informer per kind.
 */
import { Effect, Layer, type Scope } from "effect"
import type { KubeClient } from "../kube/KubeClient.ts"
import * as AttachDetach from "./AttachDetach.ts"
import * as DaemonSets from "./DaemonSets.ts"
import * as DisruptionBudgets from "./DisruptionBudgets.ts"
import * as Informers from "./Informers.ts"
import * as Kubelet from "./Kubelet.ts"
import * as PodGarbageCollector from "./PodGarbageCollector.ts"
import * as Scheduler from "./Scheduler.ts"
import * as Workloads from "./Workloads.ts"

/** Tuning of the emulated components. */
export interface Options {
  readonly scheduler?: Omit<Scheduler.Options, "informers">
  readonly kubelet?: Omit<Kubelet.Options, "informers">
}

/** The running control plane. */
export interface ControlPlane {
  readonly informers: Informers.Informers
  readonly scheduler: Scheduler.Scheduler
}

/** Starts the whole control plane in the current Scope. */
export const make = Effect.fn("Cluster.make")(function* (
  options?: Options
): Effect.fn.Return<ControlPlane, never, KubeClient | Scope.Scope> {
  const informers = yield* Informers.make
  const scheduler = yield* Scheduler.make({ ...options?.scheduler, informers })
  yield* Kubelet.make({ ...options?.kubelet, informers })
  yield* Workloads.make({ informers })
  yield* DaemonSets.make({ informers })
  yield* DisruptionBudgets.make({ informers })
  yield* PodGarbageCollector.make({ informers })
  yield* AttachDetach.make({ informers })
  return { informers, scheduler }
})

/** The control plane with options, as a Layer. */
export const layerWith = (options: Options): Layer.Layer<never, never, KubeClient> => Layer.effectDiscard(make(options))

/** The control plane with kube's defaults, as a Layer: built, it runs until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient> = Layer.effectDiscard(make())
