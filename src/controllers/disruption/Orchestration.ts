/**
 * The orchestration queue (upstream `disruption/orchestration/queue.go`, with `executeCommand` and `MarkDisrupted` of
 * `controller.go`): a command is carried out in steps — taint its candidates karpenter.sh/disrupted, set their
 * NodeClaims' DisruptionReason and mark them for deletion; launch its replacements; once every replacement is
 * Initialized, delete the candidates' NodeClaims (termination drains them). A command whose replacements are not all
 * Initialized within the timeout, or one of whose replacements is gone, is rolled back: the candidates lose the taint,
 * the reason and the mark, and stay.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as Taints from "../../api/Taints.ts"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import type * as KubeError from "../../kube/KubeError.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Result from "../../runtime/Result.ts"
import * as Singleton from "../../runtime/Singleton.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Provisioner from "../provisioning/Provisioner.ts"
import * as Conditions from "../StatusConditions.ts"
import { DisruptionLog } from "./DisruptionLog.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import type * as Planner from "./Planner.ts"

/** Timing of the queue. */
export interface Options {
  /** A command whose replacements are not all Initialized this long after it started is rolled back. */
  readonly commandTimeout: Duration.Input
}

/** The orchestration queue; build it with {@link make}. */
export interface Orchestration {
  /**
   * Starts carrying out a command: taints and marks its candidates, launches its replacements and queues it; the
   * queue's loop deletes the candidates once the replacements are Initialized.
   */
  add(command: Planner.Command): Effect.Effect<void, Failure, KubeClient | ClusterState | EventRecorder>
  /** The names of the candidates of the commands under way (a new pass leaves them alone). */
  queued(): ReadonlySet<string>
  /** Takes the taint and DisruptionReason off nodes no command owns: a crash mid-command left them there. */
  recover(state: Planner.Snapshot): Effect.Effect<void, Failure>
}

/** What a write of the queue may fail with (a NotFound or Conflict only means there is nothing left to do). */
export type Failure = KubeError.Invalid | KubeError.KubeUnavailable

/** A replacement NodeClaim not found this long after its command started is gone (not merely not yet visible). */
const replacementGoneAfter = 5_000

/** A command being carried out: replacements launching, candidates to delete once they are initialized. */
interface Queued {
  readonly command: Planner.Command
  readonly startedAt: number
  readonly replacementNames: ReadonlyArray<string>
}

/** Builds the queue and starts its loop (`disruption.orchestration`) in the current Scope. */
export const make = Effect.fn("Orchestration.make")(function* (options: Options) {
  const kube = yield* KubeClient
  const cluster = yield* ClusterState
  const events = yield* EventRecorder
  const log = yield* DisruptionLog
  const commandTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout))
  const queue: Array<Queued> = []

  const queued = () => new Set(queue.flatMap((entry) => entry.command.candidates.map((c) => c.name)))

  const setDisruptionReason = (name: string, reason: Planner.Reason | undefined) =>
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

  const add = Effect.fn("Orchestration.add")(function* (command: Planner.Command) {
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
    yield* loop.trigger
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
        message: `Disrupting Node: ${command.reason}/${command.replacements.length === 0 ? "Delete" : "Replace"}`,
        dedupeValues: [candidate.name, command.reason]
      })
    }
    yield* Effect.logInfo(
      `disrupting nodes (${command.reason}): ${names.join(", ")}${created.length === 0 ? "" : ` → ${created.map((c) => c.name).join(", ")}`}`
    )
  })

  /** Rolls a command back: the candidates stay, untainted and unmarked. */
  const rollBack = (entry: Queued, why: string) =>
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

  /** One pass over the queue: delete candidates whose replacements are initialized, roll back the stuck commands. */
  const reconcile = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    for (const entry of [...queue]) {
      const index = queue.indexOf(entry)
      if (now - entry.startedAt > commandTimeout) {
        queue.splice(index, 1)
        yield* rollBack(entry, "replacements did not initialize in time")
        continue
      }
      let ready = true
      let lost = false
      for (const name of entry.replacementNames) {
        const claim = yield* kube.get(Resources.NodeClaims, name).pipe(Effect.option)
        if (Option.isNone(claim)) {
          lost = now - entry.startedAt > replacementGoneAfter
          ready = false
          continue
        }
        if (!Conditions.isTrue(claim.value.status?.conditions, ConditionTypes.Initialized)) ready = false
      }
      if (lost) {
        queue.splice(index, 1)
        yield* rollBack(entry, "a replacement NodeClaim is gone")
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
          message: `Disrupting Node: ${entry.command.reason}`,
          dedupeValues: [candidate.name, entry.command.reason]
        })
      }
      // The candidates stay marked until they are gone (ClusterState forgets them then): unmarked while the
      // informers have not shown their deletion yet, they would look like fresh candidates to the next pass.
    }
    // An empty queue sleeps until `add` triggers it: polling every second was most of an idle simulated day.
    return queue.length === 0 ? Result.done : Result.requeueAfter("1 second")
  })

  const recover = (state: Planner.Snapshot) =>
    Effect.gen(function* () {
      const owned = queued()
      for (const node of state.stateNodes) {
        if (owned.has(node.name) || node.deleting || node.node === undefined) continue
        if ((node.node.spec.taints ?? []).some((taint) => Taints.matches(taint, Taints.DisruptedNoSchedule))) {
          yield* setTaint(node.name, false)
          if (node.nodeClaim !== undefined) yield* setDisruptionReason(node.nodeClaim.metadata.name ?? "", undefined)
        }
      }
    })

  const loop = yield* Singleton.make({ name: "disruption.orchestration", run: reconcile, interval: "1 minute" })
  return { add, queued, recover } satisfies Orchestration
})
