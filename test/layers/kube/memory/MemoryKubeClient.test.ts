import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { kubeClientContract } from "../../../kube/KubeClientContract.ts"

const compact = Effect.gen(function* () {
  const hooks = yield* MemoryKube.MemoryApiServer
  yield* hooks.compact
})

kubeClientContract("memory", MemoryKube.layer(), { compact })

const node = (name: string) => ({ apiVersion: "v1", kind: "Node", metadata: { name }, spec: {} })

describe("MemoryKubeClient", () => {
  const test = (
    title: string,
    body: () => Effect.Effect<void, unknown, KubeClient.KubeClient | MemoryKube.MemoryApiServer>
  ) => it.effect(title, () => Effect.provide(body(), MemoryKube.layer({ historyLimit: 3 })))

  test("injected faults fail the next calls of an operation, then calls succeed", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const hooks = yield* MemoryKube.MemoryApiServer
      yield* hooks.failNext("list", 2)
      assert.strictEqual((yield* Effect.flip(kube.list(Resources.Nodes)))._tag, "KubeUnavailable")
      assert.strictEqual((yield* Effect.flip(kube.list(Resources.Nodes)))._tag, "KubeUnavailable")
      yield* kube.list(Resources.Nodes)
    }))

  test("dropping watches fails open watch streams", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const hooks = yield* MemoryKube.MemoryApiServer
      const fiber = yield* Effect.forkChild(Stream.runDrain(kube.watch(Resources.Nodes)))
      yield* Effect.yieldNow
      yield* hooks.dropWatches
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "KubeUnavailable")
    }))

  test("the history is bounded: resuming beyond it is Expired", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const first = yield* kube.create(Resources.Nodes, node("a") as never)
      for (const name of ["b", "c", "d", "e"]) yield* kube.create(Resources.Nodes, node(name) as never)
      const error = yield* Effect.flip(
        Stream.runDrain(
          Stream.take(kube.watch(Resources.Nodes, { resourceVersion: first.metadata.resourceVersion ?? "" }), 1)
        )
      )
      assert.strictEqual(error._tag, "Expired")
    }))

  test("the history stays bounded to the last events while older ones are cut off in bulk", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const created: Array<string> = []
      for (let i = 0; i < 10; i++) {
        created.push((yield* kube.create(Resources.Nodes, node(`n${i}`) as never)).metadata.resourceVersion ?? "")
      }
      // historyLimit 3: the last three events are kept, so a watch from the 7th version replays the 8th to 10th.
      const replayed = yield* Stream.runCollect(
        Stream.take(kube.watch(Resources.Nodes, { resourceVersion: created[6]! }), 3)
      )
      assert.deepStrictEqual(
        replayed.map((event) => (event.type === "BOOKMARK" ? "" : event.object.metadata.name)),
        ["n7", "n8", "n9"]
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: created[5]! }), 1))
      )
      assert.strictEqual(error._tag, "Expired")
    }))

  test("a caller changing what it wrote afterwards does not change the stored object", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const created = yield* kube.create(Resources.Nodes, node("a") as never)
      const replacement = {
        ...node("a"),
        metadata: { name: "a", resourceVersion: created.metadata.resourceVersion, labels: { team: "blue" } }
      }
      yield* kube.replace(Resources.Nodes, replacement as never)
      replacement.metadata.labels.team = "red"
      const labels = { tier: "gold" }
      yield* kube.patch(Resources.Nodes, "a", { type: "merge", patch: { metadata: { labels } } })
      labels.tier = "lead"
      const stored = yield* kube.get(Resources.Nodes, "a")
      assert.deepStrictEqual(stored.metadata.labels, { team: "blue", tier: "gold" })
    }))

  test("deleting an owner deletes its dependents, and orphaning keeps them without the reference", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const owner = yield* kube.create(Resources.Nodes, node("owner") as never)
      const other = yield* kube.create(Resources.Nodes, node("other") as never)
      const dependent = (name: string, uids: ReadonlyArray<string>) => ({
        ...node(name),
        metadata: {
          name,
          ownerReferences: uids.map((uid) => ({ apiVersion: "v1", kind: "Node", name: "x", uid }))
        }
      })
      yield* kube.create(Resources.Nodes, dependent("child", [owner.metadata.uid ?? ""]) as never)
      yield* kube.create(Resources.Nodes, dependent("shared", [other.metadata.uid ?? ""]) as never)
      yield* kube.delete(Resources.Nodes, "owner")
      const names = (yield* kube.list(Resources.Nodes)).items.map((n) => n.metadata.name)
      assert.deepStrictEqual(names, ["other", "shared"])
      yield* kube.delete(Resources.Nodes, "other", { propagationPolicy: "Orphan" })
      const orphan = yield* kube.get(Resources.Nodes, "shared")
      assert.deepStrictEqual(orphan.metadata.ownerReferences ?? [], [])
    }))

  test("timestamps come from the Clock", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const created = yield* kube.create(Resources.Nodes, node("a") as never)
      assert.strictEqual(created.metadata.creationTimestamp, "1970-01-01T00:00:00Z")
    }))

  test("every write is admitted by kube-apiserver's rules: creates and updates are Invalid, naming the fields", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const created = yield* Effect.flip(kube.create(Resources.Nodes, node("node_1") as never))
      assert.strictEqual(created._tag, "Invalid")
      assert.match(created.message, /^Node "node_1" is invalid: metadata\.name: Invalid value: "node_1": a lowercase/)
      yield* kube.create(Resources.Nodes, node("a") as never)
      const labelled = yield* Effect.flip(
        kube.patch(Resources.Nodes, "a", { type: "merge", patch: { metadata: { labels: { "a b": "c" } } } })
      )
      assert.strictEqual(labelled._tag, "Invalid")
      assert.deepStrictEqual(labelled._tag === "Invalid" ? labelled.causes.map((cause) => cause.field) : [], [
        "metadata.labels"
      ])
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "default" } }
      const empty = yield* Effect.flip(kube.create(Resources.Pods, { ...pod, spec: { containers: [] } } as never))
      assert.strictEqual(empty.message, 'Pod "p" is invalid: spec.containers: Required value')
      // The schema's complaint about the same field gives way to kube-apiserver's wording.
      const unnamed = yield* Effect.flip(kube.create(Resources.Pods, { ...pod, spec: { containers: [{}] } } as never))
      assert.strictEqual(unnamed.message, 'Pod "p" is invalid: spec.containers[0].name: Required value')
    }))

  test("an update of an admitted object is checked where it changed: a bad status after a good one is Invalid", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      yield* kube.create(Resources.Nodes, node("a") as never)
      const status = (cpu: string) =>
        kube.patch(
          Resources.Nodes,
          "a",
          { type: "merge", patch: { status: { capacity: { cpu } } } },
          { subresource: "status" }
        )
      yield* status("4")
      yield* status("8")
      const refused = yield* Effect.flip(status("lots"))
      assert.strictEqual(refused._tag, "Invalid")
      assert.deepStrictEqual(refused._tag === "Invalid" ? refused.causes.map((cause) => cause.field) : [], [
        "status.capacity.cpu"
      ])
      const stored = yield* kube.get(Resources.Nodes, "a")
      assert.strictEqual(stored.status?.capacity?.cpu, "8")
    }))

  test("generated names fit a DNS label: a long generateName is cut, as apiserver's name generator does", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const prefix = `${"a".repeat(100)}-`
      const created = yield* kube.create(Resources.Nodes, { ...node(""), metadata: { generateName: prefix } } as never)
      assert.strictEqual(created.metadata.name?.length, 63)
      assert.isTrue(created.metadata.name?.startsWith("a".repeat(58)))
    }))

  it.effect("two servers built from the same seed name objects identically", () =>
    Effect.gen(function* () {
      const makeOne = Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        return yield* kube.create(Resources.Nodes, { ...node(""), metadata: { generateName: "n-" } } as never)
      })
      const a = yield* Effect.provide(makeOne, MemoryKube.layer())
      const b = yield* Effect.provide(makeOne, MemoryKube.layer())
      assert.strictEqual(a.metadata.name, b.metadata.name)
      assert.strictEqual(a.metadata.uid, b.metadata.uid)
    })
  )
})
