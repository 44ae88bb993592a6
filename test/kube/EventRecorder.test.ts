import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import { type Event, EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"

const recorder = EventRecorder.layer.pipe(Layer.provideMerge(MemoryKube.layer()))

const unconsolidatable = (message: string): Event => ({
  involvedObject: { apiVersion: "v1", kind: "Node", name: "node-a" },
  type: "Normal",
  reason: "Unconsolidatable",
  message,
  dedupeValues: ["node-a"],
  dedupeTimeoutMillis: 15 * 60_000
})

const stored = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.Events), ({ items }) =>
    items.map((event) => ({ reason: event.reason, message: event.message, count: event.count }))
  )
)

describe("EventRecorder", () => {
  it.effect("drops an event's repeats within its dedupe timeout, whatever they say, and lets the next one out", () =>
    Effect.gen(function* () {
      const events = yield* EventRecorder
      yield* events.publish(unconsolidatable("can't replace with a cheaper node"))
      yield* TestClock.adjust("14 minutes")
      yield* events.publish(unconsolidatable("can't replace with a cheaper node"))
      yield* events.publish(unconsolidatable("pod default/web would not schedule"))
      assert.deepStrictEqual(yield* stored, [
        { reason: "Unconsolidatable", message: "can't replace with a cheaper node", count: 1 }
      ])
      // At the timeout itself the entry still holds (go-cache expires it once the time has passed).
      yield* TestClock.adjust("1 minute")
      yield* events.publish(unconsolidatable("pod default/web would not schedule"))
      assert.lengthOf(yield* stored, 1)
      yield* TestClock.adjust("1 second")
      yield* events.publish(unconsolidatable("pod default/web would not schedule"))
      assert.deepStrictEqual(
        (yield* stored).map((event) => event.message),
        ["can't replace with a cheaper node", "pod default/web would not schedule"]
      )
    }).pipe(Effect.provide(recorder))
  )

  it.effect("folds repeats of an event without dedupe values into one Event whose count grows", () =>
    Effect.gen(function* () {
      const events = yield* EventRecorder
      const { dedupeValues: _values, dedupeTimeoutMillis: _timeout, ...plain } = unconsolidatable("same")
      for (let i = 0; i < 3; i++) yield* events.publish(plain)
      assert.deepStrictEqual(yield* stored, [{ reason: "Unconsolidatable", message: "same", count: 3 }])
    }).pipe(Effect.provide(recorder))
  )

  it.effect("a rate limit lets a burst out, then its rate", () =>
    Effect.gen(function* () {
      const events = yield* EventRecorder
      const nominated = (pod: string): Event => ({
        involvedObject: { apiVersion: "v1", kind: "Pod", name: pod, namespace: "default" },
        type: "Normal",
        reason: "Nominated",
        message: "Pod should schedule on: nodeclaim/default-abcde",
        dedupeValues: [pod],
        rateLimit: { name: "Nominated", perSecond: 5, burst: 10 }
      })
      for (let i = 0; i < 12; i++) yield* events.publish(nominated(`pod-${i}`))
      assert.lengthOf(yield* stored, 10)
      yield* TestClock.adjust("1 second")
      for (let i = 12; i < 20; i++) yield* events.publish(nominated(`pod-${i}`))
      assert.lengthOf(yield* stored, 15)
    }).pipe(Effect.provide(recorder))
  )
})
