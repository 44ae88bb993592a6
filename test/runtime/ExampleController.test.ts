/**
 * How a controller is written: a reconcile that reads the cached object, writes only the field it owns with a merge
 * patch, and is idempotent (its own write comes back as a change and finds nothing left to do).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controller from "../../src/runtime/Controller.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as Result from "../../src/runtime/Result.ts"
import { node, settle, withKube } from "./support.ts"

const SeenLabel = "example.dev/seen"

/** Labels every Node `example.dev/seen=true`. */
const seenController = Effect.gen(function* () {
  const kube = yield* KubeClient
  let patches = 0
  const controller = yield* Controller.make({
    name: "example.seen",
    for: Resources.Nodes,
    reconcile: (name, node) =>
      Effect.gen(function* () {
        if (node === undefined || node.metadata.labels?.[SeenLabel] === "true") return Result.done
        patches++
        yield* kube.patch(Resources.Nodes, name, {
          type: "merge",
          patch: { metadata: { labels: { [SeenLabel]: "true" } } }
        })
        return Result.done
      }).pipe(Effect.catchTag("NotFound", () => Effect.succeed(Result.done)))
  })
  return { controller, patches: () => patches }
})

const labelsOf = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    Effect.map(kube.get(Resources.Nodes, name), (node) => node.metadata.labels ?? {})
  )

describe("example controller", () => {
  it.effect("labels existing and new nodes once, and puts the label back when it is removed", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        yield* kube.create(Resources.Nodes, node("n2", { zone: "a" }) as never)
        const { patches } = yield* seenController
        yield* settle
        assert.deepStrictEqual(yield* labelsOf("n1"), { [SeenLabel]: "true" })
        assert.deepStrictEqual(yield* labelsOf("n2"), { zone: "a", [SeenLabel]: "true" })
        assert.strictEqual(patches(), 2)

        yield* kube.create(Resources.Nodes, node("n3") as never)
        yield* settle
        assert.deepStrictEqual(yield* labelsOf("n3"), { [SeenLabel]: "true" })
        assert.strictEqual(patches(), 3)

        // Someone removes the label (merge patch: null deletes a key); the controller puts it back.
        yield* kube.patch(Resources.Nodes, "n1", {
          type: "merge",
          patch: { metadata: { labels: { [SeenLabel]: null } } }
        })
        yield* settle
        assert.deepStrictEqual(yield* labelsOf("n1"), { [SeenLabel]: "true" })
        assert.strictEqual(patches(), 4)

        // Deleting a node needs nothing from the controller.
        yield* kube.delete(Resources.Nodes, "n2")
        yield* settle
        assert.strictEqual(patches(), 4)
      })
    )
  )

  it.effect("run under a Manager, it starts when elected and the manager reports ready", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        const manager = yield* Manager.make({ runnables: [seenController] })
        yield* manager.awaitReady
        yield* settle
        assert.isTrue(yield* manager.isLeader)
        assert.isTrue(yield* manager.ready)
        assert.deepStrictEqual(yield* labelsOf("n1"), { [SeenLabel]: "true" })
      })
    )
  )
})
