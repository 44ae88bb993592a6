/**
 * A resumable watch: newline-delimited JSON events from the API server, re-watched from the last resourceVersion
 * seen (an event's or a BOOKMARK's) whenever the server ends the stream or the connection drops, so the caller sees
 * one unbroken stream with nothing lost or repeated. A 410 (an ERROR event or the HTTP status) fails the stream with
 * Expired: relisting is the caller's job (the Informer's). A watch without a resourceVersion starts with a list, whose
 * objects come as ADDED events, and goes on from the list's resourceVersion, so even its start can be resumed.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { WatchEvent } from "../../../src/kube/KubeClient.ts"
import * as Errors from "./Errors.ts"
import * as Retry from "./Retry.ts"
import * as Json from "./UntypedJson.ts"

/** What a watch needs from the client. */
export interface Options<A> {
  readonly target: Errors.Target
  /** Where to start; unset (or "0") means the current objects first. */
  readonly resourceVersion?: string
  /** Pass BOOKMARK events on (they always advance the resume point). */
  readonly allowBookmarks: boolean
  /** The current objects and the collection's resourceVersion (retried by the client). */
  readonly list: Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly resourceVersion: string }, Errors.Failure>
  /** One connection from `resourceVersion`: its lines once the server accepted the watch. */
  readonly connect: (
    resourceVersion: string
  ) => Effect.Effect<Stream.Stream<string, Errors.Failure>, Errors.Failure, Scope.Scope>
  readonly decode: (object: unknown) => Effect.Effect<A, Errors.Failure>
  /** Consecutive connections that may fail without delivering anything before the stream fails. */
  readonly policy: Retry.Policy
}

/** A connection that ends this soon without an event counts as unproductive: reconnects back off and count. */
const quickEndMillis = 1000

const resourceVersionOf = (object: unknown): string | undefined =>
  Json.stringAt(Json.objectAt(object, "metadata"), "resourceVersion")

/** The watch as a stream of decoded events. */
export const stream = <A>(options: Options<A>): Stream.Stream<WatchEvent<A>, Errors.Failure> =>
  Stream.callback<WatchEvent<A>, Errors.Failure>(
    (queue) =>
      Effect.gen(function* () {
        let resourceVersion = options.resourceVersion
        if (resourceVersion === undefined || resourceVersion === "" || resourceVersion === "0") {
          const listed = yield* options.list
          for (const object of listed.items) yield* Queue.offer(queue, { type: "ADDED", object })
          resourceVersion = listed.resourceVersion
        }
        let from: string = resourceVersion
        let received = false

        /** Handles one line of the stream; an ERROR event fails the connection with its Status. */
        const handle = (line: string): Effect.Effect<void, Errors.Failure> => {
          if (line.trim() === "") return Effect.void
          const parsed = Json.parse(line)
          if (parsed === undefined) {
            // A torn line means a broken stream: resume from the last whole event.
            return Effect.fail(Errors.unavailable(options.target, `unparseable watch event: ${line}`, "unknown"))
          }
          const frame = Json.objectAt(parsed)
          const type = frame.type
          const object = frame.object
          if (type === "ERROR") {
            const status = Errors.statusOf(object)
            return Effect.fail(Errors.fromStatus(options.target, status.code ?? 500, status))
          }
          const version = resourceVersionOf(object)
          if (type === "BOOKMARK") {
            if (version === undefined) return Effect.void
            from = version
            received = true
            return options.allowBookmarks ? Queue.offer(queue, { type, resourceVersion: version }) : Effect.void
          }
          if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") {
            return Effect.fail(Errors.malformed(options.target, `unknown watch event type: ${String(type)}`))
          }
          return Effect.flatMap(options.decode(object), (decoded) => {
            if (version !== undefined) from = version
            received = true
            return Queue.offer(queue, { type, object: decoded })
          })
        }

        let attempt = 0
        while (true) {
          received = false
          let established: number | undefined
          const result = yield* Effect.exit(
            Effect.scoped(
              Effect.flatMap(options.connect(from), (lines) =>
                Effect.flatMap(Clock.currentTimeMillis, (now) => {
                  established = now
                  return Stream.runForEach(lines, handle)
                })
              )
            )
          )
          // Progress resets the retry budget: an event, or a connection that stayed up a while.
          const productive =
            received || (established !== undefined && (yield* Clock.currentTimeMillis) - established >= quickEndMillis)
          if (productive) attempt = 0
          if (Exit.isSuccess(result)) {
            // The server ended the stream (its timeout, a restart): go on from where it stopped.
            if (!productive) yield* Effect.sleep(yield* Retry.backoff(options.policy, attempt++))
            continue
          }
          const found = Cause.findErrorOption(result.cause)
          if (Option.isNone(found)) return yield* Effect.failCause(result.cause)
          const error = found.value
          if (!Retry.retryable(error, "idempotent") || attempt >= options.policy.retries) {
            return yield* Effect.fail(error)
          }
          const millis = yield* Retry.pause(options.policy, attempt++, error)
          yield* Effect.logDebug(
            `watch of ${options.target.resource} broke (${error.error.message}); resuming from resourceVersion ${from} in ${millis} ms`
          )
          yield* Effect.sleep(millis)
        }
      }),
    { bufferSize: 256 }
  )
