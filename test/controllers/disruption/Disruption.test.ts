import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import * as Disruption from "../../../src/controllers/disruption/Disruption.ts"
import * as Metrics from "../../../src/controllers/disruption/DisruptionMetrics.ts"
import type * as Method from "../../../src/controllers/disruption/Method.ts"
import type * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as PodsByNode from "../../../src/scheduling/PodsByNode.ts"
import * as Fixtures from "../provisioning/scheduling/fixtures.ts"
import * as F from "./fixtures.ts"

const condition = (type: string) => ({ type, status: "True", reason: type, message: "", lastTransitionTime: "" })

/** A ready, initialized node of the NodePool "default"; `drifted` marks its NodeClaim Drifted. */
const stateNode = (name: string, options: { readonly drifted?: boolean; readonly gracePeriod?: string } = {}) => ({
  name,
  providerID: undefined,
  nodePool: "default",
  capacity: {},
  pods: [],
  markedForDeletion: false,
  deleting: false,
  nominatedUntil: undefined,
  initialized: true,
  node: { metadata: { name, labels: {} }, spec: {}, status: { conditions: [{ type: "Ready", status: "True" }] } },
  nodeClaim: {
    metadata: { name },
    spec: {
      expireAfter: "Never",
      ...(options.gracePeriod === undefined ? {} : { terminationGracePeriod: options.gracePeriod })
    },
    status: {
      conditions: [
        condition(ConditionTypes.Consolidatable),
        ...(options.drifted === true ? [condition(ConditionTypes.Drifted)] : [])
      ]
    }
  }
})

/** The NodePool "default", whose budgets allow 2 disruptions, none of them for drift. */
const nodePool = () => {
  const pool = Fixtures.nodePool("default")
  const budgets = [{ nodes: "0", reasons: ["Drifted" as const] }, { nodes: "2" }]
  return { ...pool, spec: { ...pool.spec, disruption: { ...pool.spec.disruption, budgets } } }
}

/**
 * Three nodes of "default": "calm", "drifted", and "pinned", drifted too, whose pod has do-not-disrupt — a graceful
 * method may not take it, an eventual one may (its NodeClaim has a TerminationGracePeriod).
 */
const snapshot = (): Planner.Snapshot => {
  const pinnedPod = {
    metadata: { name: "p", namespace: "default", annotations: { [Labels.DoNotDisruptAnnotation]: "true" } },
    spec: { nodeName: "pinned", containers: [] },
    status: { phase: "Running" }
  }
  return {
    now: 0,
    stateNodes: [
      stateNode("calm"),
      stateNode("drifted", { drifted: true }),
      stateNode("pinned", { drifted: true, gracePeriod: "1h" })
    ],
    context: {
      now: 0,
      nodePools: new Map([["default", { nodePool: nodePool(), instanceTypes: [] }]]),
      podsByNode: PodsByNode.bound([pinnedPod as never]),
      budgets: [],
      queued: new Set()
    }
  } as never
}

/** What a fake method saw when it ran. */
interface Call {
  readonly name: Method.Name
  readonly candidates: ReadonlyArray<string>
  readonly budgets: ReadonlyArray<readonly [string, number]>
}

/** Fake methods that record what they see and decide what `decisions` says (nothing by default). */
const methods = (decisions: Partial<Record<Method.Name, Planner.Command>>) => {
  const calls: Array<Call> = []
  const fake = (
    name: Method.Name,
    reason: Planner.Reason,
    disruptionClass: Candidates.DisruptionClass,
    shouldDisrupt: (candidate: Candidates.Candidate) => boolean = () => true
  ): Method.Method => ({
    name,
    reason,
    disruptionClass,
    shouldDisrupt,
    computeCommand: (_state, candidates, budgets) =>
      Effect.sync(() => {
        calls.push({ name, candidates: F.names(candidates), budgets: [...budgets] })
        return decisions[name]
      })
  })
  return {
    calls,
    all: [
      fake("empty", "Empty", "graceful"),
      fake("drift", "Drifted", "eventual", (c) => Candidates.hasCondition(c, ConditionTypes.Drifted)),
      fake("multi", "Underutilized", "graceful"),
      fake("single", "Underutilized", "graceful")
    ]
  }
}

describe("Disruption.firstCommand: the methods in order, the first command wins", () => {
  it.effect("runs every method in order when none decides anything", () =>
    Effect.gen(function* () {
      const { calls, all } = methods({})
      assert.isUndefined(yield* Disruption.firstCommand(all, snapshot()))
      assert.deepStrictEqual(
        calls.map((call) => call.name),
        ["empty", "drift", "multi", "single"]
      )
    })
  )

  it.effect("each method sees the candidates of its class it should disrupt, and its reason's budgets", () =>
    Effect.gen(function* () {
      const { calls, all } = methods({})
      yield* Disruption.firstCommand(all, snapshot())
      assert.deepStrictEqual(calls[0], { name: "empty", candidates: ["calm", "drifted"], budgets: [["default", 2]] })
      assert.deepStrictEqual(calls[1], { name: "drift", candidates: ["drifted", "pinned"], budgets: [["default", 0]] })
    })
  )

  it.effect(
    "returns the first command with candidates; a command without any does not count; later methods do not run",
    () =>
      Effect.gen(function* () {
        const multi = F.command("Underutilized", [F.candidate("calm")], "multi")
        const { calls, all } = methods({
          drift: { reason: "Drifted", method: "drift", candidates: [], replacements: [] },
          multi,
          single: F.command("Underutilized", [F.candidate("drifted")], "single")
        })
        assert.strictEqual(yield* Disruption.firstCommand(all, snapshot()), multi)
        assert.deepStrictEqual(
          calls.map((call) => call.name),
          ["empty", "drift", "multi"]
        )
      })
  )

  it.effect("each method's evaluation time goes to its own reason and consolidation type series", () =>
    Effect.gen(function* () {
      const { all } = methods({})
      yield* Disruption.firstCommand(all, snapshot())
      yield* Disruption.firstCommand(all, snapshot())
      const count = (reason: string, type: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(Metrics.evaluationDurationSeconds, { reason, consolidation_type: type })),
          (state) => state.count
        )
      assert.deepStrictEqual(
        [
          yield* count("empty", ""),
          yield* count("drifted", ""),
          yield* count("underutilized", "multi"),
          yield* count("underutilized", "single"),
          yield* count("underutilized", "")
        ],
        [2, 2, 2, 2, 0]
      )
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
