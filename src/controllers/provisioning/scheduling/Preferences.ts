/**
 * Preference relaxation, as Karpenter's `pkg/controllers/provisioning/scheduling/preferences.go` (v1.4.0): when a pod
 * cannot be placed, soften one soft constraint and try again, in a fixed order.
 *
 * Upstream edits the pod in place; {@link relax} returns a copy that shares every part it did not change.
 */
import type * as Meta from "../../../api/Meta.ts"
import type * as Pod from "../../../api/Pod.ts"
import { preferNoScheduleToleration } from "../../../scheduling/Tolerations.ts"

type Affinity = NonNullable<Pod.Spec["affinity"]>
type NodeAffinity = NonNullable<Affinity["nodeAffinity"]>
type PodAffinityRules = NonNullable<Affinity["podAffinity"]>

/** A relaxed pod spec and what was relaxed. */
export interface Relaxed {
  readonly spec: Pod.Spec
  readonly relaxed: string
}

// The index of the first heaviest item; upstream stable-sorts by weight descending and drops the head.
const heaviestIndex = (items: ReadonlyArray<{ readonly weight: number }>): number => {
  let best = 0
  for (let i = 1; i < items.length; i++) if (items[i]!.weight > items[best]!.weight) best = i
  return best
}

const without = <A>(items: ReadonlyArray<A>, index: number): ReadonlyArray<A> => [
  ...items.slice(0, index),
  ...items.slice(index + 1)
]

const formatExpressions = (expressions: ReadonlyArray<Meta.NodeSelectorRequirement> | undefined): string =>
  (expressions ?? [])
    .map((expression) =>
      expression.values === undefined || expression.values.length === 0
        ? `${expression.key} ${expression.operator}`
        : `${expression.key} ${expression.operator} [${expression.values.join(" ")}]`
    )
    .join(", ")

const withAffinity = (spec: Pod.Spec, affinity: Affinity): Pod.Spec => ({ ...spec, affinity })

const removeRequiredNodeAffinityTerm = (spec: Pod.Spec): Relaxed | undefined => {
  const nodeAffinity = spec.affinity?.nodeAffinity
  const required = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  // The terms are ORed; the last one can never go, as a pod must satisfy at least one.
  if (nodeAffinity === undefined || required === undefined || required.nodeSelectorTerms.length <= 1) return undefined
  const [first, ...rest] = required.nodeSelectorTerms
  const relaxedNodeAffinity: NodeAffinity = {
    ...nodeAffinity,
    requiredDuringSchedulingIgnoredDuringExecution: { ...required, nodeSelectorTerms: rest }
  }
  return {
    spec: withAffinity(spec, { ...spec.affinity, nodeAffinity: relaxedNodeAffinity }),
    relaxed: `removed required node affinity term (${formatExpressions(first?.matchExpressions)})`
  }
}

const removePreferredPodTerm = (spec: Pod.Spec, kind: "podAffinity" | "podAntiAffinity"): Relaxed | undefined => {
  const rules: PodAffinityRules | undefined = spec.affinity?.[kind]
  const preferred = rules?.preferredDuringSchedulingIgnoredDuringExecution
  if (rules === undefined || preferred === undefined || preferred.length === 0) return undefined
  const index = heaviestIndex(preferred)
  const term = preferred[index]!
  const relaxedRules: PodAffinityRules = {
    ...rules,
    preferredDuringSchedulingIgnoredDuringExecution: without(preferred, index)
  }
  const name = kind === "podAffinity" ? "pod affinity" : "pod anti-affinity"
  return {
    spec: withAffinity(spec, { ...spec.affinity, [kind]: relaxedRules }),
    relaxed: `removed preferred ${name} term (weight ${term.weight}, topology key ${term.podAffinityTerm.topologyKey})`
  }
}

const removePreferredNodeAffinityTerm = (spec: Pod.Spec): Relaxed | undefined => {
  const nodeAffinity = spec.affinity?.nodeAffinity
  const preferred = nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution
  if (nodeAffinity === undefined || preferred === undefined || preferred.length === 0) return undefined
  const index = heaviestIndex(preferred)
  const term = preferred[index]!
  const expressions = term.preference.matchExpressions
  const relaxedNodeAffinity: NodeAffinity = {
    ...nodeAffinity,
    preferredDuringSchedulingIgnoredDuringExecution: without(preferred, index)
  }
  return {
    spec: withAffinity(spec, { ...spec.affinity, nodeAffinity: relaxedNodeAffinity }),
    relaxed: `removed preferred node affinity term (weight ${term.weight}: ${formatExpressions(expressions)})`
  }
}

const removeScheduleAnywaySpread = (spec: Pod.Spec): Relaxed | undefined => {
  const constraints = spec.topologySpreadConstraints
  if (constraints === undefined) return undefined
  const index = constraints.findIndex((constraint) => constraint.whenUnsatisfiable === "ScheduleAnyway")
  if (index < 0) return undefined
  // Upstream swaps the last constraint into the hole; keeping the order changes nothing, constraints are ANDed.
  return {
    spec: { ...spec, topologySpreadConstraints: without(constraints, index) },
    relaxed: `removed ScheduleAnyway topology spread constraint (topology key ${constraints[index]!.topologyKey})`
  }
}

// Upstream `MatchToleration`: the same key, operator, value and effect.
const isPreferNoScheduleToleration = (toleration: Meta.Toleration): boolean =>
  (toleration.key ?? "") === "" &&
  toleration.operator === "Exists" &&
  (toleration.value ?? "") === "" &&
  toleration.effect === "PreferNoSchedule"

const toleratePreferNoSchedule = (spec: Pod.Spec): Relaxed | undefined => {
  if (spec.tolerations?.some(isPreferNoScheduleToleration) === true) return undefined
  return {
    spec: { ...spec, tolerations: [...(spec.tolerations ?? []), preferNoScheduleToleration] },
    relaxed: "added toleration for PreferNoSchedule taints"
  }
}

/**
 * The spec with one soft constraint relaxed, the first that applies of: (1) the first required node-affinity term
 * when more than one is left, (2) the heaviest preferred pod-affinity term, (3) the heaviest preferred
 * pod-anti-affinity term, (4) the heaviest preferred node-affinity term, (5) one `ScheduleAnyway` topology spread
 * constraint, (6) with `toleratePreferNoSchedule` (some NodePool has a PreferNoSchedule taint), a toleration for
 * PreferNoSchedule taints. Undefined when nothing is left to relax. `spec` is never changed.
 */
export const relax = (spec: Pod.Spec, options: { readonly toleratePreferNoSchedule: boolean }): Relaxed | undefined =>
  removeRequiredNodeAffinityTerm(spec) ??
  removePreferredPodTerm(spec, "podAffinity") ??
  removePreferredPodTerm(spec, "podAntiAffinity") ??
  removePreferredNodeAffinityTerm(spec) ??
  removeScheduleAnywaySpread(spec) ??
  (options.toleratePreferNoSchedule ? toleratePreferNoSchedule(spec) : undefined)
