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
import { Clock, Duration, Effect, Option } from "effect"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as Labels from "../../api/Labels.ts"
import * as NodeApi from "../../api/Node.ts"
import * as Taints from "../../api/Taints.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Result from "../../runtime/Result.ts"
import * as Singleton from "../../runtime/Singleton.ts"
import * as InstanceTypeFilter from "../../scheduling/InstanceTypeFilter.ts"
import * as Requirement from "../../scheduling/Requirement.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import type * as Scheduler from "../../scheduling/Scheduler.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Conditions from "../Conditions.ts"
import * as Provisioner from "../provisioning/Provisioner.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import { DisruptionLog } from "./DisruptionLog.ts"

/** The budgeted disruption reasons. */
export type Reason = "Empty" | "Drifted" | "Underutilized"

/** What a method decided: candidates to remove and the NodeClaims to launch first. */
export interface Command {
  readonly reason: Reason
  readonly method: string
  readonly candidates: ReadonlyArray<Candidates.Candidate>
  readonly replacements: ReadonlyArray<Scheduler.NewNodeClaim>
}

/** Timing of the controller (upstream's constants by default). */
export interface Options {
  readonly pollInterval?: Duration.Input
  /** Consolidation waits this long and checks again before acting (upstream consolidationTTL). */
  readonly validationTTL?: Duration.Input
  readonly singleNodeTimeout?: Duration.Input
  readonly multiNodeTimeout?: Duration.Input
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

const consolidateAfterNever = (candidate: Candidates.Candidate) =>
  candidate.nodePool.spec.disruption.consolidateAfter === "Never"

const priceOf = (candidate: Candidates.Candidate): number | undefined =>
  candidate.instanceType?.offerings.find(
    (offering) => offering.zone === candidate.zone && offering.capacityType === candidate.capacityType
  )?.price

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
    const queue: Array<Queued> = []
    const consolidated = new Map<string, number>()

    const queuedNames = () => new Set(queue.flatMap((entry) => entry.command.candidates.map((c) => c.name)))

    /** Everything a pass decides on, read once. */
    const snapshot = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const view = yield* cluster.view
      const stateNodes = yield* cluster.nodes
      const nodePools = yield* Provisioner.readyNodePools()
      const context: Candidates.Context = {
        now,
        nodePools: new Map(nodePools.map((pool) => [pool.nodePool.metadata.name ?? "", pool])),
        pods: view.pods,
        budgets: view.podDisruptionBudgets,
        queued: queuedNames()
      }
      return { now, view, stateNodes, nodePools, context }
    })
    type Snapshot = Effect.Success<typeof snapshot>

    /** Disruptions each NodePool allows now for a reason, minus those already under way (upstream's mapping). */
    const budgetMapping = (state: Snapshot, reason: Reason): Map<string, number> => {
      const mapping = new Map<string, number>()
      for (const [name, { nodePool }] of state.context.nodePools) {
        const nodes = state.stateNodes.filter(
          (node) =>
            node.nodePool === name &&
            node.nodeClaim !== undefined &&
            node.initialized &&
            !Conditions.isTrue(node.nodeClaim.status?.conditions, ConditionTypes.InstanceTerminating)
        )
        const disrupting = nodes.filter(
          (node) => node.markedForDeletion || node.deleting || node.node === undefined || !NodeApi.isReady(node.node)
        ).length
        const allowed = Budgets.allowedDisruptions(nodePool, nodes.length, reason, state.now)
        mapping.set(name, Math.max(0, allowed - disrupting))
      }
      return mapping
    }

    const candidatesFor = (state: Snapshot, disruptionClass: Candidates.DisruptionClass) =>
      state.stateNodes.flatMap((node) => {
        const outcome = Candidates.evaluate(node, state.context, disruptionClass)
        return "candidate" in outcome ? [outcome.candidate] : []
      })

    /** Schedules the cluster as if the candidates were gone. Undefined when a pod of theirs would not fit. */
    const simulate = Effect.fn("Disruption.simulate")(function* (
      state: Snapshot,
      candidates: ReadonlyArray<Candidates.Candidate>
    ) {
      const marked = new Set([...(state.view.markedForDeletion ?? []), ...candidates.map((c) => c.name)])
      const { results, existingNodes } = yield* Provisioner.simulate(
        { ...state.view, markedForDeletion: marked },
        state.nodePools
      )
      const moving = new Set(
        candidates.flatMap((c) =>
          c.reschedulablePods.map((pod) => `${pod.metadata.namespace ?? "default"}/${pod.metadata.name ?? ""}`)
        )
      )
      for (const key of results.errors.keys()) if (moving.has(key)) return undefined
      // Pods may not count on capacity that is not ready yet, unless it is where they already were going.
      const uninitialized = new Set(existingNodes.filter((node) => !node.initialized).map((node) => node.name))
      for (const placement of results.existingNodes) {
        if (
          uninitialized.has(placement.name) &&
          placement.pods.some((pod) => moving.has(`${pod.metadata.namespace ?? "default"}/${pod.metadata.name ?? ""}`))
        ) {
          return undefined
        }
      }
      return results
    })

    /** Upstream `computeConsolidation`: delete, replace with one cheaper NodeClaim, or nothing (with why). */
    const computeConsolidation = Effect.fn("Disruption.computeConsolidation")(function* (
      state: Snapshot,
      candidates: ReadonlyArray<Candidates.Candidate>,
      method: string
    ) {
      const results = yield* simulate(state, candidates)
      if (results === undefined) return { command: undefined, why: "not all pods would schedule" }
      yield* Effect.logDebug(
        `consolidating ${candidates.map((c) => c.name).join(", ")}: pods would go to ${results.existingNodes
          .map((node) => `${node.name} (${node.pods.map((pod) => pod.metadata.name).join(" ")})`)
          .join(", ")}${results.newNodeClaims.length === 0 ? "" : ` and ${results.newNodeClaims.length} new`}`
      )
      if (results.newNodeClaims.length === 0) {
        return { command: { reason: "Underutilized", method, candidates, replacements: [] } satisfies Command, why: "" }
      }
      if (results.newNodeClaims.length > 1) return { command: undefined, why: "would need more than one replacement" }
      let candidatePrice = 0
      for (const candidate of candidates) {
        const price = priceOf(candidate)
        if (price === undefined) return { command: undefined, why: "the node's offering is unknown" }
        candidatePrice += price
      }
      const replacement = results.newNodeClaims[0]!
      const capacityTypes = Requirements.get(replacement.requirements, Labels.CapacityType)
      const allSpot = candidates.every((c) => c.capacityType === Labels.CapacityTypeSpot)
      if (allSpot && Requirement.has(capacityTypes, Labels.CapacityTypeSpot)) {
        // Spot-to-spot consolidation is behind the SpotToSpotConsolidation gate, off in v1.4.0.
        return { command: undefined, why: "spot-to-spot consolidation is disabled" }
      }
      let requirements = replacement.requirements
      // An on-demand node may be replaced by spot: when both are allowed, the replacement is spot.
      if (
        Requirement.has(capacityTypes, Labels.CapacityTypeSpot) &&
        Requirement.has(capacityTypes, Labels.CapacityTypeOnDemand)
      ) {
        requirements = Requirements.add(
          requirements,
          Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeSpot])
        )
      }
      let options = replacement.instanceTypes.filter(
        (instanceType) => InstanceType.worstLaunchPrice(instanceType.offerings, requirements) < candidatePrice
      )
      if (method === "multi") {
        // Upstream filterOutSameType: never replace a set of nodes by one of their own types at no saving.
        const candidateTypes = new Set(candidates.map((c) => c.instanceType?.name))
        const sameType = options.filter((it) => candidateTypes.has(it.name))
        if (sameType.length > 0) {
          const cheapest = Math.min(
            ...sameType.map((it) => InstanceType.cheapestOffering(it, requirements)?.price ?? Number.POSITIVE_INFINITY)
          )
          options = options.filter(
            (it) => (InstanceType.cheapestOffering(it, requirements)?.price ?? Number.POSITIVE_INFINITY) < cheapest
          )
        }
      }
      if (options.length === 0) return { command: undefined, why: "can't replace with a cheaper node" }
      if (InstanceTypeFilter.minValuesViolation(options, requirements) !== undefined) {
        return { command: undefined, why: "a cheaper replacement would not satisfy minValues" }
      }
      requirements = Requirements.add(
        requirements,
        Requirement.make(
          Labels.InstanceType,
          "In",
          options.map((it) => it.name),
          requirements.get(Labels.InstanceType)?.minValues
        )
      )
      const command: Command = {
        reason: "Underutilized",
        method,
        candidates,
        replacements: [{ ...replacement, requirements, instanceTypes: options }]
      }
      return { command, why: "" }
    })

    const consolidatable = (candidate: Candidates.Candidate) =>
      !consolidateAfterNever(candidate) && Candidates.hasCondition(candidate, ConditionTypes.Consolidatable)

    const isConsolidated = (method: string, state: number) => consolidated.get(method) === state

    /** Waits the validation TTL, then checks the candidates are still candidates and the decision still holds. */
    const validate = Effect.fn("Disruption.validate")(function* (command: Command) {
      yield* Effect.sleep(Duration.millis(validationTTL))
      const state = yield* snapshot
      const current = new Map(candidatesFor(state, "graceful").map((c) => [c.name, c]))
      const budgets = budgetMapping(state, command.reason)
      const still: Array<Candidates.Candidate> = []
      for (const candidate of command.candidates) {
        const now = current.get(candidate.name)
        if (now === undefined || !consolidatable(now)) return undefined
        if (command.reason === "Empty" && now.reschedulablePods.length > 0) return undefined
        const left = budgets.get(now.nodePool.metadata.name ?? "") ?? 0
        if (left <= 0) return undefined
        budgets.set(now.nodePool.metadata.name ?? "", left - 1)
        still.push(now)
      }
      if (command.reason === "Empty") return { ...command, candidates: still }
      const again = yield* computeConsolidation(state, still, command.method)
      if (again.command === undefined) return undefined
      if ((again.command.replacements.length === 0) !== (command.replacements.length === 0)) return undefined
      return again.command
    })

    const emptiness = Effect.fn("Disruption.emptiness")(function* (state: Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("empty", consolidationState)) return undefined
      const budgets = budgetMapping(state, "Empty")
      const empty = candidatesFor(state, "graceful")
        .filter((c) => consolidatable(c) && c.reschedulablePods.length === 0)
        .sort(Candidates.byDisruptionCost)
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

    const drift = Effect.fn("Disruption.drift")(function* (state: Snapshot) {
      const budgets = budgetMapping(state, "Drifted")
      const drifted = candidatesFor(state, "eventual")
        .filter((c) => Candidates.hasCondition(c, ConditionTypes.Drifted))
        .sort((a, b) => Candidates.driftedAt(a) - Candidates.driftedAt(b) || Candidates.byDisruptionCost(a, b))
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
        const results = yield* simulate(state, [candidate])
        if (results === undefined) {
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: candidate.name },
            type: "Normal",
            reason: "DisruptionBlocked",
            message: "Cannot disrupt Node: not all pods would schedule"
          })
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

    const consolidationCandidates = (state: Snapshot) =>
      candidatesFor(state, "graceful")
        .filter(
          (c) =>
            consolidatable(c) &&
            c.nodePool.spec.disruption.consolidationPolicy === "WhenEmptyOrUnderutilized" &&
            c.instanceType !== undefined &&
            c.zone !== undefined &&
            c.capacityType !== undefined
        )
        .sort(Candidates.byDisruptionCost)

    const multiNode = Effect.fn("Disruption.multiNode")(function* (state: Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("multi", consolidationState)) return undefined
      const budgets = budgetMapping(state, "Underutilized")
      const chosen: Array<Candidates.Candidate> = []
      for (const candidate of consolidationCandidates(state)) {
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
      const deadline = state.now + multiTimeout
      let best: Command | undefined
      let low = 1
      let high = chosen.length - 1
      while (low <= high) {
        if ((yield* Clock.currentTimeMillis) >= deadline) {
          yield* Effect.logInfo("multi-node consolidation timed out; using the best command found")
          break
        }
        const middle = Math.floor((low + high) / 2)
        const { command } = yield* computeConsolidation(state, chosen.slice(0, middle + 1), "multi")
        if (command !== undefined) {
          best = command
          low = middle + 1
        } else {
          high = middle - 1
        }
        yield* Effect.yieldNow
      }
      if (best === undefined) {
        consolidated.set("multi", consolidationState)
        return undefined
      }
      return yield* validate(best)
    })

    const singleNode = Effect.fn("Disruption.singleNode")(function* (state: Snapshot) {
      const consolidationState = yield* cluster.consolidationState
      if (isConsolidated("single", consolidationState)) return undefined
      const budgets = budgetMapping(state, "Underutilized")
      const deadline = state.now + singleTimeout
      for (const candidate of consolidationCandidates(state)) {
        if ((yield* Clock.currentTimeMillis) >= deadline) {
          yield* Effect.logInfo("single-node consolidation timed out")
          return undefined
        }
        if (candidate.reschedulablePods.length === 0) continue
        if ((budgets.get(candidate.nodePool.metadata.name ?? "") ?? 0) <= 0) continue
        const { command, why } = yield* computeConsolidation(state, [candidate], "single")
        if (command === undefined) {
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: candidate.name },
            type: "Normal",
            reason: "Unconsolidatable",
            message: why
          })
          continue
        }
        return yield* validate(command)
      }
      consolidated.set("single", consolidationState)
      return undefined
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
      for (const candidate of command.candidates) {
        yield* setTaint(candidate.name, true)
        yield* setDisruptionReason(candidate.nodeClaim.metadata.name ?? "", command.reason)
      }
      yield* cluster.markForDeletion(names)
      const created = yield* Provisioner.createNodeClaims(command.replacements, command.reason.toLowerCase())
      const now = yield* Clock.currentTimeMillis
      queue.push({ command, startedAt: now, replacementNames: created.map((entry) => entry.name) })
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
          yield* events.publish({
            involvedObject: { apiVersion: "v1", kind: "Node", name: candidate.name },
            type: "Normal",
            reason: "DisruptionTerminating",
            message: `Disrupting Node: ${entry.command.reason}`
          })
        }
        yield* cluster.unmarkForDeletion(entry.command.candidates.map((c) => c.name))
      }
      return Result.requeueAfter("1 second")
    })

    /** Recovers from a crash mid-command: nodes tainted by disruption that no command owns get their taint back off. */
    const recover = (state: Snapshot) =>
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

    const pass = Effect.gen(function* () {
      if (!(yield* cluster.synced)) return Result.requeueAfter("1 second")
      const state = yield* snapshot
      yield* recover(state)
      for (const method of [emptiness, drift, multiNode, singleNode]) {
        const command = yield* method(state)
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
    yield* Singleton.make({ name: "disruption.orchestration", run: orchestrate, interval: "1 second" })
  })
