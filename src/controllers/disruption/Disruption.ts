/**
 * The disruption controller (upstream `pkg/controllers/disruption/controller.go`): every 10 s, find nodes that can
 * go — empty ones, drifted ones, and sets of underused ones that fit on less or cheaper capacity — within each
 * NodePool's budgets, and hand the first command found to orchestration, which launches the replacements first, waits
 * until they are initialized, then deletes the candidates.
 *
 * Method order is Emptiness → StaticDrift → Drift → Multi-node → Single-node consolidation: upstream v1.5 moved
 * Emptiness first (removing empty nodes costs nothing and frees budget), which we take as the fix it was; v1.11 put
 * static drift before drift.
 *
 * The consolidation searches are effects that yield between simulations; their timeouts (3 minutes single-node,
 * 1 minute multi-node) are deadlines checked between simulations, so what was found before the deadline is used.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as DoNotDisrupt from "../../api/DoNotDisrupt.ts"
import * as Labels from "../../api/Labels.ts"
import type { Pod } from "../../api/Pod.ts"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import * as Result from "../../runtime/Result.ts"
import * as Singleton from "../../runtime/Singleton.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import type * as Scheduler from "../provisioning/scheduling/Scheduler.ts"
import * as Budgets from "./Budgets.ts"
import * as Validation from "./CommandValidation.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import * as Drift from "./Drift.ts"
import * as Emptiness from "./Emptiness.ts"
import type * as Method from "./Method.ts"
import * as MultiNodeConsolidation from "./MultiNodeConsolidation.ts"
import * as Orchestration from "./Orchestration.ts"
import * as Planner from "./Planner.ts"
import * as SingleNodeConsolidation from "./SingleNodeConsolidation.ts"
import * as StaticDrift from "./StaticDrift.ts"

/** The budgeted disruption reasons. */
export type Reason = Planner.Reason
/** What a method decided. */
export type Command = Planner.Command

/** Timing of the controller (upstream's constants by default). */
export interface Options {
  readonly pollInterval?: Duration.Input
  /** Consolidation waits this long and checks again before acting (upstream consolidationTTL). */
  readonly validationTTL?: Duration.Input
  readonly singleNodeTimeout?: Duration.Input
  readonly multiNodeTimeout?: Duration.Input
  /** The SpotToSpotConsolidation feature gate (off by default, as upstream v1.4.0). */
  readonly spotToSpotConsolidation?: boolean
  /** PREFERENCE_POLICY for the scheduling simulations (the provisioner's option of the same name). */
  readonly preferencePolicy?: "Respect" | "Ignore"
  /** MIN_VALUES_POLICY for the scheduling simulations (the provisioner's option of the same name). */
  readonly minValuesPolicy?: Scheduler.MinValuesPolicy
  /** The ReservedCapacity feature gate: when off (the default), reserved offerings are not offered. */
  readonly reservedCapacity?: boolean
  /** The CapacityBuffer feature gate: simulations place the buffers' virtual pods; emptiness keeps their nodes. */
  readonly capacityBuffer?: boolean
  /** An orchestrated command whose replacements are not initialized by then is abandoned. */
  readonly commandTimeout?: Duration.Input
}

const millis = (input: Duration.Input | undefined, fallback: Duration.Input) =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

/**
 * Runs the methods in order on a snapshot and returns the first command with candidates; later methods are not run.
 * Each method sees the candidates of its class it should disrupt and its reason's budgets; how long it took is
 * recorded.
 */
export const firstCommand = <E, R>(methods: ReadonlyArray<Method.Method<E, R>>, state: Planner.Snapshot) =>
  Effect.gen(function* () {
    for (const method of methods) {
      const [took, command] = yield* Effect.timed(
        Effect.suspend(() =>
          method.computeCommand(
            state,
            Planner.candidatesFor(state, method.disruptionClass).filter(method.shouldDisrupt),
            Planner.budgetMapping(state, method.reason)
          )
        )
      )
      yield* Metric.update(
        Metrics.evaluationSeries(`${method.reason}/${method.name}`, () =>
          Metrics.methodAttributes(method.reason, method.name)
        ),
        Duration.toSeconds(took)
      )
      if (command !== undefined && command.candidates.length > 0) return command
    }
    return undefined
  })

/** Starts the disruption controller in the current Scope. */
export const make = (options?: Options) =>
  Effect.gen(function* () {
    const cluster = yield* ClusterState
    const events = yield* EventRecorder
    const settings: Planner.ConsolidationSettings = {
      spotToSpot: options?.spotToSpotConsolidation ?? false,
      ...(options?.preferencePolicy === undefined ? {} : { preferencePolicy: options.preferencePolicy }),
      ...(options?.minValuesPolicy === undefined ? {} : { minValuesPolicy: options.minValuesPolicy })
    }
    const pollMillis = millis(options?.pollInterval, "10 seconds")
    const orchestration = yield* Orchestration.make({ commandTimeout: options?.commandTimeout ?? "10 minutes" })
    const reservedCapacity = options?.reservedCapacity ?? false
    const capacityBuffer = options?.capacityBuffer ?? false
    const snapshot = Effect.suspend(() =>
      Planner.snapshot(orchestration.queued(), { reservedCapacity, capacityBuffer })
    )
    const context = {
      settings,
      validate: Validation.make({ ttl: options?.validationTTL ?? "15 seconds", snapshot, settings })
    }
    const methods = [
      yield* Emptiness.make(context),
      StaticDrift.make(),
      Drift.make(settings),
      yield* MultiNodeConsolidation.make(context, millis(options?.multiNodeTimeout, "1 minute")),
      yield* SingleNodeConsolidation.make(context, millis(options?.singleNodeTimeout, "3 minutes"))
    ]

    /** Sets the allowed-disruptions gauge and says which NodePools a budget blocks now, and until when. */
    const reportBudgets = (state: Planner.Snapshot) =>
      Effect.gen(function* () {
        for (const reason of ["Empty", "Drifted", "Underutilized"] as const) {
          for (const budget of Planner.budgetStates(state, reason)) {
            const name = budget.nodePool.metadata.name ?? ""
            yield* Metric.update(
              Metrics.allowedDisruptionsSeries(`${name}/${reason}`, () => ({
                nodepool: name,
                reason: reason.toLowerCase()
              })),
              budget.left
            )
            if (budget.numNodes > 0 && budget.allowed === 0) {
              yield* events.publish({
                involvedObject: { apiVersion: "karpenter.sh/v1", kind: "NodePool", name },
                type: "Normal",
                reason: "DisruptionBlocked",
                message: `No allowed disruptions for ${reason}: ${Budgets.describe(budget.nodePool, budget.numNodes, reason, state.now)}`,
                dedupeValues: [budget.nodePool.metadata.uid ?? name, reason],
                dedupeTimeoutMillis: 60_000
              })
            }
          }
        }
      })

    /** Upstream's InvalidDoNotDisruptAnnotation: a value that is neither "true" nor a positive duration is ignored. */
    const reportInvalidDoNotDisrupt = (state: Planner.Snapshot) => {
      // Without the annotation on any pod there is nothing to report: no scan of every node's pods each pass.
      if (!DoNotDisrupt.anyAnnotated(state.view.pods)) return Effect.void
      const invalid: Array<{ readonly pod: Pod; readonly message: string }> = []
      for (const node of state.stateNodes) {
        for (const pod of state.context.podsByNode.get(node.name) ?? []) {
          const protection = DoNotDisrupt.protection(pod)
          if (protection._tag === "Invalid") invalid.push({ pod, message: protection.message })
        }
      }
      return Effect.forEach(
        invalid,
        ({ pod, message }) =>
          events.publish({
            involvedObject: {
              apiVersion: "v1",
              kind: "Pod",
              name: pod.metadata.name ?? "",
              namespace: pod.metadata.namespace ?? "default"
            },
            type: "Warning",
            reason: "InvalidDoNotDisruptAnnotation",
            message: `Ignoring the ${Labels.DoNotDisruptAnnotation} annotation: ${message}`
          }),
        { discard: true }
      )
    }

    // When the soonest do-not-disrupt duration seen by the last pass ends.
    let nextProtectionEnd = Number.POSITIVE_INFINITY

    const pass = Effect.gen(function* () {
      if (!(yield* cluster.synced)) return Result.requeueAfter("1 second")
      const state = yield* snapshot
      yield* orchestration.recover(state)
      // Upstream GetCandidates: a node that something protects says why (DisruptionBlocked, its repeats dropped for 2 minutes).
      const outcomes = Planner.outcomes(state, "graceful")
      let protectionEnds = Number.POSITIVE_INFINITY
      for (let index = 0; index < state.stateNodes.length; index++) {
        const node = state.stateNodes[index]!
        const outcome = outcomes[index]!
        if ("blocked" in outcome && outcome.blocked !== undefined) {
          if (outcome.protectedUntil !== undefined) protectionEnds = Math.min(protectionEnds, outcome.protectedUntil)
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: node.name },
            type: "Normal",
            reason: "DisruptionBlocked",
            message: `Cannot disrupt Node: ${outcome.blocked}`,
            dedupeValues: [node.name]
          })
        }
      }
      yield* reportInvalidDoNotDisrupt(state)
      // A protection ending changes no object: tell consolidation, which skips an unchanged cluster, to look again.
      if (nextProtectionEnd <= state.now) yield* cluster.markUnconsolidated
      nextProtectionEnd = protectionEnds
      yield* reportBudgets(state)
      const command = yield* firstCommand(methods, state)
      // A do-not-disrupt duration ending before the next poll: look again the moment it ends.
      if (command === undefined) {
        return protectionEnds - state.now < pollMillis ? Result.requeueAfter(protectionEnds - state.now) : Result.done
      }
      yield* orchestration.add(command)
      return Result.requeue
    })

    yield* Singleton.make({
      name: "disruption",
      run: pass.pipe(
        Effect.catchCause((cause) => Effect.as(Effect.logError("disruption pass failed", cause), Result.done))
      ),
      interval: Duration.millis(pollMillis)
    })
  })
