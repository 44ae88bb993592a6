/**
 * Volume topology, as Karpenter's `VolumeTopology` (`pkg/controllers/provisioning/scheduling/volumetopology.go`,
 * v1.4.0): a pod whose claims live in (or may only be provisioned in) some zones must land there, so the claims'
 * topology becomes required node affinity of the pod before scheduling.
 *
 * Everything is read from a {@link VolumeContext} snapshot instead of the API server, so injection is a pure function.
 */
import * as Labels from "../api/Labels.ts"
import type * as Meta from "../api/Meta.ts"
import type * as Pod from "../api/Pod.ts"
import type * as Storage from "../api/Storage.ts"

/** The storage objects injection reads: claims by `namespace/name`, volumes and classes by name. */
export interface VolumeContext {
  readonly pvcs: ReadonlyMap<string, Storage.PersistentVolumeClaim>
  readonly pvs: ReadonlyMap<string, Storage.PersistentVolume>
  readonly storageClasses: ReadonlyMap<string, Storage.StorageClass>
}

/** A context without any storage objects. */
export const emptyVolumeContext: VolumeContext = { pvcs: new Map(), pvs: new Map(), storageClasses: new Map() }

// Objects read from the API server always carry a namespace; hand-written fixtures may not.
const namespaceOf = (pod: Pod.Pod): string => pod.metadata.namespace ?? "default"

/**
 * The `namespace/name` of the claim behind a pod volume: the named claim, or for a generic ephemeral volume the claim
 * the ephemeral-volume controller creates, `<pod>-<volume>`. Undefined for volumes without a claim.
 */
export const claimKeyOf = (pod: Pod.Pod, volume: Pod.Volume): string | undefined => {
  if (volume.persistentVolumeClaim !== undefined) return `${namespaceOf(pod)}/${volume.persistentVolumeClaim.claimName}`
  if (volume.ephemeral !== undefined) return `${namespaceOf(pod)}/${pod.metadata.name ?? ""}-${volume.name}`
  return undefined
}

/** The `namespace/name` of every claim the pod uses, once each, in volume order. */
export const volumeClaimsOf = (pod: Pod.Pod): ReadonlyArray<string> => {
  const claims: Array<string> = []
  for (const volume of pod.spec.volumes ?? []) {
    const key = claimKeyOf(pod, volume)
    if (key !== undefined && !claims.includes(key)) claims.push(key)
  }
  return claims
}

const defaultClassAnnotations = [
  "storageclass.kubernetes.io/is-default-class",
  "storageclass.beta.kubernetes.io/is-default-class"
]

// The class the DefaultStorageClass admission plugin would give a claim without one: of several defaults the newest,
// then (for a reproducible answer) the smallest name.
const defaultStorageClass = (context: VolumeContext): string | undefined => {
  let found: Storage.StorageClass | undefined
  let foundName = ""
  for (const [name, storageClass] of context.storageClasses) {
    const annotations = storageClass.metadata.annotations
    if (!defaultClassAnnotations.some((key) => annotations?.[key] === "true")) continue
    const created = storageClass.metadata.creationTimestamp ?? ""
    const foundCreated = found?.metadata.creationTimestamp ?? ""
    if (found === undefined || created > foundCreated || (created === foundCreated && name < foundName)) {
      found = storageClass
      foundName = name
    }
  }
  return found === undefined ? undefined : foundName
}

type Expressions = ReadonlyArray<Meta.NodeSelectorRequirement>
type Outcome = { readonly expressions: Expressions } | { readonly error: string }

const none: Outcome = { expressions: [] }

// The first term of the volume's required node affinity (terms are ORed; upstream uses the first). Upstream drops the
// hostname expressions of local and hostPath volumes, whose node a rescheduled pod leaves; the decoded volume keeps
// no local/hostPath source, so every volume that is not CSI counts as one (a CSI volume pinned to a host, e.g. a
// node-local LVM driver, keeps its hostname as upstream does).
const volumeExpressions = (pv: Storage.PersistentVolume): Expressions => {
  const expressions = pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions
  if (expressions === undefined) return []
  if (pv.spec.csi !== undefined || !expressions.some((expression) => expression.key === Labels.Hostname)) {
    return expressions
  }
  return expressions.filter((expression) => expression.key !== Labels.Hostname)
}

// The first allowed topology of the class (terms are ORed; upstream uses the first), each label as In.
const classExpressions = (storageClass: Storage.StorageClass): Expressions =>
  (storageClass.allowedTopologies?.[0]?.matchLabelExpressions ?? []).map((expression) => ({
    key: expression.key,
    operator: "In",
    values: expression.values
  }))

const unboundClaim = (claim: string, className: string | undefined, context: VolumeContext): Outcome => {
  if (className === undefined || className === "") {
    return { error: `persistentvolumeclaim ${claim} is unbound and names no storage class` }
  }
  const storageClass = context.storageClasses.get(className)
  if (storageClass === undefined) return { error: `storageclass ${className} not found` }
  return { expressions: classExpressions(storageClass) }
}

const volumeOutcome = (pod: Pod.Pod, volume: Pod.Volume, context: VolumeContext): Outcome => {
  const claim = claimKeyOf(pod, volume)
  if (claim === undefined) return none
  const pvc = context.pvcs.get(claim)
  if (pvc === undefined) {
    // The ephemeral-volume controller may not have created the claim yet (or a dry run never will): read the
    // template, as the claim would be, defaulted by the DefaultStorageClass admission plugin.
    if (volume.persistentVolumeClaim === undefined && volume.ephemeral !== undefined) {
      const className = volume.ephemeral.volumeClaimTemplate?.spec.storageClassName ?? defaultStorageClass(context)
      return unboundClaim(claim, className, context)
    }
    return { error: `persistentvolumeclaim ${claim} not found` }
  }
  const volumeName = pvc.spec.volumeName
  if (volumeName !== undefined && volumeName !== "") {
    const pv = context.pvs.get(volumeName)
    if (pv === undefined) return { error: `persistentvolume ${volumeName} of persistentvolumeclaim ${claim} not found` }
    return { expressions: volumeExpressions(pv) }
  }
  return unboundClaim(claim, pvc.spec.storageClassName, context)
}

/**
 * The pod with its volumes' topology added to every required node-affinity term (one term is created when there is
 * none), so relaxing OR terms never drops it: a bound claim contributes its volume's first required node-affinity term
 * (without hostname expressions unless it is a CSI volume), an unbound one its StorageClass's first allowed topology
 * as `In` (a class without allowed topologies, e.g. WaitForFirstConsumer, adds nothing). The pod itself is returned
 * when nothing is added.
 *
 * Fails, as upstream's `ValidatePersistentVolumeClaims` rejects the pod, when a claim or bound volume is missing, or an
 * unbound claim names no StorageClass or a missing one.
 */
export const inject = (
  pod: Pod.Pod,
  context: VolumeContext
): { readonly pod: Pod.Pod } | { readonly error: string } => {
  const volumes = pod.spec.volumes
  if (volumes === undefined || volumes.length === 0) return { pod }
  let expressions: Array<Meta.NodeSelectorRequirement> | undefined
  for (const volume of volumes) {
    const outcome = volumeOutcome(pod, volume, context)
    if ("error" in outcome) return outcome
    if (outcome.expressions.length === 0) continue
    expressions ??= []
    expressions.push(...outcome.expressions)
  }
  if (expressions === undefined) return { pod }
  const added = expressions
  const affinity = pod.spec.affinity
  const nodeAffinity = affinity?.nodeAffinity
  const required = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  const terms: ReadonlyArray<Meta.NodeSelectorTerm> =
    required !== undefined && required.nodeSelectorTerms.length > 0 ? required.nodeSelectorTerms : [{}]
  const nodeSelectorTerms = terms.map((term) => ({
    ...term,
    matchExpressions: term.matchExpressions === undefined ? added : [...term.matchExpressions, ...added]
  }))
  return {
    pod: {
      ...pod,
      spec: {
        ...pod.spec,
        affinity: {
          ...affinity,
          nodeAffinity: {
            ...nodeAffinity,
            requiredDuringSchedulingIgnoredDuringExecution: { ...required, nodeSelectorTerms }
          }
        }
      }
    }
  }
}
