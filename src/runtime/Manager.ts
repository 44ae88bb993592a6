/**
 * The manager (controller-runtime's `Manager`): holds the shared informers, runs the controllers and singletons while
 * this replica is the leader, and reports readiness once every informer's cache has synced. Leadership comes from the
 * {@link LeaderGate} reference, "always leader" unless a leader-election layer provides another.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Controller from "./Controller.ts"
import type * as Informer from "./Informer.ts"

/** When this replica may run leader-only work. */
export interface LeaderGate {
  /** Completes when this replica becomes the leader. */
  readonly elected: Effect.Effect<void>
  /** Completes when leadership is lost (the leader-only work is then stopped, and the gate awaited again). */
  readonly lost: Effect.Effect<void>
}

/** A replica that is always the leader: a single replica, tests, `dev` and `simulate`. */
export const alwaysLeader: LeaderGate = { elected: Effect.void, lost: Effect.never }

/** The leader gate the Manager obeys; defaults to {@link alwaysLeader}. */
export const LeaderGate = Context.Reference<LeaderGate>("karpenter-effect/runtime/Manager/LeaderGate", {
  defaultValue: () => alwaysLeader
})

/** The readiness check failed: these informers have not synced yet. */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  informers: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `informers not synced: ${this.informers.join(", ")}`
  }
}

/** What a manager runs. */
export interface Options<R> {
  /** Shared informers: they run on every replica, so a new leader starts with warm caches. */
  readonly informers?: ReadonlyArray<Informer.Syncable>
  /**
   * Leader-only work, started (in order) when elected, in a Scope closed when leadership is lost: typically
   * `Controller.make(...)` and `Singleton.make(...)`. The informers of controllers count for readiness while they run.
   */
  readonly runnables?: ReadonlyArray<Effect.Effect<unknown, never, R>>
}

/** The Manager service: readiness and leadership of this replica. */
export class Manager extends Context.Service<
  Manager,
  {
    /** True once every informer (shared, and of the running controllers) has synced. */
    readonly ready: Effect.Effect<boolean>
    /** Completes once ready. */
    readonly awaitReady: Effect.Effect<void>
    /** The `/readyz` check: fails with the informers still syncing. */
    readonly readyz: Effect.Effect<void, NotReady>
    /** Whether the leader-only work is running. */
    readonly isLeader: Effect.Effect<boolean>
  }
>()("karpenter-effect/runtime/Manager") {}

/** Starts the manager in the current Scope: the runnables start once the {@link LeaderGate} elects this replica. */
export const make = Effect.fn("Manager.make")(function* <R = never>(
  options: Options<R>
): Effect.fn.Return<Manager["Service"], never, Exclude<R, Scope.Scope> | Scope.Scope> {
  const gate = yield* LeaderGate
  const shared = options.informers ?? []
  let owned: ReadonlyArray<Informer.Syncable> = []
  let leading = false

  /** The names of the informers not synced yet. */
  const pending: Effect.Effect<ReadonlyArray<string>> = Effect.suspend(() =>
    Effect.forEach([...shared, ...owned], (informer) =>
      Effect.map(informer.hasSynced, (synced) => (synced ? undefined : informer.name))
    )
  ).pipe(Effect.map((names) => names.filter((name) => name !== undefined)))

  const lead = Effect.gen(function* () {
    const parent = yield* Effect.scope
    while (true) {
      yield* gate.elected
      const scope = yield* Scope.fork(parent)
      const started: Array<Informer.Syncable> = []
      for (const runnable of options.runnables ?? []) {
        const handle = yield* Scope.provide(scope)(runnable)
        if (Controller.isController(handle)) started.push(...handle.informers)
      }
      owned = started
      leading = true
      yield* Effect.logInfo("leading: controllers started")
      yield* gate.lost
      leading = false
      owned = []
      yield* Effect.logInfo("leadership lost: controllers stopped")
      yield* Scope.close(scope, Exit.void)
    }
  })

  yield* Effect.forkScoped(lead)

  const ready = Effect.map(pending, (names) => names.length === 0)
  return Manager.of({
    ready,
    awaitReady: Effect.forEach(shared, (informer) => informer.synced, { discard: true }).pipe(
      Effect.andThen(Effect.suspend(() => Effect.forEach(owned, (informer) => informer.synced, { discard: true })))
    ),
    readyz: Effect.flatMap(pending, (names) =>
      names.length === 0 ? Effect.void : Effect.fail(new NotReady({ informers: names }))
    ),
    isLeader: Effect.sync(() => leading)
  })
})

/** The Manager service as a Layer: the manager runs until the Layer's scope closes. */
export const layer = <R = never>(options: Options<R>): Layer.Layer<Manager, never, Exclude<R, Scope.Scope>> =>
  Layer.effect(Manager, make(options))
