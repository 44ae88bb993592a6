/**
 * The EventRecorder service: how controllers tell users what they did and why (`kubectl describe`, `kubectl get
 * events`), as core/v1 Events. Repeats of the same event on the same object within the dedupe window are folded into
 * one Event whose `count` grows, as client-go's recorder does.
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
}

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
      return EventRecorder.of({
        publish: (event) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
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

  /** Keeps events in memory (tests). */
  static readonly layerMemory = (sink: Array<Event>): Layer.Layer<EventRecorder> =>
    Layer.succeed(
      EventRecorder,
      EventRecorder.of({
        publish: (event) =>
          Effect.sync(() => {
            sink.push(event)
          })
      })
    )
}
