/**
 * The disruption controller of the embedded cluster: keeps every PodDisruptionBudget's status current, which the
 * eviction API checks (kube-api.md I2, I3; upstream `pkg/controller/disruption/disruption.go`).
 *
 * - pods: those of the PDB's namespace its selector selects (an empty selector selects all, a missing one none);
 * - `expectedPods`: the number of pods for an integer `minAvailable`; otherwise the summed scale of the pods'
 *   controllers (a ReplicaSet, or the Deployment above it), pods without a controller left out. A pod whose
 *   controller has no scale (a DaemonSet, a StatefulSet here) fails the sync, as upstream: `disruptionsAllowed` 0 and
 *   `DisruptionAllowed=False, reason SyncFailed`, observedGeneration left behind;
 * - `desiredHealthy`: `minAvailable`, a percentage of expected rounded up, or expected minus `maxUnavailable`
 *   (rounded up), at least 0;
 * - `currentHealthy`: Ready pods not being deleted and not in `disruptedPods`;
 * - `disruptionsAllowed`: `currentHealthy − desiredHealthy`, at least 0, and 0 without expected pods;
 * - `disruptedPods` (written by evictions) loses entries for pods being deleted or gone, and entries older than
 *   2 minutes; the PDB is looked at again when the next one expires.
 *
 * Recomputed when the PDB, a pod, a ReplicaSet or a Deployment of its namespace changes. Writes carry the
 * resourceVersion they were computed from, so an eviction's decrement in between is never overwritten.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Meta from "../api/Meta.ts"
import type * as Pod from "../api/Pod.ts"
import type * as PodDisruptionBudget from "../api/PodDisruptionBudget.ts"
import type * as WorkloadsApi from "../api/Workloads.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as LabelSelector from "../kube/LabelSelector.ts"
import * as Patch from "../kube/Patch.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import * as Objects from "./Objects.ts"

/** How long an eviction's entry in `disruptedPods` holds a pod out of `currentHealthy` (upstream `DeletionTimeout`). */
export const DeletionTimeoutMillis = 2 * 60 * 1000

/** A pod's controller and its desired scale, or why there is none. */
export type ControllerScale =
  | { readonly _tag: "Scale"; readonly uid: string; readonly scale: number }
  | { readonly _tag: "Unmanaged" }
  | { readonly _tag: "NotFound"; readonly message: string }

/** The status numbers of a PDB. */
export interface Status {
  readonly expectedPods: number
  readonly desiredHealthy: number
  readonly currentHealthy: number
  readonly disruptionsAllowed: number
  readonly disruptedPods: Readonly<Record<string, string>>
}

/** The computed status and when to look again (a `disruptedPods` entry expiring), or why the sync failed. */
export type Computation =
  | { readonly ok: true; readonly status: Status; readonly recheckAfterMillis: number | undefined }
  | { readonly ok: false; readonly message: string }

/**
 * The status of `pdb` over the pods its selector selects (upstream `getExpectedPodCount`, `buildDisruptedPodMap`,
 * `countHealthyPods`, `updatePdbStatus`). `scaleOf` finds a pod's controller scale.
 */
export const compute = (
  pdb: PodDisruptionBudget.PodDisruptionBudget,
  pods: ReadonlyArray<Pod.Pod>,
  scaleOf: (pod: Pod.Pod) => ControllerScale,
  now: number
): Computation => {
  const expectedScale = (): { ok: true; value: number } | { ok: false; message: string } => {
    const scales = new Map<string, number>()
    for (const pod of pods) {
      const found = scaleOf(pod)
      if (found._tag === "Unmanaged") continue
      if (found._tag === "NotFound") return { ok: false, message: found.message }
      scales.set(found.uid, found.scale)
    }
    let total = 0
    for (const scale of scales.values()) total += scale
    return { ok: true, value: total }
  }

  let expectedPods = 0
  let desiredHealthy = 0
  const { minAvailable, maxUnavailable } = pdb.spec
  if (maxUnavailable !== undefined) {
    const expected = expectedScale()
    if (!expected.ok) return expected
    const unavailable = Objects.scaledValue(maxUnavailable, expected.value, true)
    if (!unavailable.ok) return unavailable
    expectedPods = expected.value
    desiredHealthy = Math.max(0, expected.value - unavailable.value)
  } else if (typeof minAvailable === "number") {
    expectedPods = pods.length
    desiredHealthy = minAvailable
  } else if (minAvailable !== undefined) {
    const expected = expectedScale()
    if (!expected.ok) return expected
    const available = Objects.scaledValue(minAvailable, expected.value, true)
    if (!available.ok) return available
    expectedPods = expected.value
    desiredHealthy = available.value
  }

  const previous = pdb.status?.disruptedPods ?? {}
  const disruptedPods: Record<string, string> = {}
  let recheckAt: number | undefined
  for (const pod of pods) {
    const name = pod.metadata.name ?? ""
    if (!Object.hasOwn(previous, name) || Objects.isTerminating(pod)) continue
    const disruptedAt = Objects.millisOf(previous[name])
    if (disruptedAt === undefined) continue
    const expires = disruptedAt + DeletionTimeoutMillis
    // Upstream keeps an entry expiring right now and rechecks at once; on a virtual clock that would spin.
    if (expires <= now) continue
    disruptedPods[name] = previous[name]!
    recheckAt = recheckAt === undefined ? expires : Math.min(recheckAt, expires)
  }

  let currentHealthy = 0
  for (const pod of pods) {
    if (Objects.isTerminating(pod)) continue
    const disruptedAt = Objects.millisOf(disruptedPods[pod.metadata.name ?? ""])
    if (disruptedAt !== undefined && disruptedAt + DeletionTimeoutMillis > now) continue
    if (Objects.isPodReady(pod)) currentHealthy++
  }
  const disruptionsAllowed = expectedPods <= 0 ? 0 : Math.max(0, currentHealthy - desiredHealthy)
  return {
    ok: true,
    status: { expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed, disruptedPods },
    recheckAfterMillis: recheckAt === undefined ? undefined : Math.max(0, recheckAt - now)
  }
}

/** The `DisruptionAllowed` condition as upstream words it. */
interface AllowedCondition {
  readonly type: "DisruptionAllowed"
  readonly status: "True" | "False"
  readonly reason: "SufficientPods" | "InsufficientPods" | "SyncFailed"
  readonly message: string
  readonly observedGeneration: number
  readonly lastTransitionTime: string
}

/** Starts the disruption controller in the current Scope. */
export const make = Effect.fn("DisruptionBudgets.make")(function* (): Effect.fn.Return<
  Controller.Controller<PodDisruptionBudget.PodDisruptionBudget>,
  never,
  KubeClient | InformerCache.InformerCache | Scope.Scope
> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const replicaSetInformer = yield* InformerCache.informer(Resources.ReplicaSets)
  const deploymentInformer = yield* InformerCache.informer(Resources.Deployments)
  const budgetInformer = yield* InformerCache.informer(Resources.PodDisruptionBudgets)
  // The status schema drops conditions on decode, so the controller remembers what it last wrote.
  const written = new Map<string, AllowedCondition>()

  const scaleOf = (
    replicaSets: ReadonlyMap<string, WorkloadsApi.ReplicaSet>,
    deployments: ReadonlyMap<string, WorkloadsApi.Deployment>
  ) => {
    const deploymentScale = (namespace: string, name: string, uid: string): ControllerScale | undefined => {
      const deployment = deployments.get(`${namespace}/${name}`)
      return deployment === undefined || deployment.metadata.uid !== uid
        ? undefined
        : { _tag: "Scale", uid, scale: deployment.spec.replicas ?? 1 }
    }
    return (pod: Pod.Pod): ControllerScale => {
      const owner = Meta.controllerOf(pod)
      if (owner === undefined) return { _tag: "Unmanaged" }
      const namespace = pod.metadata.namespace ?? ""
      const notFound: ControllerScale = {
        _tag: "NotFound",
        message: `found no controllers for pod ${JSON.stringify(pod.metadata.name ?? "")}`
      }
      if (owner.kind === "Deployment") return deploymentScale(namespace, owner.name, owner.uid) ?? notFound
      if (owner.kind !== "ReplicaSet") return notFound
      const replicaSet = replicaSets.get(`${namespace}/${owner.name}`)
      if (replicaSet === undefined || replicaSet.metadata.uid !== owner.uid) return notFound
      const above = Meta.controllerOf(replicaSet)
      if (above?.kind === "Deployment") return deploymentScale(namespace, above.name, above.uid) ?? notFound
      return { _tag: "Scale", uid: owner.uid, scale: replicaSet.spec.replicas ?? 1 }
    }
  }

  const condition = (
    key: string,
    wanted: Omit<AllowedCondition, "lastTransitionTime">,
    now: number
  ): AllowedCondition => {
    const previous = written.get(key)
    return {
      ...wanted,
      lastTransitionTime:
        previous !== undefined && previous.status === wanted.status
          ? previous.lastTransitionTime
          : Objects.timestamp(now)
    }
  }

  const sameCondition = (key: string, wanted: Omit<AllowedCondition, "lastTransitionTime">): boolean => {
    const previous = written.get(key)
    return (
      previous !== undefined &&
      previous.status === wanted.status &&
      previous.reason === wanted.reason &&
      previous.message === wanted.message &&
      previous.observedGeneration === wanted.observedGeneration
    )
  }

  const writeStatus = (pdb: PodDisruptionBudget.PodDisruptionBudget, status: Record<string, unknown>) =>
    kube
      .patch(
        Resources.PodDisruptionBudgets,
        pdb.metadata.name ?? "",
        { type: "merge", patch: { metadata: { resourceVersion: pdb.metadata.resourceVersion }, status } },
        { namespace: pdb.metadata.namespace ?? "", subresource: "status" }
      )
      .pipe(Effect.asVoid)

  const controller = yield* Controller.make({
    name: "cluster.disruption",
    for: budgetInformer,
    reconcile: (key, pdb) =>
      Effect.gen(function* () {
        if (pdb === undefined) {
          written.delete(key)
          return Result.done
        }
        const namespace = pdb.metadata.namespace ?? ""
        const pods = (yield* podInformer.list()).filter(
          (pod) =>
            pod.metadata.namespace === namespace &&
            LabelSelector.matchesLabelSelector(pdb.spec.selector, pod.metadata.labels)
        )
        const index = <A extends Resource.KubeObject>(objects: ReadonlyArray<A>) =>
          new Map(
            objects.filter((object) => object.metadata.namespace === namespace).map((o) => [Resource.keyOf(o), o])
          )
        const replicaSets = index(yield* replicaSetInformer.list())
        const deployments = index(yield* deploymentInformer.list())
        const now = yield* Clock.currentTimeMillis
        const computed = compute(pdb, pods, scaleOf(replicaSets, deployments), now)
        const current = pdb.status

        if (!computed.ok) {
          const wanted = {
            type: "DisruptionAllowed",
            status: "False",
            reason: "SyncFailed",
            message: computed.message,
            observedGeneration: current?.observedGeneration ?? 0
          } as const
          if ((current?.disruptionsAllowed ?? 0) === 0 && sameCondition(key, wanted)) return Result.done
          const next = condition(key, wanted, now)
          yield* writeStatus(pdb, { disruptionsAllowed: 0, conditions: [next] })
          written.set(key, next)
          return Result.done
        }

        const status = computed.status
        const generation = pdb.metadata.generation ?? 0
        const allowed = status.disruptionsAllowed > 0
        const wanted = {
          type: "DisruptionAllowed",
          status: allowed ? "True" : "False",
          reason: allowed ? "SufficientPods" : "InsufficientPods",
          message: "",
          observedGeneration: generation
        } as const
        const previousDisrupted = current?.disruptedPods ?? {}
        const unchanged =
          current?.expectedPods === status.expectedPods &&
          current.desiredHealthy === status.desiredHealthy &&
          current.currentHealthy === status.currentHealthy &&
          current.disruptionsAllowed === status.disruptionsAllowed &&
          current.observedGeneration === generation &&
          Patch.deepEqual(previousDisrupted, status.disruptedPods) &&
          sameCondition(key, wanted)
        if (!unchanged) {
          const next = condition(key, wanted, now)
          // A merge patch merges maps: entries that expired must be deleted explicitly.
          const disruptedPods: Record<string, string | null> = { ...status.disruptedPods }
          for (const name of Object.keys(previousDisrupted)) {
            if (!Object.hasOwn(status.disruptedPods, name)) disruptedPods[name] = null
          }
          yield* writeStatus(pdb, {
            observedGeneration: generation,
            expectedPods: status.expectedPods,
            desiredHealthy: status.desiredHealthy,
            currentHealthy: status.currentHealthy,
            disruptionsAllowed: status.disruptionsAllowed,
            disruptedPods: Object.keys(status.disruptedPods).length === 0 ? null : disruptedPods,
            conditions: [next]
          })
          written.set(key, next)
        }
        return computed.recheckAfterMillis === undefined
          ? Result.done
          : Result.requeueAfter(computed.recheckAfterMillis)
      }).pipe(
        // A newer version (an eviction) or the deletion comes through the informer and reconciles again.
        Effect.catchTags({ NotFound: () => Effect.succeed(Result.done), Conflict: () => Effect.succeed(Result.done) })
      )
  })

  const enqueueNamespace = (namespace: string | undefined, labels?: ReadonlyArray<Pod.Pod["metadata"]["labels"]>) =>
    Effect.flatMap(budgetInformer.list(), (budgets) =>
      Effect.forEach(
        budgets.filter(
          (pdb) =>
            pdb.metadata.namespace === namespace &&
            (labels === undefined || labels.some((set) => LabelSelector.matchesLabelSelector(pdb.spec.selector, set)))
        ),
        (pdb) => controller.enqueue(Resource.keyOf(pdb)),
        { discard: true }
      )
    )

  yield* Informer.forEachChange(podInformer, (change) => {
    const { previous, object } = change
    if (
      change.type === "MODIFIED" &&
      previous !== undefined &&
      Objects.isPodReady(previous) === Objects.isPodReady(object) &&
      Objects.isTerminating(previous) === Objects.isTerminating(object) &&
      Patch.deepEqual(previous.metadata.labels, object.metadata.labels)
    ) {
      return Effect.void
    }
    const labels =
      previous === undefined ? [object.metadata.labels] : [previous.metadata.labels, object.metadata.labels]
    return enqueueNamespace(object.metadata.namespace, labels)
  })
  // Scale changes move expectedPods for maxUnavailable and percentage budgets.
  const onScale = <A extends WorkloadsApi.ReplicaSet | WorkloadsApi.Deployment>(change: {
    readonly type: string
    readonly object: A
    readonly previous?: A
  }) =>
    change.type === "MODIFIED" && change.previous?.spec.replicas === change.object.spec.replicas
      ? Effect.void
      : enqueueNamespace(change.object.metadata.namespace)
  yield* Informer.forEachChange(replicaSetInformer, onScale)
  yield* Informer.forEachChange(deploymentInformer, onScale)
  return controller
})

/** The disruption controller as a Layer: built, it runs until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> = Layer.effectDiscard(make())
