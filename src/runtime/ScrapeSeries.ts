/**
 * Gauge series rendered when metrics are scraped instead of kept in Effect's metric registry (kube-state-metrics'
 * way): for series that follow cached objects one to one, e.g. one per pod, which as registered series would hold
 * their keys, attributes and closures between scrapes. A source is attached to the metric registry of the fiber that
 * adds it, while its Scope is open; {@link withSeries} lends a scrape a copy of that registry holding their series.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"

/** One series of a scrape: its gauge, attributes and value. */
export interface Series {
  readonly gauge: Metric.Gauge<number>
  readonly attributes: Record<string, string>
  readonly value: number
}

/** What a scrape asks for: the series as of now. */
export type Source = Effect.Effect<ReadonlyArray<Series>>

const sources = new WeakMap<Metric.MetricRegistry, Set<Source>>()

/** Adds `source` to the current metric registry's scrapes until the current Scope closes. */
export const add = (source: Source): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const registry = yield* Metric.MetricRegistry
    const ofRegistry = sources.get(registry) ?? new Set<Source>()
    sources.set(registry, ofRegistry)
    yield* Effect.acquireRelease(
      Effect.sync(() => ofRegistry.add(source)),
      () => Effect.sync(() => ofRegistry.delete(source))
    )
  })

const noHooks = () => {}

/** Runs `scrape` with a metric registry that also holds the series of the current registry's sources, as of now. */
export const withSeries = <A>(scrape: Effect.Effect<A>): Effect.Effect<A> =>
  Effect.gen(function* () {
    const registry = yield* Metric.MetricRegistry
    const ofRegistry = sources.get(registry)
    if (ofRegistry === undefined || ofRegistry.size === 0) return yield* scrape
    const lent: Metric.MetricRegistry = new Map(registry)
    const context = Context.make(Metric.MetricRegistry, lent)
    for (const source of ofRegistry) {
      for (const series of yield* source) {
        const state = { value: series.value }
        Metric.registerUnsafe(Metric.withAttributes(series.gauge, series.attributes), context, {
          get: () => state,
          update: noHooks,
          modify: noHooks
        })
      }
    }
    return yield* Effect.provideService(scrape, Metric.MetricRegistry, lent)
  })
