import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as FlatContext from "../../src/runtime/FlatContext.ts"

class Port extends Context.Service<Port, number>()("test/Port") {}
class Host extends Context.Service<Host, string>()("test/Host") {}

describe("FlatContext.run", () => {
  it.effect("keeps every service and annotation of the context it flattens; what it adds stays inside", () =>
    Effect.gen(function* () {
      const readHost = Effect.gen(function* () {
        return yield* Host
      })
      const inside = yield* FlatContext.run(
        Effect.gen(function* () {
          const annotations = yield* References.CurrentLogAnnotations
          const added = yield* Effect.provideService(readHost, Host, "example.dev")
          return { port: yield* Port, annotations, added }
        })
      ).pipe(
        // Enough additions that the context arrives as a chain of overlays.
        Effect.annotateLogs({ a: "1" }),
        Effect.annotateLogs({ b: "2" }),
        Effect.annotateLogs({ c: "3" }),
        Effect.provideService(Port, 8080)
      )
      assert.strictEqual(inside.port, 8080)
      assert.deepStrictEqual(inside.annotations, { a: "1", b: "2", c: "3" })
      assert.strictEqual(inside.added, "example.dev")
      assert.isTrue(Option.isNone(Context.getOption(yield* Effect.context<never>(), Host)))
    })
  )
})
