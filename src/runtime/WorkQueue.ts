/**
 * A work queue of string keys with client-go's semantics (`k8s.io/client-go/util/workqueue`): a key waits at most once;
 * a key being processed is never handed to a second worker — added again meanwhile it is marked dirty and queued when
 * the worker calls `done`; delayed adds on the Clock; per-key exponential backoff for failures.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/** `take` after `shutdown`, once every waiting key has been handed out. */
export class WorkQueueShutdown extends Schema.TaggedError<WorkQueueShutdown>()("WorkQueueShutdown", {}) {}

/** The per-key failure backoff: `baseDelay × 2^failures`, capped at `maxDelay`. */
export interface Options {
  /** The delay after the first failure; default 5 ms (client-go's default item limiter). */
  readonly baseDelay?: Duration.Input
  /** The longest delay; default 1000 s. */
  readonly maxDelay?: Duration.Input
}

/** A work queue; build it with {@link make}. */
export interface WorkQueue {
  /** Queues the key now (a no-op if it is already waiting; marks it dirty if it is being processed). */
  add(key: string): Effect.Effect<void>
  /** Queues each key, in order, as {@link add} would. */
  addAll(keys: Iterable<string>): Effect.Effect<void>
  /** Queues the key after `delay`; of two pending delayed adds of a key, the earlier wins. */
  addAfter(key: string, delay: Duration.Input): Effect.Effect<void>
  /** Queues the key after its backoff (`baseDelay × 2^failures`) and counts one more failure. */
  addRateLimited(key: string): Effect.Effect<void>
  /** Resets the key's failure count (call it after a success). */
  forget(key: string): Effect.Effect<void>
  /** How many failures of the key are counted. */
  numRequeues(key: string): Effect.Effect<number>
  /** The next waiting key, marked as processing; waits for one. Fails once shut down and drained. */
  readonly take: Effect.Effect<string, WorkQueueShutdown>
  /** Ends the processing of a key taken with `take`; queues it again if it was added meanwhile. */
  done(key: string): Effect.Effect<void>
  /** Takes a key, runs `f` on it and calls `done` whatever happens (interruption included). */
  process<A, E, R>(f: (key: string) => Effect.Effect<A, E, R>): Effect.Effect<A, E | WorkQueueShutdown, R>
  /** Keys waiting to be taken (not those being processed or delayed). */
  readonly length: Effect.Effect<number>
  /** Stops accepting keys and drops the delayed ones; waiting keys are still handed out, then `take` fails. */
  readonly shutdown: Effect.Effect<void>
  readonly isShutdown: Effect.Effect<boolean>
}

/** A taker waiting for a key; `canceled` once its fiber stopped waiting. */
interface Taker {
  readonly resume: () => void
  canceled: boolean
}

/**
 * A latch the takers wait on, open while there is something to take. Opening it runs every waiting taker in the order
 * they began to wait, as a latch does, except one that would find nothing: a resumed taker that finds the queue empty
 * only waits again at the back, so it is put there without the fiber run (with 100 workers, as node.termination has,
 * each key woke 100 fibers for one to take it). What runs, and in what order, is what a latch would run.
 */
const makeAvailability = (somethingToTake: () => boolean) => {
  let open = false
  let takers: Array<Taker> = []
  return {
    openUnsafe(): void {
      if (open) return
      open = true
      // Swapped out first: a resumed taker may close the latch and wait again, to be woken by a later opening.
      const woken = takers
      takers = []
      for (const taker of woken) {
        if (taker.canceled) continue
        if (somethingToTake()) taker.resume()
        else takers.push(taker)
      }
    },
    closeUnsafe(): void {
      open = false
    },
    await: Effect.callback<void>((resume) => {
      if (open) return resume(Effect.void)
      const taker: Taker = { resume: () => resume(Effect.void), canceled: false }
      takers.push(taker)
      return Effect.sync(() => {
        taker.canceled = true
        const index = takers.indexOf(taker)
        if (index !== -1) takers.splice(index, 1)
      })
    })
  }
}

/**
 * Builds a work queue; one fiber of the current Scope wakes it for its delayed adds, whatever their number (client-go's
 * delaying queue: a heap and one timer). A fiber per delayed key cost ~1.4 KB each, and the pod metrics controller
 * keeps every pod delayed (its 30 s re-measure): ~14 MB of heap at 9,500 pods.
 */
export const make = Effect.fn("WorkQueue.make")(function* (
  options?: Options
): Effect.fn.Return<WorkQueue, never, Scope.Scope> {
  const baseMillis = Duration.toMillis(options?.baseDelay ?? Duration.millis(5))
  const maxMillis = Duration.toMillis(options?.maxDelay ?? Duration.seconds(1000))
  /** Keys waiting to be taken, in insertion order (a Set is an ordered, deduplicating queue). */
  const waiting = new Set<string>()
  const processing = new Set<string>()
  /** Keys added while being processed: queued again by `done`. */
  const dirty = new Set<string>()
  /** When each delayed key becomes ready (epoch millis on the Clock). */
  const delayed = new Map<string, number>()
  const failures = new Map<string, number>()
  /** Open while keys are waiting (or after shutdown), so takers do not sleep through them. */
  const available = makeAvailability(() => waiting.size > 0 || shuttingDown)
  /** The delayed adds as a binary min-heap by (time, order of adding); an entry `delayed` no longer holds is stale. */
  const heap: Array<{ readonly at: number; readonly seq: number; readonly key: string }> = []
  let seq = 0
  /** Opened when an add is due before the time the timer fiber sleeps until. */
  const wake = Latch.makeUnsafe(false)
  let shuttingDown = false

  const addUnsafe = (key: string): void => {
    if (shuttingDown) return
    if (processing.has(key)) {
      dirty.add(key)
      return
    }
    waiting.add(key)
    available.openUnsafe()
  }

  const popUnsafe = (): string | undefined => {
    const next = waiting.values().next()
    if (next.done === true) {
      if (!shuttingDown) available.closeUnsafe()
      return undefined
    }
    const key = next.value
    waiting.delete(key)
    processing.add(key)
    if (waiting.size === 0 && !shuttingDown) available.closeUnsafe()
    return key
  }

  const doneUnsafe = (key: string): void => {
    processing.delete(key)
    if (dirty.delete(key)) addUnsafe(key)
  }

  const before = (a: (typeof heap)[number], b: (typeof heap)[number]) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

  const pushUnsafe = (entry: (typeof heap)[number]): void => {
    let index = heap.push(entry) - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(heap[index]!, heap[parent]!)) break
      ;[heap[index], heap[parent]] = [heap[parent]!, heap[index]!]
      index = parent
    }
  }

  const popUnsafeEntry = (): (typeof heap)[number] | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    for (let index = 0; ; ) {
      const left = 2 * index + 1
      const right = left + 1
      let least = index
      if (left < heap.length && before(heap[left]!, heap[least]!)) least = left
      if (right < heap.length && before(heap[right]!, heap[least]!)) least = right
      if (least === index) break
      ;[heap[index], heap[least]] = [heap[least]!, heap[index]!]
      index = least
    }
    return top
  }

  /** Queues the delayed keys due by `now`, in due order; the time of the next one, if any. */
  const releaseDueUnsafe = (now: number): number | undefined => {
    while (heap.length > 0 && heap[0]!.at <= now) {
      const { at, key } = popUnsafeEntry()!
      if (delayed.get(key) !== at) continue
      delayed.delete(key)
      addUnsafe(key)
    }
    wake.closeUnsafe()
    return heap[0]?.at
  }

  // The one timer: sleeps until the earliest delayed add, or until an earlier one arrives.
  yield* Effect.gen(function* () {
    while (true) {
      const now = yield* Clock.currentTimeMillis
      const next = releaseDueUnsafe(now)
      yield* next === undefined ? wake.await : Effect.raceFirst(Effect.sleep(next - now), wake.await)
    }
  }).pipe(Effect.forkScoped)

  const addAfter = (key: string, delay: Duration.Input): Effect.Effect<void> =>
    Effect.suspend(() => {
      const millis = Duration.toMillis(delay)
      if (shuttingDown) return Effect.void
      if (millis <= 0) return Effect.sync(() => addUnsafe(key))
      return Effect.map(Clock.currentTimeMillis, (now) => {
        const readyAt = now + millis
        const pending = delayed.get(key)
        if (pending !== undefined && pending <= readyAt) return
        delayed.set(key, readyAt)
        pushUnsafe({ at: readyAt, seq: seq++, key })
        if (heap[0]!.key === key && heap[0]!.at === readyAt) wake.openUnsafe()
      })
    })

  /** Pops a key, waiting (interruptibly, through `restore`) while none is there. */
  const takeWith = (
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<string, WorkQueueShutdown> =>
    Effect.suspend(() => {
      const key = popUnsafe()
      if (key !== undefined) return Effect.succeed(key)
      if (shuttingDown) return Effect.fail(new WorkQueueShutdown())
      return Effect.andThen(restore(available.await), takeWith(restore))
    })

  return {
    add: (key) => Effect.sync(() => addUnsafe(key)),
    addAll: (keys) =>
      Effect.sync(() => {
        for (const key of keys) addUnsafe(key)
      }),
    addAfter,
    addRateLimited: (key) =>
      Effect.suspend(() => {
        const count = failures.get(key) ?? 0
        failures.set(key, count + 1)
        return addAfter(key, Math.min(baseMillis * 2 ** count, maxMillis))
      }),
    forget: (key) =>
      Effect.sync(() => {
        failures.delete(key)
      }),
    numRequeues: (key) => Effect.sync(() => failures.get(key) ?? 0),
    take: takeWith((effect) => effect),
    done: (key) => Effect.sync(() => doneUnsafe(key)),
    process: (f) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(takeWith(restore), (key) =>
          Effect.ensuring(
            restore(f(key)),
            Effect.sync(() => doneUnsafe(key))
          )
        )
      ),
    length: Effect.sync(() => waiting.size),
    shutdown: Effect.sync(() => {
      shuttingDown = true
      delayed.clear()
      heap.length = 0
      available.openUnsafe()
    }),
    isShutdown: Effect.sync(() => shuttingDown)
  }
})
