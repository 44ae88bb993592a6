/**
 * Deployment and ReplicaSet controllers for the embedded cluster.
 *
 * A Deployment owns one ReplicaSet per pod template, named `<deployment>-<pod-template-hash>` as upstream: the hash
 * is FNV-1a (32 bit) of the template's canonical JSON, spelled with upstream's safe alphabet, and it is added to the
 * ReplicaSet's selector and pod labels as `pod-template-hash`. A template change is a "replace all" rollout: the new
 * ReplicaSet gets every replica at once, older ones are scaled to 0 and deleted once their pods are gone (no
 * maxSurge/maxUnavailable pacing, no revision history, no pause).
 *
 * A ReplicaSet creates pods (`generateName: <replicaset>-`, the template's labels and annotations, a controller owner
 * reference) until it has `spec.replicas` active ones, and deletes surplus pods with upstream's preference: unbound
 * before bound, Pending before Running, not Ready before Ready, newest first. Like client-go's expectations, it does
 * not scale again until its cache has seen its own creations and deletions. It does not adopt orphans or release
 * pods whose labels stop matching.
 *
 * Status: `replicas` (active pods), `readyReplicas`, `availableReplicas` (= ready; minReadySeconds is 0),
 * `updatedReplicas` (Deployments: the current ReplicaSet's), `observedGeneration`, written only when they change.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Meta from "../api/Meta.ts"
import * as Pod from "../api/Pod.ts"
import type * as WorkloadsApi from "../api/Workloads.ts"
import * as Json from "../kube/Json.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Indices from "../runtime/Indices.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import { Expectations } from "./Expectations.ts"
import * as Objects from "./Objects.ts"

/** The running Deployment and ReplicaSet controllers. */
export interface Workloads {
  readonly deployments: Controller.Controller<WorkloadsApi.Deployment>
  readonly replicaSets: Controller.Controller<WorkloadsApi.ReplicaSet>
}

/** The label (and selector key) that ties a ReplicaSet and its pods to one template of a Deployment. */
export const PodTemplateHashLabel = "pod-template-hash"

const AppsV1 = "apps/v1"

// Upstream `rand.SafeEncodeString`: no vowels (no words), no look-alike characters.
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

/** The `pod-template-hash` of a template: FNV-1a 32 of its canonical JSON, safe-encoded like upstream. */
export const templateHash = (template: Pod.PodTemplateSpec): string => {
  let hash = 0x811c9dc5
  const text = Json.canonical(template)
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return Array.from(String(hash >>> 0), (digit) => safeAlphabet[digit.charCodeAt(0) % safeAlphabet.length]).join("")
}

/** The order in which a ReplicaSet gives up surplus pods (upstream `ActivePodsWithRanks`, simplified). */
export const deletionOrder = (a: Pod.Pod, b: Pod.Pod): number => {
  const bound = (pod: Pod.Pod) => (Objects.nodeNameOf(pod) === undefined ? 0 : 1)
  const phase = (pod: Pod.Pod) => (pod.status?.phase === "Pending" ? 0 : pod.status?.phase === "Running" ? 2 : 1)
  const ready = (pod: Pod.Pod) => (Objects.isPodReady(pod) ? 1 : 0)
  return (
    bound(a) - bound(b) ||
    phase(a) - phase(b) ||
    ready(a) - ready(b) ||
    // Newer first; then by name, for a defined order among pods created in the same second.
    Objects.compareStrings(b.metadata.creationTimestamp ?? "", a.metadata.creationTimestamp ?? "") ||
    Objects.compareStrings(b.metadata.name ?? "", a.metadata.name ?? "")
  )
}

interface ReplicaStatus {
  readonly observedGeneration?: number
  readonly replicas?: number
  readonly readyReplicas?: number
  readonly availableReplicas?: number
  readonly updatedReplicas?: number
}

const sameStatus = (current: ReplicaStatus | undefined, wanted: ReplicaStatus): boolean =>
  (Object.keys(wanted) as Array<keyof ReplicaStatus>).every((key) => (current?.[key] ?? 0) === wanted[key])

const withHash = (labels: Readonly<Record<string, string>> | undefined, hash: string): Record<string, string> => ({
  ...labels,
  [PodTemplateHashLabel]: hash
})

// What a ReplicaSet's status counts, kept by the pod informer as pods change rather than recounted over thousands of
// pods after each one's change.
const activePods = Informer.counter<Pod.Pod>("active", Pod.isActive)
const readyPods = Informer.counter<Pod.Pod>("active and ready", (pod) => Pod.isActive(pod) && Objects.isPodReady(pod))

/** Starts the Deployment and ReplicaSet controllers in the current Scope. */
export const make = Effect.fn("Workloads.make")(function* (): Effect.fn.Return<
  Workloads,
  never,
  KubeClient | InformerCache.InformerCache | Scope.Scope
> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const replicaSetInformer = yield* InformerCache.informer(Resources.ReplicaSets)
  const deploymentInformer = yield* InformerCache.informer(Resources.Deployments)
  const expectations = new Expectations()

  const ignoreGone = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.asVoid,
      Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void })
    ) as Effect.Effect<void, Exclude<E, { readonly _tag: "NotFound" | "Conflict" }>, R>

  const patchStatus = <A extends Resource.KubeObject, I>(
    resource: Resource.Resource<A, I>,
    object: A,
    status: ReplicaStatus
  ) =>
    ignoreGone(
      kube.patch(
        resource,
        object.metadata.name ?? "",
        { type: "merge", patch: { status } },
        { namespace: object.metadata.namespace ?? "", subresource: "status" }
      )
    )

  const setReplicas = (replicaSet: WorkloadsApi.ReplicaSet, replicas: number) =>
    ignoreGone(
      kube.patch(
        Resources.ReplicaSets,
        replicaSet.metadata.name ?? "",
        { type: "merge", patch: { spec: { replicas } } },
        { namespace: replicaSet.metadata.namespace ?? "" }
      )
    )

  const replicaSets = yield* Controller.make({
    name: "cluster.replicaset",
    for: replicaSetInformer,
    watches: [{ source: podInformer, map: (pod: Pod.Pod) => Objects.controllerKey(pod, "ReplicaSet") }],
    reconcile: (key, replicaSet) =>
      Effect.gen(function* () {
        if (replicaSet === undefined) {
          expectations.forget(key)
          return Result.done
        }
        if (Objects.isTerminating(replicaSet)) return Result.done
        const namespace = replicaSet.metadata.namespace ?? ""
        const ownedBy = Indices.controlledBy(replicaSet)
        const active = yield* podInformer.countByIndex(Indices.controller, ownedBy, activePods)
        const ready = yield* podInformer.countByIndex(Indices.controller, ownedBy, readyPods)
        const now = yield* Clock.currentTimeMillis
        // The pods themselves only when expectations are pending or some must go (most reconciles need neither).
        const owned = () => podInformer.byIndex(Indices.controller, ownedBy)
        const byKey = expectations.isPending(key)
          ? new Map((yield* owned()).map((pod) => [Resource.keyOf(pod), pod]))
          : undefined
        const check = expectations.check(key, (podKey) => byKey?.get(podKey), now)
        const desired = replicaSet.spec.replicas ?? 1
        if (check.satisfied && active < desired) {
          const template = replicaSet.spec.template
          for (let i = active; i < desired; i++) {
            const created = yield* kube.create(
              Resources.Pods,
              {
                metadata: {
                  generateName: `${replicaSet.metadata.name}-`,
                  namespace,
                  ...(template.metadata?.labels === undefined ? {} : { labels: template.metadata.labels }),
                  ...(template.metadata?.annotations === undefined
                    ? {}
                    : { annotations: template.metadata.annotations }),
                  ownerReferences: [Objects.controllerReference(AppsV1, "ReplicaSet", replicaSet)]
                },
                spec: template.spec
              },
              { namespace }
            )
            expectations.expectCreation(key, Resource.keyOf(created), now)
          }
        } else if (check.satisfied && active > desired) {
          const surplus = (yield* owned())
            .filter(Pod.isActive)
            .sort(deletionOrder)
            .slice(0, active - desired)
          for (const pod of surplus) {
            expectations.expectDeletion(key, Resource.keyOf(pod), now)
            yield* ignoreGone(kube.delete(Resources.Pods, pod.metadata.name ?? "", { namespace }))
          }
        }
        const status: ReplicaStatus = {
          replicas: active,
          readyReplicas: ready,
          availableReplicas: ready,
          observedGeneration: replicaSet.metadata.generation ?? 0
        }
        if (!sameStatus(replicaSet.status, status)) yield* patchStatus(Resources.ReplicaSets, replicaSet, status)
        return check.satisfied ? Result.done : Result.requeueAfter(check.recheckAfterMillis)
      })
  })

  // The template's hash per Deployment, kept while its generation (which any spec change bumps) stays: a Deployment
  // is reconciled after each change of its ReplicaSets, and hashing the template's canonical JSON each time showed.
  const hashes = new Map<
    string,
    { readonly uid: string | undefined; readonly generation: number; readonly hash: string }
  >()
  const hashOf = (key: string, deployment: WorkloadsApi.Deployment): string => {
    const { uid, generation } = deployment.metadata
    const known = hashes.get(key)
    if (known !== undefined && known.uid === uid && known.generation === generation) return known.hash
    const hash = templateHash(deployment.spec.template)
    if (generation !== undefined) hashes.set(key, { uid, generation, hash })
    return hash
  }

  const deployments = yield* Controller.make({
    name: "cluster.deployment",
    for: deploymentInformer,
    watches: [
      {
        source: replicaSetInformer,
        map: (replicaSet: WorkloadsApi.ReplicaSet) => Objects.controllerKey(replicaSet, "Deployment")
      }
    ],
    reconcile: (key, deployment) =>
      Effect.gen(function* () {
        if (deployment === undefined) hashes.delete(key)
        if (deployment === undefined || Objects.isTerminating(deployment)) return Result.done
        const namespace = deployment.metadata.namespace ?? ""
        const template = deployment.spec.template
        const hash = hashOf(key, deployment)
        const currentName = `${deployment.metadata.name}-${hash}`
        const replicas = deployment.spec.replicas ?? 1
        const owned = yield* replicaSetInformer.byIndex(Indices.controller, Indices.controlledBy(deployment))
        const current = owned.find((replicaSet) => replicaSet.metadata.name === currentName)
        if (current === undefined) {
          const selector: Meta.LabelSelector = {
            ...deployment.spec.selector,
            matchLabels: withHash(deployment.spec.selector.matchLabels, hash)
          }
          yield* kube
            .create(
              Resources.ReplicaSets,
              {
                metadata: {
                  name: currentName,
                  namespace,
                  labels: withHash(template.metadata?.labels, hash),
                  ownerReferences: [Objects.controllerReference(AppsV1, "Deployment", deployment)]
                },
                spec: {
                  replicas,
                  selector,
                  template: {
                    ...template,
                    metadata: { ...template.metadata, labels: withHash(template.metadata?.labels, hash) }
                  }
                }
              },
              { namespace }
            )
            // Created by an earlier pass the cache has not shown yet.
            .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
        } else if ((current.spec.replicas ?? 1) !== replicas) {
          yield* setReplicas(current, replicas)
        }
        for (const old of owned) {
          if (old === current) continue
          if ((old.spec.replicas ?? 1) !== 0) yield* setReplicas(old, 0)
          else if ((old.status?.replicas ?? 0) === 0) {
            yield* ignoreGone(kube.delete(Resources.ReplicaSets, old.metadata.name ?? "", { namespace }))
          }
        }
        const sum = (field: "replicas" | "readyReplicas" | "availableReplicas") =>
          owned.reduce((total, replicaSet) => total + (replicaSet.status?.[field] ?? 0), 0)
        const status: ReplicaStatus = {
          replicas: sum("replicas"),
          readyReplicas: sum("readyReplicas"),
          availableReplicas: sum("availableReplicas"),
          updatedReplicas: current?.status?.replicas ?? 0,
          observedGeneration: deployment.metadata.generation ?? 0
        }
        if (!sameStatus(deployment.status, status)) yield* patchStatus(Resources.Deployments, deployment, status)
        return Result.done
      })
  })

  return { deployments, replicaSets }
})

/** The Deployment and ReplicaSet controllers as a Layer: built, they run until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> = Layer.effectDiscard(make())
