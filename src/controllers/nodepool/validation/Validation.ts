/**
 * The `nodepool.validation` controller: upstream's `NodePool.RuntimeValidate` as the `ValidationSucceeded` condition.
 * Decoding already enforces the CRD's schema and CEL rules; this catches what they cannot express (duplicate taints
 * across taints and startupTaints, restricted labels given the provider's well-known labels, taint values that are
 * not qualified names) and objects stored under an older schema.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import * as Requirements from "../../../api/NodeSelectorRequirements.ts"
import { labelValueErrors, qualifiedNameErrors } from "../../../api/ObjectValidation.ts"
import * as Taints from "../../../api/Taints.ts"
import { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as NodeClasses from "../nodeclass/NodeClasses.ts"

// -- RuntimeValidate ----------------------------------------------------------------------------------------------

// Go prints a []string as "[a b c]"; upstream lists the sorted well-known labels and restricted domains.
const goList = (values: Iterable<string>): string => `[${[...values].sort().join(" ")}]`

const restrictedError = (key: string, wellKnown: ReadonlySet<string>): string | undefined =>
  Labels.isRestricted(key, wellKnown)
    ? `label ${key} is restricted; specify a well known label: ${goList(wellKnown)}, or a custom label that does not use a restricted domain: ${goList(Labels.RestrictedLabelDomains)}`
    : undefined

const validateLabels = (nodePool: NodePool, wellKnown: ReadonlySet<string>): Array<string> => {
  const errors: Array<string> = []
  const labels = nodePool.spec.template.metadata?.labels ?? {}
  // Sorted, where upstream walks a Go map: the message must not change from one reconcile to the next.
  for (const key of Object.keys(labels).sort()) {
    const value = labels[key]!
    if (key === Labels.NodePool) errors.push(`invalid key name "${key}" in labels, restricted`)
    for (const error of qualifiedNameErrors(key)) errors.push(`invalid key name "${key}" in labels, "${error}"`)
    for (const error of labelValueErrors(value)) errors.push(`invalid value: ${value} for label[${key}], ${error}`)
    const restricted = restrictedError(key, wellKnown)
    if (restricted !== undefined) errors.push(`invalid key name "${key}" in labels, ${restricted}`)
  }
  return errors
}

const validateTaints = (nodePool: NodePool): Array<string> => {
  const errors: Array<string> = []
  const seen = new Set<string>()
  const spec = nodePool.spec.template.spec
  for (const [field, taints] of [
    ["taints", spec.taints ?? []],
    ["startupTaints", spec.startupTaints ?? []]
  ] as const) {
    for (const taint of taints) {
      if (taint.key.length === 0) errors.push(`invalid value: taint key must be non-empty in ${field}`)
      for (const error of qualifiedNameErrors(taint.key)) errors.push(`invalid value: ${error} in ${field}`)
      if (taint.value !== undefined && taint.value.length > 0) {
        for (const error of qualifiedNameErrors(taint.value)) errors.push(`invalid value: ${error} in ${field}`)
      }
      const effect: string = taint.effect
      if (effect !== "" && !(Taints.Effects as ReadonlyArray<string>).includes(effect)) {
        errors.push(`invalid value: "${effect}" in ${field}`)
      }
      const pair = `${taint.key}\u0000${effect}`
      if (seen.has(pair)) errors.push(`duplicate taint Key/Effect pair ${taint.key}=${effect}`)
      seen.add(pair)
    }
  }
  return errors
}

const isNonNegativeInteger = (value: string): boolean => /^[+-]?[0-9]+$/.test(value) && Number(value) >= 0

/** Upstream `ValidateRequirement`: every problem of one requirement. */
const requirementErrors = (
  requirement: {
    readonly key: string
    readonly operator: string
    readonly values?: ReadonlyArray<string> | undefined
    readonly minValues?: number | undefined
  },
  wellKnown: ReadonlySet<string>
): Array<string> => {
  const errors: Array<string> = []
  const key = Labels.normalize(requirement.key)
  const { operator } = requirement
  const values = requirement.values ?? []
  if (!(Requirements.Operators as ReadonlyArray<string>).includes(operator)) {
    errors.push(`key ${key} has an unsupported operator ${operator} not in ${goList(Requirements.Operators)}`)
  }
  const restricted = restrictedError(key, wellKnown)
  if (restricted !== undefined) errors.push(restricted)
  for (const error of qualifiedNameErrors(key)) errors.push(`key ${key} is not a qualified name, ${error}`)
  for (const value of values) {
    for (const error of labelValueErrors(value)) errors.push(`invalid value ${value} for key ${key}, ${error}`)
  }
  if (operator === "In" && values.length === 0) {
    errors.push(`key ${key} with operator ${operator} must have a value defined`)
  }
  if (operator === "In" && requirement.minValues !== undefined && values.length < requirement.minValues) {
    errors.push(
      `key ${key} with operator ${operator} must have at least minimum number of values defined in 'values' field`
    )
  }
  if ((operator === "Gt" || operator === "Lt") && (values.length !== 1 || !isNonNegativeInteger(values[0]!))) {
    errors.push(`key ${key} with operator ${operator} must have a single positive integer value`)
  }
  return errors
}

const validateRequirements = (nodePool: NodePool, wellKnown: ReadonlySet<string>): Array<string> => {
  const errors: Array<string> = []
  for (const requirement of nodePool.spec.template.spec.requirements) {
    const problems = requirementErrors(requirement, wellKnown)
    if (problems.length > 0) errors.push(`invalid value: ${problems.join("; ")} in requirements, restricted`)
  }
  for (const requirement of nodePool.spec.template.spec.requirements) {
    if (requirement.key === Labels.NodePool)
      errors.push(`invalid key: "${requirement.key}" in requirements, restricted`)
  }
  return errors
}

/**
 * Upstream `NodePool.RuntimeValidate`: every problem of the template's labels, taints and requirements, in upstream's
 * wording; empty when the NodePool is valid. `wellKnown` is the provider's well-known label set.
 */
export const runtimeValidate = (nodePool: NodePool, wellKnown: ReadonlySet<string>): ReadonlyArray<string> => [
  ...validateLabels(nodePool, wellKnown),
  ...validateTaints(nodePool),
  ...validateRequirements(nodePool, wellKnown)
]

// -- the controller -----------------------------------------------------------------------------------------------

/** Starts `nodepool.validation`: sets `ValidationSucceeded` on every managed NodePool. */
export const make = Effect.fn("NodePoolValidation.make")(function* () {
  const kube = yield* KubeClient
  const cloudProvider = yield* CloudProvider
  return yield* Controller.make({
    name: "nodepool.validation",
    for: Resources.NodePools,
    concurrency: 10,
    reconcile: (_key, nodePool) =>
      Effect.gen(function* () {
        if (nodePool === undefined || !NodeClasses.isManaged(nodePool, cloudProvider)) return Result.done
        const errors = runtimeValidate(nodePool, cloudProvider.wellKnownLabels)
        const input: Conditions.Input =
          errors.length === 0
            ? { type: ConditionTypes.ValidationSucceeded, status: "True" }
            : {
                type: ConditionTypes.ValidationSucceeded,
                status: "False",
                reason: ConditionTypes.NodePoolValidationFailed,
                message: errors.join("; ")
              }
        const conditions = nodePool.status?.conditions
        const next = Conditions.setWithRoot(conditions, input, ConditionTypes.NodePoolReadyDependents, {
          generation: nodePool.metadata.generation,
          now: yield* Clock.currentTimeMillis,
          createdAt: nodePool.metadata.creationTimestamp,
          deleting: nodePool.metadata.deletionTimestamp !== undefined
        })
        if (next === conditions) return Result.done
        return yield* NodeClasses.settleWrite(NodeClasses.patchStatus(nodePool, { conditions: next }))
      }).pipe(Effect.provideService(KubeClient, kube))
  })
})
