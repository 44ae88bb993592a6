/**
 * The disruption controller (upstream `pkg/controllers/disruption`): every 10 s, find nodes that can go — empty
 * ones, drifted ones, and sets of underused ones that fit on less or cheaper capacity — within each NodePool's
 * budgets; launch replacements first, wait until they are initialized, then delete the candidates.
 *
 * Method order is Emptiness → Drift → Multi-node → Single-node consolidation: upstream v1.5 moved Emptiness first
 * (removing empty nodes costs nothing and frees budget), which we take as the fix it was.
 *
 * The consolidation searches are effects that yield between simulations; their timeouts (3 minutes single-node,
 * 1 minute multi-node) are deadlines checked between simulations, so what was found before the deadline is used.
 */
import { Clock, Duration, Effect, Metric, Option } from "effect"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as Taints from "../../api/Taints.ts"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Result from "../../runtime/Result.ts"
import * as Singleton from "../../runtime/Singleton.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Conditions from "../Conditions.ts"
import * as Provisioner from "../provisioning/Provisioner.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import { DisruptionLog } from "./DisruptionLog.ts"
import * as Headroom from "./Headroom.ts"
import * as Metrics from "./Metrics.ts"
import * as Planner from "./Planner.ts"

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
  /** An orchestrated command whose replacements are not initialized by then is abandoned. */
  readonly commandTimeout?: Duration.Input
}

const millis = (input: Duration.Input | undefined, fallback: Duration.Input) =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

/** A command being carried out: replacements launching, candidates to delete once they are initialized. */
interface Queued {
  readonly command: Command
  readonly startedAt: number
  readonly replacementNames: ReadonlyArray<string>
}

/** Starts the disruption controller in the current Scope. */
export const make = (options?: Options) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const cluster = yield* ClusterState
    const events = yield* EventRecorder
    const log = yield* DisruptionLog
    const validationTTL = millis(options?.validationTTL, "15 seconds")
    const singleTimeout = millis(options?.singleNodeTimeout, "3 minutes")
    const multiTimeout = millis(options?.multiNodeTimeout, "1 minute")
    const commandTimeout = millis(options?.commandTimeout, "10 minutes")
    const settings: Planner.ConsolidationSettings = {
      spotToSpot: options?.spotToSpotConsolidation ?? false,
      ...(options?.preferencePolicy === undefined ? {} : { preferencePolicy: options.preferencePolicy })
    }
    const queue: Array<Queued> = []
    const consolidated = new Map<string, number>()
    let orchestration: Singleton.Singleton | undefined

    const queuedNames = () => new Set(queue.flatMap((entry) => entry.command.candidates.map((c) => c.name)))

    const snapshot = Effect.suspend(() => Planner.snapshot(queuedNames()))
    const isConsolidated = (method: string, state: number) => consolidated.get(method) === state

    /**
     * Tells why a candidate stays (Unconsolidatable, DisruptionBlocked) on its Node and its NodeClaim, as upstream
     * does, and in the debug log.
     */
    const explain = (candidate: Candidates.Candidate, reason: "Unconsolidatable" | "DisruptionBlocked", why: string) =>
      Effect.gen(function* () {
        const claim = candidate.nodeClaim.metadata
        for (const involvedObject of [
          { apiVersion: "v1", kind: "Node", name: candidate.name },
          {
            apiVersion: "karpenter.sh/v1",
            kind: "NodeClaim",
            name: claim.name ?? "",
            ...(claim.uid === undefined ? {} : { uid: claim.uid })
          }
        ]) {
          yield* events.publish({ involvedObject, type: "Normal", reason, message: why })
        }
        yield* Effect.logDebug(reason.toLowerCase()).pipe(
          Effect.annotateLogs({ Node: { name: candidate.name }, NodeClaim: { name: claim.name }, why })
        )
      })

    const reportEligible = (reason: Reason, count: number) =>
      Metric.update(Metric.withAttributes(Metrics.eligibleNodes, { reason: reason.toLowerCase() }), count)

    /** Waits the validation TTL, then checks the candidates are still candidates and the decision still holds. */
    const validate = Effect.fn("Disruption.validate")(function* (command: Command) {
      yield* Effect.sleep(Duration.millis(validationTTL))
      const state = yield* snapshot
      const current = new Map(Planner.candidatesFor(state, "graceful").map((c) => [c.name, c]))
      const budgets = Planner.budgetMapping(state, command.reason)
      const still: Array<Candidates.Candidate> = []
      for (const candidate of command.candidates) {
        const now = current.get(candidate.name)
        if (now === undefined || !Planner.consolidatable(now)) return undefined
        if (command.reason === "Empty" && now.reschedulablePods.length > 0) return undefined
        const left = budgets.get(now.nodePool.metadata.name ?? "") ?? 0
        if (left <= 0) return undefined
        budgets.set(now.nodePool.metadata.name ?? "", left - 1)
        still.push(now)
      }
      if (command.reason === "Empty") return { ...command, candidates: still }
      const again = yield* Planner.computeConsolidation(state, still, command.method, settings)
      if (again.command === undefined) {
        // Upstream's "command is no longer valid" (pod churn), with the reason.
        yield* Effect.logDebug(`abandoning ${command.method} consolidation, command is no longer valid: ${again.why}`)
        return undefined
      }
      if ((again.command.replacements.length === 0) !== (command.replacements.length === 0)) return undefined
      return again.command
    })

    const emptiness = Effect.fn("Disruption.emptiness")(function* (state: Planner.Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("empty", consolidationState)) return undefined
      const budgets = Planner.budgetMapping(state, "Empty")
      const empty = Planner.candidatesFor(state, "graceful")
        .filter((c) => Planner.consolidatable(c) && c.reschedulablePods.length === 0)
        .sort(Candidates.byDisruptionCost)
      yield* reportEligible("Empty", empty.length)
      const chosen: Array<Candidates.Candidate> = []
      let constrained = false
      for (const candidate of empty) {
        const name = candidate.nodePool.metadata.name ?? ""
        const left = budgets.get(name) ?? 0
        if (left <= 0) {
          constrained = true
          continue
        }
        budgets.set(name, left - 1)
        chosen.push(candidate)
      }
      if (chosen.length === 0) {
        if (!constrained) consolidated.set("empty", consolidationState)
        return undefined
      }
      return yield* validate({ reason: "Empty", method: "empty", candidates: chosen, replacements: [] })
    })

    const drift = Effect.fn("Disruption.drift")(function* (state: Planner.Snapshot) {
      const budgets = Planner.budgetMapping(state, "Drifted")
      const drifted = Planner.candidatesFor(state, "eventual")
        .filter((c) => Candidates.hasCondition(c, ConditionTypes.Drifted))
        .sort((a, b) => Candidates.driftedAt(a) - Candidates.driftedAt(b) || Candidates.byDisruptionCost(a, b))
      yield* reportEligible("Drifted", drifted.length)
      const empties: Array<Candidates.Candidate> = []
      for (const candidate of drifted.filter((c) => c.reschedulablePods.length === 0)) {
        const name = candidate.nodePool.metadata.name ?? ""
        const left = budgets.get(name) ?? 0
        if (left <= 0) continue
        budgets.set(name, left - 1)
        empties.push(candidate)
      }
      if (empties.length > 0)
        return { reason: "Drifted", method: "drift", candidates: empties, replacements: [] } satisfies Command
      for (const candidate of drifted) {
        if ((budgets.get(candidate.nodePool.metadata.name ?? "") ?? 0) <= 0) continue
        const results = yield* Planner.simulate(state, [candidate], settings)
        if ("podErrors" in results) {
          yield* explain(candidate, "DisruptionBlocked", Planner.podSchedulingErrors(results.podErrors))
          continue
        }
        return {
          reason: "Drifted",
          method: "drift",
          candidates: [candidate],
          replacements: results.newNodeClaims
        } satisfies Command
      }
      return undefined
    })

    const multiNode = Effect.fn("Disruption.multiNode")(function* (state: Planner.Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("multi", consolidationState)) return undefined
      const budgets = Planner.budgetMapping(state, "Underutilized")
      const chosen: Array<Candidates.Candidate> = []
      for (const candidate of Planner.consolidationCandidates(state)) {
        if (candidate.reschedulablePods.length === 0) continue
        const name = candidate.nodePool.metadata.name ?? ""
        const left = budgets.get(name) ?? 0
        if (left <= 0) continue
        budgets.set(name, left - 1)
        chosen.push(candidate)
        if (chosen.length === 100) break
      }
      if (chosen.length < 2) {
        consolidated.set("multi", consolidationState)
        return undefined
      }
      const { best, timedOut } = yield* Planner.longestPrefix(
        chosen.length,
        (size) =>
          Effect.map(
            Planner.computeConsolidation(state, chosen.slice(0, size), "multi", settings),
            (outcome) => outcome.command
          ),
        Duration.millis(multiTimeout)
      )
      if (timedOut) {
        yield* Metric.update(
          Metric.withAttributes(Metrics.consolidationTimeoutsTotal, { consolidation_type: "multi" }),
          1
        )
        yield* Effect.logInfo(
          `multi-node consolidation timed out after ${Duration.format(Duration.millis(multiTimeout))}; ${best === undefined ? "nothing found" : "using the best command found"}`
        )
      }
      if (best === undefined) {
        if (!timedOut) consolidated.set("multi", consolidationState)
        return undefined
      }
      return yield* validate(best)
    })

    const singleNode = Effect.fn("Disruption.singleNode")(function* (state: Planner.Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("single", consolidationState)) return undefined
      const budgets = Planner.budgetMapping(state, "Underutilized")
      const candidates = Planner.consolidationCandidates(state)
      yield* reportEligible("Underutilized", candidates.length)
      const search = Effect.gen(function* () {
        for (const candidate of candidates) {
          if (candidate.reschedulablePods.length === 0) continue
          if ((budgets.get(candidate.nodePool.metadata.name ?? "") ?? 0) <= 0) continue
          const ruledOut = Headroom.ruledOut(state, candidate, Planner.candidatesPrice([candidate]), settings)
          const { command, why } =
            ruledOut === undefined
              ? yield* Planner.computeConsolidation(state, [candidate], "single", settings)
              : { command: undefined, why: ruledOut }
          if (command !== undefined) return command
          yield* explain(candidate, "Unconsolidatable", why)
          yield* Effect.yieldNow
        }
        return undefined
      })
      const found = yield* Effect.timeoutOption(search, Duration.millis(singleTimeout))
      if (Option.isNone(found)) {
        yield* Metric.update(
          Metric.withAttributes(Metrics.consolidationTimeoutsTotal, { consolidation_type: "single" }),
          1
        )
        yield* Effect.logInfo(
          `single-node consolidation timed out after ${Duration.format(Duration.millis(singleTimeout))}`
        )
        return undefined
      }
      if (found.value === undefined) {
        consolidated.set("single", consolidationState)
        return undefined
      }
      return yield* validate(found.value)
    })

    const setDisruptionReason = (name: string, reason: Reason | undefined) =>
      Effect.gen(function* () {
        const claim = yield* kube.get(Resources.NodeClaims, name)
        const now = yield* Clock.currentTimeMillis
        const conditions =
          reason === undefined
            ? Conditions.clear(claim.status?.conditions, ConditionTypes.DisruptionReason)
            : Conditions.set(
                claim.status?.conditions,
                { type: ConditionTypes.DisruptionReason, status: "True", reason },
                {
                  generation: claim.metadata.generation,
                  now
                }
              )
        if (conditions === claim.status?.conditions) return
        yield* kube.patch(
          Resources.NodeClaims,
          name,
          {
            type: "merge",
            patch: { metadata: { resourceVersion: claim.metadata.resourceVersion }, status: { conditions } }
          },
          { subresource: "status" }
        )
      }).pipe(Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void }))

    const setTaint = (name: string, present: boolean) =>
      Effect.gen(function* () {
        const node = yield* kube.get(Resources.Nodes, name)
        const taints = node.spec.taints ?? []
        const has = taints.some((taint) => Taints.matches(taint, Taints.DisruptedNoSchedule))
        if (has === present || (!present && node.metadata.deletionTimestamp !== undefined)) return
        yield* kube.patch(Resources.Nodes, name, {
          type: "merge",
          patch: {
            metadata: { resourceVersion: node.metadata.resourceVersion },
            spec: {
              taints: present
                ? [...taints, Taints.DisruptedNoSchedule]
                : taints.filter((taint) => !Taints.matches(taint, Taints.DisruptedNoSchedule))
            }
          }
        })
      }).pipe(Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void }))

    const execute = Effect.fn("Disruption.execute")(function* (command: Command) {
      const names = command.candidates.map((c) => c.name)
      yield* Metric.update(
        Metric.withAttributes(Metrics.decisionsTotal, {
          decision: command.replacements.length === 0 ? "delete" : "replace",
          ...Metrics.methodAttributes(command.reason, command.method)
        }),
        1
      )
      for (const candidate of command.candidates) {
        yield* setTaint(candidate.name, true)
        yield* setDisruptionReason(candidate.nodeClaim.metadata.name ?? "", command.reason)
      }
      yield* cluster.markForDeletion(names)
      const created = yield* Provisioner.createNodeClaims(command.replacements, command.reason.toLowerCase())
      const now = yield* Clock.currentTimeMillis
      queue.push({ command, startedAt: now, replacementNames: created.map((entry) => entry.name) })
      if (orchestration !== undefined) yield* orchestration.trigger
      yield* log.record({
        time: now,
        reason: command.reason,
        candidates: names,
        replacements: created.map((entry) => entry.claim.instanceTypes[0]?.name ?? "")
      })
      for (const candidate of command.candidates) {
        yield* events.publish({
          involvedObject: { apiVersion: "v1", kind: "Node", name: candidate.name },
          type: "Normal",
          reason: "DisruptionLaunching",
          message: `Disrupting Node: ${command.reason}/${command.replacements.length === 0 ? "Delete" : "Replace"}`
        })
      }
      yield* Effect.logInfo(
        `disrupting nodes (${command.reason}): ${names.join(", ")}${created.length === 0 ? "" : ` → ${created.map((c) => c.name).join(", ")}`}`
      )
    })

    /** Abandons a command: the candidates stay, untainted and unmarked. */
    const abandon = (entry: Queued, why: string) =>
      Effect.gen(function* () {
        yield* Metric.update(
          Metric.withAttributes(Metrics.queueFailuresTotal, {
            decision: entry.command.replacements.length === 0 ? "delete" : "replace",
            ...Metrics.methodAttributes(entry.command.reason, entry.command.method)
          }),
          1
        )
        for (const candidate of entry.command.candidates) {
          yield* setTaint(candidate.name, false)
          yield* setDisruptionReason(candidate.nodeClaim.metadata.name ?? "", undefined)
        }
        yield* cluster.unmarkForDeletion(entry.command.candidates.map((c) => c.name))
        yield* Effect.logWarning(
          `abandoned disruption of ${entry.command.candidates.map((c) => c.name).join(", ")}: ${why}`
        )
      })

    /** One pass over the orchestration queue: delete candidates whose replacements are initialized. */
    const orchestrate = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const entry of [...queue]) {
        const index = queue.indexOf(entry)
        if (now - entry.startedAt > commandTimeout) {
          queue.splice(index, 1)
          yield* abandon(entry, "replacements did not initialize in time")
          continue
        }
        let ready = true
        let lost = false
        for (const name of entry.replacementNames) {
          const claim = yield* kube.get(Resources.NodeClaims, name).pipe(Effect.option)
          if (Option.isNone(claim)) {
            lost = now - entry.startedAt > 5_000
            ready = false
            continue
          }
          if (!Conditions.isTrue(claim.value.status?.conditions, ConditionTypes.Initialized)) ready = false
        }
        if (lost) {
          queue.splice(index, 1)
          yield* abandon(entry, "a replacement NodeClaim is gone")
          continue
        }
        if (!ready) continue
        queue.splice(index, 1)
        for (const candidate of entry.command.candidates) {
          yield* kube
            .delete(Resources.NodeClaims, candidate.nodeClaim.metadata.name ?? "")
            .pipe(Effect.catchTag("NotFound", () => Effect.void))
          yield* Metric.update(
            Metric.withAttributes(Metrics.nodeClaimsDisruptedTotal, {
              reason: entry.command.reason.toLowerCase(),
              nodepool: candidate.nodePool.metadata.name ?? "",
              capacity_type: candidate.capacityType ?? ""
            }),
            1
          )
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: candidate.name },
            type: "Normal",
            reason: "DisruptionTerminating",
            message: `Disrupting Node: ${entry.command.reason}`
          })
        }
        // The candidates stay marked until they are gone (ClusterState forgets them then): unmarked while the
        // informers have not shown their deletion yet, they would look like fresh candidates to the next pass.
      }
      // An empty queue sleeps until `execute` triggers it: polling every second was most of an idle simulated day.
      return queue.length === 0 ? Result.done : Result.requeueAfter("1 second")
    })

    /** Recovers from a crash mid-command: nodes tainted by disruption that no command owns get their taint back off. */
    const recover = (state: Planner.Snapshot) =>
      Effect.gen(function* () {
        const queued = queuedNames()
        for (const node of state.stateNodes) {
          if (queued.has(node.name) || node.deleting || node.node === undefined) continue
          if ((node.node.spec.taints ?? []).some((taint) => Taints.matches(taint, Taints.DisruptedNoSchedule))) {
            yield* setTaint(node.name, false)
            if (node.nodeClaim !== undefined) yield* setDisruptionReason(node.nodeClaim.metadata.name ?? "", undefined)
          }
        }
      })

    /** Sets the allowed-disruptions gauge and says which NodePools a budget blocks now, and until when. */
    const reportBudgets = (state: Planner.Snapshot) =>
      Effect.gen(function* () {
        for (const reason of ["Empty", "Drifted", "Underutilized"] as const) {
          for (const budget of Planner.budgetStates(state, reason)) {
            const name = budget.nodePool.metadata.name ?? ""
            yield* Metric.update(
              Metric.withAttributes(Metrics.nodePoolsAllowedDisruptions, {
                nodepool: name,
                reason: reason.toLowerCase()
              }),
              budget.left
            )
            if (budget.numNodes > 0 && budget.allowed === 0) {
              yield* events.publish({
                involvedObject: { apiVersion: "karpenter.sh/v1", kind: "NodePool", name },
                type: "Normal",
                reason: "DisruptionBlocked",
                message: `No allowed disruptions for ${reason}: ${Budgets.describe(budget.nodePool, budget.numNodes, reason, state.now)}`
              })
            }
          }
        }
      })

    const pass = Effect.gen(function* () {
      if (!(yield* cluster.synced)) return Result.requeueAfter("1 second")
      const state = yield* snapshot
      yield* recover(state)
      // Upstream GetCandidates: a node that something protects says why (DisruptionBlocked; the recorder dedupes).
      const outcomes = Planner.outcomes(state, "graceful")
      for (const [index, node] of state.stateNodes.entries()) {
        const outcome = outcomes[index]!
        if ("blocked" in outcome && outcome.blocked !== undefined) {
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: node.name },
            type: "Normal",
            reason: "DisruptionBlocked",
            message: `Cannot disrupt Node: ${outcome.blocked}`
          })
        }
      }
      yield* reportBudgets(state)
      for (const [method, name] of [
        [emptiness, "empty"],
        [drift, "drift"],
        [multiNode, "multi"],
        [singleNode, "single"]
      ] as const) {
        const [took, command] = yield* Effect.timed(method(state))
        yield* Metric.update(
          Metric.withAttributes(
            Metrics.evaluationDurationSeconds,
            Metrics.methodAttributes(name === "drift" ? "Drifted" : name === "empty" ? "Empty" : "Underutilized", name)
          ),
          Duration.toSeconds(took)
        )
        if (command !== undefined && command.candidates.length > 0) {
          yield* execute(command)
          return Result.requeue
        }
      }
      return Result.done
    })

    yield* Singleton.make({
      name: "disruption",
      run: pass.pipe(
        Effect.catchCause((cause) => Effect.as(Effect.logError("disruption pass failed", cause), Result.done))
      ),
      interval: options?.pollInterval ?? "10 seconds"
    })
    orchestration = yield* Singleton.make({ name: "disruption.orchestration", run: orchestrate, interval: "1 minute" })
  })
