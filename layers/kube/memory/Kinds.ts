/**
 * How the in-memory API server treats each kind: status subresource, generation tracking, custom-resource rules,
 * CRD defaults and the update rules CEL would enforce on a real apiserver.
 */
import * as Crd from "../../../src/api/Crd.ts"
import type { Problem } from "../../../src/api/Decode.ts"
import * as EC2NodeClass from "../../../src/api/EC2NodeClass.ts"
import type * as OpenApi from "../../../src/kube/OpenApi.ts"
import * as Patch from "../../../src/kube/Patch.ts"
import * as Resource from "../../../src/kube/Resource.ts"

/** A JSON object as stored. */
export type Json = { [key: string]: unknown }

/** The server-side behaviour of one kind. */
export interface Kind {
  readonly resource: Resource.Resource<Resource.KubeObject>
  /** `plural` or `plural.group`: the key of the kind's store and its name in error messages. */
  readonly id: string
  readonly statusSubresource: boolean
  /** Whether `metadata.generation` is maintained (CRs and most apps/policy kinds; not pods or nodes). */
  readonly generation: boolean
  /** Custom resources: status dropped on create, PUT requires a resourceVersion, CRD defaults applied. */
  readonly custom: boolean
  readonly crdSchema: OpenApi.OpenApiSchema | undefined
  /** Rules on an update that only a transition rule (`oldSelf`) or apiserver code can express. */
  readonly updateProblems: (previous: Json, next: Json) => ReadonlyArray<Problem>
}

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** A nested object field, or `{}`. */
export const objectAt = (value: unknown, ...path: ReadonlyArray<string>): Json => {
  let current: unknown = value
  for (const key of path) current = isObject(current) ? current[key] : undefined
  return isObject(current) ? current : {}
}

/** A kind whose spec never changes after creation, refused with `message`. */
const immutableSpec =
  (message: string) =>
  (previous: Json, next: Json): ReadonlyArray<Problem> =>
    Patch.deepEqual(previous.spec, next.spec) ? [] : [{ field: "spec", message }]

// The NodeClaim CRD's CEL rule; the apiserver's VolumeAttachment validation.
const nodeClaimRules = immutableSpec("spec is immutable")
const volumeAttachmentRules = immutableSpec("field is immutable")

const nodePoolRules = (previous: Json, next: Json): ReadonlyArray<Problem> => {
  const before = objectAt(previous, "spec", "template", "spec", "nodeClassRef")
  const after = objectAt(next, "spec", "template", "spec", "nodeClassRef")
  const problems: Array<Problem> = []
  for (const field of ["group", "kind"]) {
    if (before[field] !== after[field]) {
      problems.push({
        field: `spec.template.spec.nodeClassRef.${field}`,
        message: `nodeClassRef.${field} is immutable`
      })
    }
  }
  return problems
}

// The EC2NodeClass CRD's transition rules: `role` is immutable, and `role` and `instanceProfile` may not be swapped.
const ec2NodeClassRules = (previous: Json, next: Json): ReadonlyArray<Problem> =>
  EC2NodeClass.transitionProblems(objectAt(previous, "spec"), objectAt(next, "spec"))

const podRules = (previous: Json, next: Json): ReadonlyArray<Problem> => {
  const before = objectAt(previous, "spec").nodeName
  const after = objectAt(next, "spec").nodeName
  return before !== undefined && before !== after
    ? [{ field: "spec.nodeName", message: "field is immutable once set (bind a pod through the binding subresource)" }]
    : []
}

const noRules = (): ReadonlyArray<Problem> => []

const updateRules: ReadonlyMap<string, (previous: Json, next: Json) => ReadonlyArray<Problem>> = new Map([
  ["nodeclaims.karpenter.sh", nodeClaimRules],
  ["nodepools.karpenter.sh", nodePoolRules],
  ["ec2nodeclasses.karpenter.k8s.aws", ec2NodeClassRules],
  ["pods", podRules],
  ["volumeattachments.storage.k8s.io", volumeAttachmentRules]
])

// Kinds without a status subresource, and kinds whose generation the apiserver maintains.
const withoutStatus = new Set(["events", "leases", "storageclasses", "configmaps"])
const withGeneration = new Set([
  "deployments.apps",
  "replicasets.apps",
  "daemonsets.apps",
  "poddisruptionbudgets.policy"
])
const customGroups = new Set(Crd.definitions.map((definition) => definition.group))

/** The server-side behaviour of a resource. */
export const of = (resource: Resource.Resource<Resource.KubeObject>): Kind => {
  const id = Resource.qualifiedName(resource)
  const definition = Crd.definitions.find(
    (candidate) => candidate.group === resource.group && candidate.plural === resource.plural
  )
  const custom = customGroups.has(resource.group)
  return {
    resource,
    id,
    statusSubresource: !withoutStatus.has(id),
    generation: custom || withGeneration.has(id),
    custom,
    crdSchema: definition === undefined ? undefined : Crd.openApiSchema(definition),
    updateProblems: updateRules.get(id) ?? noRules
  }
}
