/**
 * The interruption controller of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/interruption/controller.go`): a singleton long-polling the interruption SQS queue. For each message
 * it finds the NodeClaims of the instances named, tells users (Events on the NodeClaim and its Node), marks a spot
 * interruption's offering unavailable, and deletes the NodeClaim — termination then drains and terminates it and
 * provisioning replaces it — except on a rebalance recommendation, which is only reported. A handled message is deleted
 * from the queue; one that cannot be parsed is deleted too, and never stops the loop.
 */
import type * as SqsSdk from "@aws-sdk/client-sqs"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Labels from "../../../../src/api/Labels.ts"
import type { Node } from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as LifecycleMetrics from "../../../../src/controllers/nodeclaim/lifecycle/LifecycleMetrics.ts"
import { type Event, EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Indices from "../../../../src/runtime/Indices.ts"
import * as Informer from "../../../../src/runtime/Informer.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as Singleton from "../../../../src/runtime/Singleton.ts"
import { Sqs } from "../sdk/Sqs.ts"
import * as UnavailableOfferings from "../UnavailableOfferings.ts"
import * as InterruptionMessage from "./InterruptionMessage.ts"

/** What the controller is told (upstream `--interruption-queue`). */
export interface Settings {
  readonly queueName: string
}

// -- Metrics (upstream `metrics.go`) ----------------------------------------------------------------------------------

/** `karpenter_interruption_received_messages_total{message_type}`. */
export const receivedMessagesTotal = Metric.counter("karpenter_interruption_received_messages_total", {
  description:
    "Count of messages received from the SQS queue. Broken down by message type and whether the message was actionable.",
  incremental: true
})

/** `karpenter_interruption_deleted_messages_total`. */
export const deletedMessagesTotal = Metric.counter("karpenter_interruption_deleted_messages_total", {
  description: "Count of messages deleted from the SQS queue.",
  incremental: true
})

/** `karpenter_interruption_message_queue_duration_seconds`, on upstream's `DurationBuckets`. */
export const messageQueueDurationSeconds = Metric.histogram("karpenter_interruption_message_queue_duration_seconds", {
  description: "Amount of time an interruption message is on the queue before it is processed by karpenter.",
  boundaries: [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75,
    2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60
  ]
})

// -- Events (upstream `events/events.go`) -----------------------------------------------------------------------------

/** Type, reason and message of the Event telling what a message kind means. */
const noticeOf: Readonly<
  Record<
    InterruptionMessage.ActionableKind,
    { readonly type: Event["type"]; readonly reason: string; readonly message: string }
  >
> = {
  spot_interrupted: { type: "Warning", reason: "SpotInterrupted", message: "Spot interruption warning was triggered" },
  rebalance_recommendation: {
    type: "Normal",
    reason: "SpotRebalanceRecommendation",
    message: "Spot rebalance recommendation was triggered"
  },
  instance_stopped: { type: "Warning", reason: "InstanceStopping", message: "Instance is stopping" },
  instance_terminated: { type: "Warning", reason: "InstanceTerminating", message: "Instance is terminating" },
  scheduled_change: {
    type: "Warning",
    reason: "InstanceUnhealthy",
    message: "An unhealthy warning was triggered for the instance"
  }
}

const involved = (kind: "Node" | "NodeClaim", object: Node | NodeClaim): Event["involvedObject"] => ({
  apiVersion: kind === "Node" ? "v1" : "karpenter.sh/v1",
  kind,
  name: object.metadata.name ?? "",
  ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid })
})

/** The same event on the NodeClaim and, when it has one, its Node; `nodeMessage` words the Node's differently. */
const onBoth = (
  claim: NodeClaim,
  node: Node | undefined,
  notice: { readonly type: Event["type"]; readonly reason: string; readonly message: string },
  nodeMessage = notice.message
): ReadonlyArray<Event> => [
  { involvedObject: involved("NodeClaim", claim), ...notice },
  ...(node === undefined ? [] : [{ involvedObject: involved("Node", node), ...notice, message: nodeMessage }])
]

// -- The controller ---------------------------------------------------------------------------------------------------

/** NodeClaims by the EC2 instance id of their providerID (upstream's `status.instanceID` field index). */
export const nodeClaimInstanceId: Informer.Index<NodeClaim> = Informer.index("status.instanceID", (claim) => {
  const id = InterruptionMessage.instanceIdOf(claim.status?.providerID ?? "")
  return id === undefined ? [] : [id]
})

/** Whether a message's kind deletes the NodeClaim (upstream `actionForMessage`: CordonAndDrain). */
const deletes = (kind: InterruptionMessage.ActionableKind): boolean => kind !== "rebalance_recommendation"

/** Upstream's receive: up to 10 messages, long-polled for 20 s, hidden for 20 s while handled. */
const receiveInput = (queueUrl: string): SqsSdk.ReceiveMessageCommandInput => ({
  QueueUrl: queueUrl,
  MaxNumberOfMessages: 10,
  VisibilityTimeout: 20,
  WaitTimeSeconds: 20,
  MessageSystemAttributeNames: ["SentTimestamp"],
  MessageAttributeNames: ["All"]
})

/** Builds one pass of the controller: receive, handle each message (ten at a time), delete the handled ones. */
export const makePass = Effect.fn("Interruption.makePass")(function* (settings: Settings) {
  const sqs = yield* Sqs
  const kube = yield* KubeClient
  const recorder = yield* EventRecorder
  const unavailableOfferings = yield* UnavailableOfferings.UnavailableOfferings
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  // Resolved on the first pass and kept (upstream builds its SQS provider lazily the same way).
  let queueUrl: string | undefined

  const publish = (events: ReadonlyArray<Event>) => Effect.forEach(events, recorder.publish, { discard: true })

  /** upstream `deleteNodeClaim`: a NodeClaim already being deleted is left alone. */
  const deleteNodeClaim = (kind: InterruptionMessage.ActionableKind, claim: NodeClaim, node: Node | undefined) =>
    Effect.gen(function* () {
      if (claim.metadata.deletionTimestamp !== undefined) return
      const deleted = yield* kube.delete(Resources.NodeClaims, claim.metadata.name ?? "").pipe(
        Effect.as(true),
        Effect.catchTag("NotFound", () => Effect.succeed(false))
      )
      if (!deleted) return
      yield* Effect.logInfo("initiating delete from interruption message", {
        nodeClaim: claim.metadata.name,
        messageKind: kind
      })
      yield* publish(
        onBoth(
          claim,
          node,
          {
            type: "Warning",
            reason: "TerminatingOnInterruption",
            message: "Interruption triggered termination for the NodeClaim"
          },
          "Interruption triggered termination for the Node"
        )
      )
      yield* LifecycleMetrics.disrupted(claim, kind)
    })

  /** upstream `handleNodeClaim`. */
  const handleNodeClaim = (kind: InterruptionMessage.ActionableKind, claim: NodeClaim) =>
    Effect.gen(function* () {
      const [node] = yield* nodes.byIndex(Indices.nodeProviderID, claim.status?.providerID)
      yield* publish(onBoth(claim, node, noticeOf[kind]))
      if (kind === "spot_interrupted") {
        const zone = claim.metadata.labels?.[Labels.Zone] ?? ""
        const instanceType = claim.metadata.labels?.[Labels.InstanceType] ?? ""
        if (zone !== "" && instanceType !== "") {
          yield* unavailableOfferings.markUnavailable(Labels.CapacityTypeSpot, instanceType, zone)
        }
      }
      if (deletes(kind)) yield* deleteNodeClaim(kind, claim, node)
    })

  /** upstream `handleMessage`: acts on every NodeClaim of the instances named. */
  const handleMessage = (message: InterruptionMessage.Message) =>
    Effect.gen(function* () {
      yield* Metric.update(Metric.withAttributes(receivedMessagesTotal, { message_type: message.kind }), 1)
      if (message.kind === "no_op") return
      for (const instanceId of message.instanceIds) {
        for (const claim of yield* nodeClaims.byIndex(nodeClaimInstanceId, instanceId)) {
          yield* handleNodeClaim(message.kind, claim)
        }
      }
      if (message.time !== undefined) {
        const now = yield* Clock.currentTimeMillis
        yield* Metric.update(messageQueueDurationSeconds, (now - message.time) / 1000)
      }
    })

  const deleteMessage = (url: string, raw: SqsSdk.Message) =>
    Effect.andThen(
      sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: raw.ReceiptHandle }),
      Metric.update(deletedMessagesTotal, 1)
    )

  /** One message: parsed, handled, deleted. A malformed one is logged and deleted. */
  const processMessage = (url: string, raw: SqsSdk.Message) =>
    Effect.gen(function* () {
      const parsed = InterruptionMessage.parse(raw.Body ?? "")
      if (parsed instanceof InterruptionMessage.MalformedMessage) {
        yield* Effect.logError("failed parsing interruption message", {
          messageId: raw.MessageId,
          error: parsed.message
        })
      } else {
        yield* handleMessage(parsed)
      }
      yield* deleteMessage(url, raw)
    })

  /** One pass: an empty receive or a handled batch polls again at once; a failure backs off. */
  return Effect.gen(function* () {
    if (queueUrl === undefined) {
      queueUrl = (yield* sqs.getQueueUrl({ QueueName: settings.queueName })).QueueUrl ?? ""
      yield* Effect.logInfo("watching interruption queue", { queue: settings.queueName })
    }
    const url = queueUrl
    const received = (yield* sqs.receiveMessage(receiveInput(url))).Messages ?? []
    // Every message is tried; the first failure fails the pass once all are done (upstream combines the errors),
    // and a message left undeleted shows again after its visibility timeout.
    const exits = yield* Effect.forEach(received, (raw) => Effect.exit(processMessage(url, raw)), { concurrency: 10 })
    const failed = exits.find(Exit.isFailure)
    if (failed !== undefined) return yield* Effect.failCause(failed.cause)
    return Result.requeue
  }).pipe(Effect.annotateLogs({ controller: "interruption", queue: settings.queueName }))
})

/** Starts the controller in the current Scope. */
export const make = (
  settings: Settings
): Effect.Effect<
  Singleton.Singleton,
  never,
  | Sqs
  | KubeClient
  | EventRecorder
  | UnavailableOfferings.UnavailableOfferings
  | InformerCache.InformerCache
  | Scope.Scope
> => Effect.flatMap(makePass(settings), (run) => Singleton.make({ name: "interruption", run, interval: Duration.zero }))
