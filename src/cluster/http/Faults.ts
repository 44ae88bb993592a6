/**
 * Fault injection for the HTTP façade: make the next matching requests fail or hang, drop or expire open watches.
 * Tests use the service in-process; with `serve({ faultInjection: true })` a separate process flips the same switch
 * through `POST /karpenter-effect/faults` (a {@link Fault} as JSON) and `DELETE /karpenter-effect/faults` (clear).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/** A fault: what the next matching requests get instead of their answer. */
export const Fault = Schema.Struct({
  /** Answer with this HTTP status and a metav1.Status body (500, 409, 410, 429, 503, ...). */
  code: Schema.optionalKey(Schema.Int),
  /** Never answer, so the client's timeout fires (takes precedence over `code`). */
  hang: Schema.optionalKey(Schema.Boolean),
  /** How many matching requests meet the fault (default 1). */
  count: Schema.optionalKey(Schema.Int),
  /** Only requests with this method (GET, POST, PUT, PATCH, DELETE). */
  method: Schema.optionalKey(Schema.String),
  /** Only requests whose path contains this text, e.g. `/nodeclaims`. */
  path: Schema.optionalKey(Schema.String),
  /** Only watch requests (true) or only other requests (false); both when omitted. */
  watch: Schema.optionalKey(Schema.Boolean),
  /** The Status message (default: "injected fault"). */
  message: Schema.optionalKey(Schema.String)
})

/** A fault: what the next matching requests get instead of their answer. */
export type Fault = typeof Fault.Type

/** What a fault is matched against. */
export interface Request {
  readonly method: string
  readonly path: string
  readonly watch: boolean
}

/** A server's hold on its open watches. */
export interface Watches {
  /** Closes every open watch connection abruptly. */
  readonly drop: Effect.Effect<void>
  /** Ends every open watch with an ERROR 410 event; older resourceVersions then get 410 too. */
  readonly expire: Effect.Effect<void>
}

/** The fault switch. `take` and `register` are the serving side; tests use the rest. */
export class Faults extends Context.Service<
  Faults,
  {
    /** The next `fault.count` (default 1) matching requests meet `fault`. */
    inject(fault: Fault): Effect.Effect<void>
    /** Ends every open watch stream abruptly mid-stream (connection closed). */
    readonly dropWatches: Effect.Effect<void>
    /**
     * Sends a watch ERROR event with a 410 Status on every open watch and ends it; re-watching from a resourceVersion
     * older than the current one then gets 410 too, so clients relist.
     */
    readonly expireWatches: Effect.Effect<void>
    /** Forgets every pending fault. */
    readonly clear: Effect.Effect<void>
    /** The fault `request` meets, if any (counts it against the fault). */
    take(request: Request): Effect.Effect<Fault | undefined>
    /** Lets a server's open watches be dropped and expired, until the scope closes. */
    register(watches: Watches): Effect.Effect<void, never, Scope.Scope>
  }
>()("karpenter-effect/cluster/http/Faults") {
  /** A fresh fault switch with nothing injected. */
  static readonly layer: Layer.Layer<Faults> = Layer.effect(
    Faults,
    Effect.suspend(() => make)
  )
}

const matches = (fault: Fault, request: Request): boolean =>
  (fault.method === undefined || fault.method.toUpperCase() === request.method) &&
  (fault.path === undefined || request.path.includes(fault.path)) &&
  (fault.watch === undefined || fault.watch === request.watch)

/** A fresh fault switch with nothing injected. */
export const make: Effect.Effect<Faults["Service"]> = Effect.gen(function* () {
  const pending = yield* Ref.make<ReadonlyArray<{ readonly fault: Fault; readonly remaining: number }>>([])
  const servers = new Set<Watches>()
  const each = (f: (watches: Watches) => Effect.Effect<void>) =>
    Effect.suspend(() => Effect.forEach([...servers], f, { discard: true }))
  return Faults.of({
    inject: (fault) =>
      Ref.update(pending, (faults) => [...faults, { fault, remaining: Math.max(1, fault.count ?? 1) }]),
    dropWatches: each((watches) => watches.drop),
    expireWatches: each((watches) => watches.expire),
    clear: Ref.set(pending, []),
    take: (request) =>
      Ref.modify(pending, (faults) => {
        const index = faults.findIndex((entry) => matches(entry.fault, request))
        if (index < 0) return [undefined, faults]
        const entry = faults[index]!
        const rest =
          entry.remaining > 1
            ? faults.map((other, i) => (i === index ? { ...other, remaining: other.remaining - 1 } : other))
            : faults.filter((_, i) => i !== index)
        return [entry.fault, rest]
      }),
    register: (watches) =>
      Effect.acquireRelease(
        Effect.sync(() => servers.add(watches)),
        () => Effect.sync(() => servers.delete(watches))
      ).pipe(Effect.asVoid)
  })
})
