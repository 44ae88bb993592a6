/**
 * The EventRecorder service: how controllers tell users what they did and why (`kubectl describe`, `kubectl get
 * events`), as core/v1 Events. Two layers of deduplication, as upstream's: Karpenter's recorder drops an event whose
 * reason and dedupe values were published less than its dedupe timeout ago, or that its rate limit refuses; the events
 * it lets through that repeat one on the same object within client-go's window are folded into one Event whose
 * `count` grows.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { KubeClient } from "./KubeClient.ts"
import * as Resources from "./Resources.ts"

/** What an event is about. */
export interface InvolvedObject {
  readonly apiVersion?: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly uid?: string
}

/** One event. */
export interface Event {
  readonly involvedObject: InvolvedObject
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly message: string
  /**
   * What identifies its repeats (upstream `DedupeValues`, usually the object's UID): the event is dropped while one of
   * the same reason and values was published less than its dedupe timeout ago, whatever its message.
   */
  readonly dedupeValues?: ReadonlyArray<string>
  /** How long it suppresses its repeats (upstream `DedupeTimeout`); default 2 minutes. */
  readonly dedupeTimeoutMillis?: number
  /** A token bucket shared by every event naming it (upstream `RateLimiter`), asked after the dedupe. */
  readonly rateLimit?: RateLimit
}

/** A token bucket: `perSecond` tokens a second, at most `burst` saved up. */
export interface RateLimit {
  readonly name: string
  readonly perSecond: number
  readonly burst: number
}

/** Upstream's `defaultDedupeTimeout`. */
const defaultDedupeTimeoutMillis = 2 * 60_000

/** Upstream's recorder (`pkg/events/recorder.go`): whether an event published at `now` goes out. */
const makeGate = () => {
  /** Dedupe key → until when its repeats are dropped. */
  const suppressedUntil = new Map<string, number>()
  const buckets = new Map<string, { tokens: number; at: number }>()
  // Expired keys are swept every 10 s, as upstream's cache janitor does.
  let nextSweep = 0
  return (event: Event, now: number): boolean => {
    if (event.dedupeValues !== undefined && event.dedupeValues.length > 0) {
      if (now >= nextSweep) {
        for (const [key, until] of suppressedUntil) if (until < now) suppressedUntil.delete(key)
        nextSweep = now + 10_000
      }
      const key = [event.reason.toLowerCase(), ...event.dedupeValues].join("-")
      const until = suppressedUntil.get(key)
      // go-cache keeps an entry until its expiry has passed.
      if (until !== undefined && now <= until) return false
      suppressedUntil.set(key, now + (event.dedupeTimeoutMillis ?? defaultDedupeTimeoutMillis))
    }
    const limit = event.rateLimit
    if (limit === undefined) return true
    let bucket = buckets.get(limit.name)
    if (bucket === undefined) {
      bucket = { tokens: limit.burst, at: now }
      buckets.set(limit.name, bucket)
    }
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond)
    bucket.at = now
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}

/** The core/v1 Event's fields of an event (what the API server stores). */
const apiFields = ({ involvedObject, type, reason, message }: Event): Event => ({
  involvedObject,
  type,
  reason,
  message
})

/** The EventRecorder contract. Publishing never fails: an event that cannot be written is logged and dropped. */
export class EventRecorder extends Context.Service<
  EventRecorder,
  {
    publish(event: Event): Effect.Effect<void>
  }
>()("karpenter-effect/kube/EventRecorder") {
  /** Writes Events through the KubeClient. */
  static readonly layer: Layer.Layer<EventRecorder, never, KubeClient> = Layer.effect(
    EventRecorder,
    Effect.gen(function* () {
      const kube = yield* KubeClient
      // key → name and count of the Event last written for it, and when.
      const recent = new Map<string, { name: string; namespace: string; count: number; at: number }>()
      let sequence = 0
      const dedupeMillis = 10 * 60_000
      const gate = makeGate()
      return EventRecorder.of({
        publish: (event) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            if (!gate(event, now)) return
            const time = `${new Date(now).toISOString().slice(0, 19)}Z`
            const { involvedObject } = event
            const namespace = involvedObject.namespace ?? "default"
            const key = `${involvedObject.kind}/${namespace}/${involvedObject.name}/${event.type}/${event.reason}/${event.message}`
            const previous = recent.get(key)
            if (previous !== undefined && now - previous.at < dedupeMillis) {
              previous.count += 1
              previous.at = now
              yield* kube.patch(
                Resources.Events,
                previous.name,
                { type: "merge", patch: { count: previous.count, lastTimestamp: time } },
                { namespace: previous.namespace }
              )
              return
            }
            sequence += 1
            const name = `${involvedObject.name}.${now.toString(16)}${sequence.toString(16).padStart(4, "0")}`
            yield* kube.create(
              Resources.Events,
              {
                metadata: { name, namespace },
                involvedObject: { ...involvedObject, namespace: involvedObject.namespace ?? "" },
                type: event.type,
                reason: event.reason,
                message: event.message,
                count: 1,
                firstTimestamp: time,
                lastTimestamp: time,
                source: { component: "karpenter" },
                reportingComponent: "karpenter"
              },
              { namespace }
            )
            recent.set(key, { name, namespace, count: 1, at: now })
          }).pipe(
            Effect.catch((error) =>
              Effect.logWarning(`dropped event ${event.reason} on ${event.involvedObject.name}`, error)
            )
          )
      })
    })
  )

  /** Keeps the events that go out in memory, as the API server would store them (tests). */
  static readonly layerMemory = (sink: Array<Event>): Layer.Layer<EventRecorder> =>
    Layer.sync(EventRecorder, () => {
      const gate = makeGate()
      return EventRecorder.of({
        publish: (event) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (gate(event, now)) sink.push(apiFields(event))
          })
      })
    })
}
