/**
 * The informers the embedded control plane reads. `Cluster` starts one of each and hands them to every emulated
 * controller, so a pod is cached once however many controllers look at it; a controller started on its own makes
 * the ones it needs.
 */
import { Effect, type Scope, Stream } from "effect"
import type * as Namespace from "../api/Namespace.ts"
import type * as Node from "../api/Node.ts"
import type * as Pod from "../api/Pod.ts"
import type * as PodDisruptionBudget from "../api/PodDisruptionBudget.ts"
import type * as Storage from "../api/Storage.ts"
import type * as Workloads from "../api/Workloads.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import type * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Informer from "../runtime/Informer.ts"

/** One informer per kind the control plane reads. */
export interface Informers {
  readonly pods: Informer.Informer<Pod.Pod>
  readonly nodes: Informer.Informer<Node.Node>
  readonly namespaces: Informer.Informer<Namespace.Namespace>
  readonly deployments: Informer.Informer<Workloads.Deployment>
  readonly replicaSets: Informer.Informer<Workloads.ReplicaSet>
  readonly daemonSets: Informer.Informer<Workloads.DaemonSet>
  readonly podDisruptionBudgets: Informer.Informer<PodDisruptionBudget.PodDisruptionBudget>
  readonly persistentVolumeClaims: Informer.Informer<Storage.PersistentVolumeClaim>
  readonly persistentVolumes: Informer.Informer<Storage.PersistentVolume>
  readonly volumeAttachments: Informer.Informer<Storage.VolumeAttachment>
}

const resources: { readonly [K in keyof Informers]: Resource.Resource<Resource.KubeObject> } = {
  pods: Resources.Pods,
  nodes: Resources.Nodes,
  namespaces: Resources.Namespaces,
  deployments: Resources.Deployments,
  replicaSets: Resources.ReplicaSets,
  daemonSets: Resources.DaemonSets,
  podDisruptionBudgets: Resources.PodDisruptionBudgets,
  persistentVolumeClaims: Resources.PersistentVolumeClaims,
  persistentVolumes: Resources.PersistentVolumes,
  volumeAttachments: Resources.VolumeAttachments
}

/** The informer of `kind` from `shared`, or a new one started in the current Scope. */
export const resolve = <K extends keyof Informers>(
  shared: Partial<Informers> | undefined,
  kind: K
): Effect.Effect<Informers[K], never, KubeClient | Scope.Scope> => {
  const existing = shared?.[kind]
  if (existing !== undefined) return Effect.succeed(existing as Informers[K])
  return Informer.make(resources[kind]) as unknown as Effect.Effect<Informers[K], never, KubeClient | Scope.Scope>
}

/** Starts every informer in the current Scope. */
export const make: Effect.Effect<Informers, never, KubeClient | Scope.Scope> = Effect.gen(function* () {
  return {
    pods: yield* resolve(undefined, "pods"),
    nodes: yield* resolve(undefined, "nodes"),
    namespaces: yield* resolve(undefined, "namespaces"),
    deployments: yield* resolve(undefined, "deployments"),
    replicaSets: yield* resolve(undefined, "replicaSets"),
    daemonSets: yield* resolve(undefined, "daemonSets"),
    podDisruptionBudgets: yield* resolve(undefined, "podDisruptionBudgets"),
    persistentVolumeClaims: yield* resolve(undefined, "persistentVolumeClaims"),
    persistentVolumes: yield* resolve(undefined, "persistentVolumes"),
    volumeAttachments: yield* resolve(undefined, "volumeAttachments")
  }
})

/**
 * Runs `f` on every change `informer` publishes from now on, in a fiber of the current Scope. For relations a
 * Controller's `watches` cannot map synchronously (node → the pods on it, pod → the PDBs selecting it).
 */
export const onChange = Effect.fn("Informers.onChange")(function* <A extends Resource.KubeObject, R>(
  informer: Informer.Informer<A>,
  f: (change: Informer.Change<A>) => Effect.Effect<void, never, R>
): Effect.fn.Return<void, never, R | Scope.Scope> {
  const changes = yield* informer.subscribe
  yield* Stream.runForEach(changes, f).pipe(Effect.forkScoped)
})
