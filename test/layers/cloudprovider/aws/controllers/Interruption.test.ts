import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Interruption from "../../../../../layers/cloudprovider/aws/controllers/Interruption.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as UnavailableOfferings from "../../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import * as MemoryKube from "../../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../../../../src/api/Labels.ts"
import * as DisruptionMetrics from "../../../../../src/controllers/disruption/DisruptionMetrics.ts"
import { type Event, EventRecorder } from "../../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as InformerCache from "../../../../../src/runtime/InformerCache.ts"
import {
  advance,
  createNode,
  createNodeClaim,
  findNodeClaim,
  node,
  nodeClaim
} from "../../../../controllers/support.ts"
import { settle } from "../../../../support/Settle.ts"
import * as Messages from "./InterruptionMessages.ts"

const zone = "us-west-2a"
const instanceType = "m5.large"

const run = <A, E, R>(body: Effect.Effect<A, E, R>, events: Array<Event>) =>
  Effect.provide(
    body,
    Layer.mergeAll(
      InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())),
      FakeAws.layer({ instanceTypes: [] }),
      UnavailableOfferings.layer,
      EventRecorder.layerMemory(events)
    )
  )

/** A launched spot NodeClaim of `instanceId` and its registered Node. */
const launched = (name: string, instanceId: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const providerID = `aws:///${zone}/${instanceId}`
    // Held by the termination finalizer, so its deletion is seen.
    const claim = nodeClaim(name, { finalizers: [Labels.TerminationFinalizer] })
    yield* createNodeClaim({
      ...claim,
      metadata: {
        ...claim.metadata,
        labels: {
          ...claim.metadata.labels,
          [Labels.Zone]: zone,
          [Labels.InstanceType]: instanceType,
          [Labels.CapacityType]: Labels.CapacityTypeSpot
        }
      }
    })
    yield* kube.patch(
      Resources.NodeClaims,
      name,
      { type: "merge", patch: { status: { providerID, nodeName: name } } },
      { subresource: "status" }
    )
    yield* createNode(node(name, { providerID, ready: true }))
  })

const count = (metric: Metric.Metric<number, Metric.CounterState<number>>, attributes: Record<string, string> = {}) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

/** The controller's counters of one message kind, and the disruptions it counted. */
const counters = (kind: string) =>
  Effect.all({
    received: count(Interruption.receivedMessagesTotal, { message_type: kind }),
    deleted: count(Interruption.deletedMessagesTotal),
    disrupted: count(DisruptionMetrics.nodeClaimsDisruptedTotal, {
      reason: kind,
      nodepool: "default",
      capacity_type: Labels.CapacityTypeSpot
    })
  })

/** Sends `body`, lets the controller take it, and answers the counters' increase. */
const deliver = (body: string, kind: string) =>
  Effect.gen(function* () {
    const fake = yield* FakeAws.FakeAws
    const before = yield* counters(kind)
    yield* fake.sendMessage(body)
    yield* advance(1_000, 100)
    const after = yield* counters(kind)
    assert.strictEqual(yield* fake.queueDepth, 0, "the message is deleted from the queue")
    return {
      received: after.received - before.received,
      deleted: after.deleted - before.deleted,
      disrupted: after.disrupted - before.disrupted
    }
  })

const reasonsOn = (events: ReadonlyArray<Event>, kind: string, name: string) =>
  events
    .filter((event) => event.involvedObject.kind === kind && event.involvedObject.name === name)
    .map((event) => `${event.type}/${event.reason}`)

const start = Effect.gen(function* () {
  yield* Interruption.make({ queueName: "karpenter-interruption" })
  yield* settle
})

describe("interruption (SQS)", () => {
  const deletingKinds = [
    {
      title: "a spot interruption warning",
      body: Messages.spotInterruption("i-0123"),
      kind: "spot_interrupted",
      reason: "Warning/SpotInterrupted"
    },
    {
      title: "an AWS Health scheduled change",
      body: Messages.scheduledChange("i-0123"),
      kind: "scheduled_change",
      reason: "Warning/InstanceUnhealthy"
    },
    {
      title: "a stopping instance",
      body: Messages.stateChange("i-0123", "stopping"),
      kind: "instance_stopped",
      reason: "Warning/InstanceStopping"
    },
    {
      title: "a stopped instance",
      body: Messages.stateChange("i-0123", "stopped"),
      kind: "instance_stopped",
      reason: "Warning/InstanceStopping"
    },
    {
      title: "a shutting-down instance",
      body: Messages.stateChange("i-0123", "shutting-down"),
      kind: "instance_terminated",
      reason: "Warning/InstanceTerminating"
    },
    {
      title: "a terminated instance",
      body: Messages.stateChange("i-0123", "terminated"),
      kind: "instance_terminated",
      reason: "Warning/InstanceTerminating"
    }
  ] as const

  for (const { title, body, kind, reason } of deletingKinds) {
    it.effect(`${title} deletes the NodeClaim, with events on it and its Node, and counts the disruption`, () => {
      const events: Array<Event> = []
      return run(
        Effect.gen(function* () {
          yield* launched("claim-a", "i-0123")
          yield* launched("claim-b", "i-0456")
          yield* start
          const counted = yield* deliver(body, kind)
          assert.deepStrictEqual(counted, { received: 1, deleted: 1, disrupted: 1 })
          assert.isDefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
          assert.isUndefined((yield* findNodeClaim("claim-b"))?.metadata.deletionTimestamp, "another instance's")
          assert.deepStrictEqual(reasonsOn(events, "NodeClaim", "claim-a"), [
            reason,
            "Warning/TerminatingOnInterruption"
          ])
          assert.deepStrictEqual(reasonsOn(events, "Node", "claim-a"), [reason, "Warning/TerminatingOnInterruption"])
          assert.deepStrictEqual(reasonsOn(events, "NodeClaim", "claim-b"), [])
          const offerings = yield* UnavailableOfferings.UnavailableOfferings
          assert.strictEqual(
            yield* offerings.isUnavailable(Labels.CapacityTypeSpot, instanceType, zone),
            kind === "spot_interrupted",
            "only a spot interruption marks its offering unavailable"
          )
        }),
        events
      )
    })
  }

  it.effect("a rebalance recommendation only tells: events, no deletion", () => {
    const events: Array<Event> = []
    return run(
      Effect.gen(function* () {
        yield* launched("claim-a", "i-0123")
        yield* start
        const counted = yield* deliver(Messages.rebalanceRecommendation("i-0123"), "rebalance_recommendation")
        assert.deepStrictEqual(counted, { received: 1, deleted: 1, disrupted: 0 })
        assert.isUndefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
        assert.deepStrictEqual(reasonsOn(events, "NodeClaim", "claim-a"), ["Normal/SpotRebalanceRecommendation"])
        assert.deepStrictEqual(reasonsOn(events, "Node", "claim-a"), ["Normal/SpotRebalanceRecommendation"])
      }),
      events
    )
  })

  it.effect("the time a message waited is observed", () =>
    run(
      Effect.gen(function* () {
        yield* launched("claim-a", "i-0123")
        yield* start
        const before = (yield* Metric.value(Interruption.messageQueueDurationSeconds)).count
        // The event happened 30 s before the controller sees it.
        const sentAt = (yield* Clock.currentTimeMillis) - 30_000
        yield* deliver(Messages.spotInterruption("i-0123", sentAt), "spot_interrupted")
        const histogram = yield* Metric.value(Interruption.messageQueueDurationSeconds)
        assert.strictEqual(histogram.count - before, 1)
        assert.isAtLeast(histogram.max, 30)
      }),
      []
    )
  )

  it.effect("a message about an unknown instance is deleted and ignored", () => {
    const events: Array<Event> = []
    return run(
      Effect.gen(function* () {
        yield* launched("claim-a", "i-0123")
        yield* start
        const counted = yield* deliver(Messages.spotInterruption("i-9999"), "spot_interrupted")
        assert.deepStrictEqual(counted, { received: 1, deleted: 1, disrupted: 0 })
        assert.isUndefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
        assert.deepStrictEqual(events, [])
      }),
      events
    )
  })

  it.effect("a state change Karpenter does not act on (running) and an unknown detail-type are no-ops", () => {
    const events: Array<Event> = []
    return run(
      Effect.gen(function* () {
        yield* launched("claim-a", "i-0123")
        yield* start
        assert.deepStrictEqual(yield* deliver(Messages.stateChange("i-0123", "running"), "no_op"), {
          received: 1,
          deleted: 1,
          disrupted: 0
        })
        const unknown = JSON.stringify({ ...JSON.parse(Messages.spotInterruption("i-0123")), "detail-type": "Other" })
        assert.deepStrictEqual(yield* deliver(unknown, "no_op"), { received: 1, deleted: 1, disrupted: 0 })
        assert.isUndefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
        assert.deepStrictEqual(events, [])
      }),
      events
    )
  })

  it.effect(
    "a message whose NodeClaim could not be deleted stays in the queue and is acted on when it shows again",
    () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeAws.FakeAws
          yield* launched("claim-a", "i-0123")
          yield* start
          yield* (yield* MemoryKube.MemoryApiServer).failNext("delete", 1)
          const before = yield* counters("spot_interrupted")
          yield* fake.sendMessage(Messages.spotInterruption("i-0123"))
          yield* advance(1_000, 100)
          assert.strictEqual(yield* fake.queueDepth, 1, "left for redelivery")
          assert.strictEqual((yield* counters("spot_interrupted")).deleted, before.deleted)
          assert.isUndefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)

          // Hidden for the 20 s visibility timeout, then received and handled again.
          yield* advance(20_000, 1_000)
          assert.strictEqual(yield* fake.queueDepth, 0)
          assert.isDefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
          const after = yield* counters("spot_interrupted")
          assert.deepStrictEqual([after.received - before.received, after.deleted - before.deleted], [2, 1])
        }),
        []
      )
  )

  it.effect("malformed messages are deleted without being counted as received, and the loop goes on", () =>
    run(
      Effect.gen(function* () {
        yield* launched("claim-a", "i-0123")
        yield* start
        const malformed = [
          "{not json",
          "[1, 2]",
          JSON.stringify({ ...JSON.parse(Messages.spotInterruption("i-0123")), time: "yesterday" }),
          JSON.stringify({ ...JSON.parse(Messages.spotInterruption("i-0123")), detail: { "instance-id": 123 } })
        ]
        for (const body of malformed) {
          assert.deepStrictEqual(yield* deliver(body, "spot_interrupted"), { received: 0, deleted: 1, disrupted: 0 })
        }
        assert.isUndefined((yield* findNodeClaim("claim-a"))?.metadata.deletionTimestamp)
        // The loop still acts on the next good message.
        assert.deepStrictEqual(yield* deliver(Messages.spotInterruption("i-0123"), "spot_interrupted"), {
          received: 1,
          deleted: 1,
          disrupted: 1
        })
      }),
      []
    )
  )
})
