/**
 * Hand-made disruption candidates for the tests of the methods' pure steps: only what those steps read (the NodePool
 * and its disruption settings, the NodeClaim's conditions, the pods to move, the disruption cost, whether its
 * instance type is known).
 */
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import type * as Planner from "../../../src/controllers/disruption/Planner.ts"

/** What a hand-made candidate is; every field has a default of a consolidatable, empty, on-demand node. */
export interface CandidateOptions {
  readonly nodePool?: string
  /** How many pods would have to move; default 0 (empty). */
  readonly pods?: number
  readonly cost?: number
  /** The NodeClaim is Consolidatable; default true. */
  readonly consolidatable?: boolean
  /** When the NodeClaim drifted (ISO time); not drifted without it. */
  readonly driftedAt?: string
  readonly consolidateAfter?: string
  readonly consolidationPolicy?: "WhenEmpty" | "WhenEmptyOrUnderutilized"
  /** Whether the candidate's instance type is known (the NodePool still offers it); default true. */
  readonly offered?: boolean
}

const condition = (type: string, lastTransitionTime = "1970-01-01T00:00:00Z") => ({
  type,
  status: "True",
  reason: type,
  message: "",
  lastTransitionTime
})

/** A candidate as the pure steps of the methods see it. */
export const candidate = (name: string, options: CandidateOptions = {}): Candidates.Candidate =>
  ({
    name,
    nodePool: {
      metadata: { name: options.nodePool ?? "default" },
      spec: {
        disruption: {
          consolidateAfter: options.consolidateAfter ?? "30s",
          consolidationPolicy: options.consolidationPolicy ?? "WhenEmptyOrUnderutilized"
        }
      }
    },
    nodeClaim: {
      metadata: { name },
      status: {
        conditions: [
          ...(options.consolidatable === false ? [] : [condition(ConditionTypes.Consolidatable)]),
          ...(options.driftedAt === undefined ? [] : [condition(ConditionTypes.Drifted, options.driftedAt)])
        ]
      }
    },
    reschedulablePods: Array.from({ length: options.pods ?? 0 }, (_, i) => ({ metadata: { name: `${name}-${i}` } })),
    disruptionCost: options.cost ?? 1,
    instanceType: options.offered === false ? undefined : { name: "small" },
    zone: "test-zone-a",
    capacityType: Labels.CapacityTypeOnDemand
  }) as never

/** Candidates' names, in order. */
export const names = (candidates: ReadonlyArray<Candidates.Candidate>): Array<string> => candidates.map((c) => c.name)

/** A command of a reason over candidates, without replacements. */
export const command = (
  reason: Planner.Reason,
  candidates: ReadonlyArray<Candidates.Candidate>,
  method = reason === "Empty" ? "empty" : "single"
): Planner.Command => ({ reason, method, candidates, replacements: [] })
