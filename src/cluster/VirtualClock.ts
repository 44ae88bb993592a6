/**
 * The clock and the fibers' dispatcher of a simulation. Time moves only when the run moves it; the sleepers whose
 * deadlines it passes wake one at a time, earliest deadline first (equal deadlines in the order they went to sleep),
 * and whatever a wake sets off runs until it waits before the next sleeper wakes: effect's TestClock order, so the
 * fibers interleave the same way every run. TestClock is made for tests: it keeps a latch and takes a semaphore for
 * each sleep, and races every wake against a wall-clock timer to warn of a fiber that never waits; a simulated day
 * sleeps ~40,000 times, and that bookkeeping was 2–3% of it.
 *
 * The dispatcher runs the fibers' batches of work in one queue, in the order they came. A microtask runs the batches
 * queued so far, and every 256th time an event-loop turn does, so a signal (Ctrl-C) or I/O is never starved. Effect's
 * default gives each batch an event-loop turn of its own (setImmediate: 245,000 turns in a simulated day); one queue
 * keeps the same order whichever dispatcher a batch came from.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scheduler from "effect/Scheduler"

/** Moving the virtual clock. */
export class VirtualClock extends Context.Service<
  VirtualClock,
  {
    /** Moves time forward by `millis`, waking every sleeper due by then. */
    readonly adjust: (millis: number) => Effect.Effect<void>
    /** Moves time to `millis` since the epoch, waking every sleeper due by then. */
    readonly setTime: (millis: number) => Effect.Effect<void>
  }
>()("karpenter-effect/cluster/VirtualClock") {
  /** A virtual clock starting at the epoch, as the Clock, the Scheduler and the service that moves it. */
  static readonly layer: Layer.Layer<VirtualClock> = Layer.effectContext(
    Effect.sync(() => {
      const world = new World()
      return Context.make(VirtualClock, { adjust: world.adjust, setTime: world.setTime }).pipe(
        Context.add(Clock.Clock, world.clock),
        Context.add(Scheduler.Scheduler, world.scheduler)
      )
    })
  )
}

/** The tasks a wake set off that have not run yet; `onIdle` is told when the last has. */
interface Wake {
  pending: number
  onIdle: (() => void) | undefined
}

/** A fiber asleep until `at`; `resume` is gone once it woke or was interrupted. */
interface Sleeper {
  readonly at: number
  readonly order: number
  resume: (() => void) | undefined
}

/** A dispatcher's place in the queue; a flush that ran its batch first cancels it. */
interface Entry {
  readonly dispatcher: Dispatcher
  cancelled: boolean
}

const nanosPerMilli = BigInt(1_000_000)

const millisToNanos = (millis: number): bigint => {
  const whole = Math.floor(millis)
  return BigInt(whole) * nanosPerMilli + BigInt(Math.floor((millis - whole) * 1_000_000))
}

const earlier = (a: Sleeper, b: Sleeper): boolean => a.at < b.at || (a.at === b.at && a.order < b.order)

/** One simulation's time, sleepers and queue of batches. */
class World {
  private now = 0
  private wallNanos = BigInt(0)
  private monotonicNanos = BigInt(0)
  /** A binary heap, earliest first. */
  private readonly sleepers: Array<Sleeper> = []
  private slept = 0
  /** The wake whose tasks are running: the tasks they schedule are its too. */
  waking: Wake | undefined = undefined
  private readonly queue: Array<Entry> = []
  private scheduled = false
  private runs = 0
  private readonly yieldPolicy = new Scheduler.MixedScheduler("async")

  readonly clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => this.now,
    currentTimeMillis: Effect.sync(() => this.now),
    currentTimeNanosUnsafe: () => this.wallNanos,
    currentTimeNanos: Effect.sync(() => this.wallNanos),
    monotonicTimeNanosUnsafe: () => this.monotonicNanos,
    monotonicTimeNanos: Effect.sync(() => this.monotonicNanos),
    sleep: (duration) => Effect.suspend(() => this.sleep(Duration.toMillis(duration)))
  }

  readonly scheduler: Scheduler.Scheduler = {
    executionMode: "async",
    shouldYield: (fiber) => this.yieldPolicy.shouldYield(fiber),
    makeDispatcher: () => new Dispatcher(this)
  }

  readonly adjust = (millis: number): Effect.Effect<void> =>
    this.run(this.now + millis, Number.isFinite(millis) ? millisToNanos(millis) : undefined)

  readonly setTime = (millis: number): Effect.Effect<void> => this.run(millis, undefined)

  private sleep(millis: number): Effect.Effect<void> {
    const at = this.now + millis
    if (at <= this.now) return Effect.void
    return Effect.callback<void>((resume) => {
      const sleeper: Sleeper = { at, order: this.slept++, resume: () => resume(Effect.void) }
      this.push(sleeper)
      return Effect.sync(() => {
        sleeper.resume = undefined
      })
    })
  }

  /** Wakes the sleepers due by `end` in order, each run to idle, then sets the time to `end`. */
  private run(end: number, exactNanos: bigint | undefined): Effect.Effect<void> {
    const world = this
    return Effect.gen(function* () {
      // What is runnable now runs first (a forked fiber's yield goes behind it).
      yield* Fiber.await(yield* Effect.forkChild(Effect.yieldNow))
      const startWall = world.wallNanos
      const startMonotonic = world.monotonicNanos
      for (;;) {
        const next = world.sleepers[0]
        if (next === undefined) break
        if (next.resume !== undefined && next.at > end) break
        world.pop()
        const resume = next.resume
        if (resume === undefined) continue
        next.resume = undefined
        world.advanceTo(next.at)
        yield* world.wake(resume)
      }
      world.advanceTo(end)
      if (exactNanos !== undefined && Number.isFinite(end)) {
        world.wallNanos = startWall + exactNanos
        if (exactNanos > BigInt(0)) world.monotonicNanos = startMonotonic + exactNanos
      }
    })
  }

  private advanceTo(at: number): void {
    const delta = at - this.now
    if (delta > 0 && Number.isFinite(delta)) this.monotonicNanos += BigInt(Math.round(delta * 1_000_000))
    if (Number.isFinite(at)) this.wallNanos = millisToNanos(at)
    this.now = at
  }

  /** Resumes a sleeper; completes once everything the wake set off has run, behind what was already queued. */
  private wake(resume: () => void): Effect.Effect<void> {
    const wake: Wake = { pending: 0, onIdle: undefined }
    this.within(wake, resume)
    if (wake.pending === 0) return Effect.yieldNow
    return Effect.andThen(
      Effect.callback<void>((done) => {
        if (wake.pending === 0) return done(Effect.void)
        wake.onIdle = () => done(Effect.void)
        return Effect.sync(() => {
          wake.onIdle = undefined
        })
      }),
      Effect.yieldNow
    )
  }

  /** Runs `task` as part of `wake`. */
  within(wake: Wake, task: () => void): void {
    const previous = this.waking
    this.waking = wake
    try {
      task()
    } finally {
      this.waking = previous
    }
  }

  enqueue(dispatcher: Dispatcher): Entry {
    const entry: Entry = { dispatcher, cancelled: false }
    this.queue.push(entry)
    if (!this.scheduled) this.schedule()
    return entry
  }

  private schedule(): void {
    this.scheduled = true
    if (++this.runs % 256 === 0) setImmediate(this.runQueued)
    else queueMicrotask(this.runQueued)
  }

  private readonly runQueued = (): void => {
    // What these batches queue waits for the next run, which lets the event loop in now and then.
    for (let count = this.queue.length; count > 0; count--) {
      const next = this.queue.shift()!
      if (!next.cancelled) next.dispatcher.runBatch()
    }
    if (this.queue.length > 0) this.schedule()
    else this.scheduled = false
  }

  private push(sleeper: Sleeper): void {
    const heap = this.sleepers
    let index = heap.length
    heap.push(sleeper)
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!earlier(sleeper, heap[parent]!)) break
      heap[index] = heap[parent]!
      index = parent
    }
    heap[index] = sleeper
  }

  private pop(): void {
    const heap = this.sleepers
    const last = heap.pop()!
    if (heap.length === 0) return
    let index = 0
    for (;;) {
      const left = 2 * index + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && earlier(heap[right]!, heap[left]!) ? right : left
      if (!earlier(heap[child]!, last)) break
      heap[index] = heap[child]!
      index = child
    }
    heap[index] = last
  }
}

/**
 * One fiber's dispatcher: its tasks run in batches, by priority then in the order they came, each batch at its place
 * in the world's queue. A task scheduled during a wake counts toward it.
 */
class Dispatcher implements Scheduler.SchedulerDispatcher {
  private buckets: Array<{ readonly priority: number; readonly tasks: Array<() => void> }> = []
  private entry: Entry | undefined = undefined

  constructor(private readonly world: World) {}

  scheduleTask(task: () => void, priority: number): void {
    const wake = this.world.waking
    if (wake === undefined) {
      this.add(task, priority)
    } else {
      wake.pending++
      this.add(() => {
        try {
          this.world.within(wake, task)
        } finally {
          if (--wake.pending === 0) wake.onIdle?.()
        }
      }, priority)
    }
    if (this.entry === undefined) this.entry = this.world.enqueue(this)
  }

  /** Runs the batch the queue reached. */
  runBatch(): void {
    this.entry = undefined
    this.runTasks()
  }

  flush(): void {
    while (this.buckets.length > 0) {
      if (this.entry !== undefined) {
        this.entry.cancelled = true
        this.entry = undefined
      }
      this.runTasks()
    }
  }

  private add(task: () => void, priority: number): void {
    const buckets = this.buckets
    let index = 0
    while (index < buckets.length && buckets[index]!.priority <= priority) index++
    const before = buckets[index - 1]
    if (before !== undefined && before.priority === priority) before.tasks.push(task)
    else buckets.splice(index, 0, { priority, tasks: [task] })
  }

  private runTasks(): void {
    const buckets = this.buckets
    this.buckets = []
    for (const { tasks } of buckets) {
      for (let index = 0; index < tasks.length; index++) tasks[index]!()
    }
  }
}
