/**
 * The KubeClient contract: behaviour every implementation must show (kube-api.md §4 A–I). Run against the in-memory
 * server here, and against the live client over HTTP once that exists.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as KubeClient from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"

/** What an implementation under test provides beyond the contract. */
export interface ContractHooks<R> {
  /** Drops the server's watch history (410 for older resourceVersions). */
  readonly compact?: Effect.Effect<void, never, R>
  /** Run each test with `it.live` (real clock) instead of `it.effect`: implementations over real sockets need it. */
  readonly live?: boolean
}

const nodePool = (name: string, labels?: Record<string, string>) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name, ...(labels === undefined ? {} : { labels }) },
  spec: {
    template: {
      spec: {
        nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
        requirements: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }]
      }
    }
  }
})

const nodeClaim = (name: string, finalizers?: ReadonlyArray<string>) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  metadata: { name, ...(finalizers === undefined ? {} : { finalizers: [...finalizers] }) },
  spec: {
    nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
    requirements: [{ key: "karpenter.sh/nodepool", operator: "In", values: ["default"] }]
  }
})

const pod = (name: string, options?: { labels?: Record<string, string>; nodeName?: string; grace?: number }) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", ...(options?.labels === undefined ? {} : { labels: options.labels }) },
  spec: {
    containers: [{ name: "app", image: "app:1" }],
    ...(options?.nodeName === undefined ? {} : { nodeName: options.nodeName }),
    ...(options?.grace === undefined ? {} : { terminationGracePeriodSeconds: options.grace })
  }
})

const node = (name: string, taints?: ReadonlyArray<{ key: string; effect: string }>) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  spec: { providerID: `kwok://${name}`, ...(taints === undefined ? {} : { taints: [...taints] }) }
})

const rv = (object: { readonly metadata: { readonly resourceVersion?: string } }): number =>
  Number(object.metadata.resourceVersion)

/** Collects the first `count` events of a watch in a background fiber. */
const collect = <A, E>(stream: Stream.Stream<A, E>, count: number) =>
  Effect.forkChild(Stream.runCollect(Stream.take(stream, count)))

/** Registers the contract tests for an implementation. `layer` must give a fresh, empty cluster per test. */
export const kubeClientContract = <R>(
  name: string,
  layer: Layer.Layer<KubeClient.KubeClient | R>,
  hooks?: ContractHooks<R>
) =>
  describe(`KubeClient contract: ${name}`, () => {
    const run = hooks?.live === true ? it.live : it.effect
    const test = (title: string, body: () => Effect.Effect<void, unknown, KubeClient.KubeClient | R>) =>
      run(title, () => Effect.provide(body(), layer))

    test("create sets uid, creationTimestamp, resourceVersion and generation 1 for custom resources", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.NodePools, {
          ...nodePool("a"),
          metadata: { name: "a", uid: "client-uid", creationTimestamp: "2001-01-01T00:00:00Z" }
        } as never)
        assert.notStrictEqual(created.metadata.uid, "client-uid")
        assert.match(created.metadata.uid ?? "", /^[0-9a-f-]{36}$/)
        assert.match(created.metadata.creationTimestamp ?? "", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
        assert.notStrictEqual(created.metadata.creationTimestamp, "2001-01-01T00:00:00Z")
        assert.strictEqual(created.metadata.generation, 1)
        const fetched = yield* kube.get(Resources.NodePools, "a")
        assert.deepStrictEqual(fetched, created)
      }))

    test("generateName gives distinct names with the prefix", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const claim = { ...nodeClaim(""), metadata: { generateName: "default-" } }
        const a = yield* kube.create(Resources.NodeClaims, claim as never)
        const b = yield* kube.create(Resources.NodeClaims, claim as never)
        assert.match(a.metadata.name ?? "", /^default-[a-z0-9]{5}$/)
        assert.notStrictEqual(a.metadata.name, b.metadata.name)
      }))

    test("the apiserver applies CRD defaults", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.NodeClaims, nodeClaim("nc") as never)
        assert.strictEqual((yield* kube.get(Resources.NodeClaims, "nc")).spec.expireAfter, "720h")
      }))

    test("resourceVersion is one increasing counter, per object and for the collection", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const a = yield* kube.create(Resources.NodePools, nodePool("a") as never)
        const b = yield* kube.create(Resources.Nodes, node("b") as never)
        assert.isAbove(rv(b), rv(a))
        const a2 = yield* kube.patch(Resources.NodePools, "a", {
          type: "merge",
          patch: { metadata: { labels: { x: "1" } } }
        })
        assert.isAbove(rv(a2), rv(b))
        const list = yield* kube.list(Resources.NodePools)
        assert.isAtLeast(Number(list.resourceVersion), rv(a2))
        assert.strictEqual(rv(yield* kube.get(Resources.Nodes, "b")), rv(b))
      }))

    test("a write that changes nothing keeps the version and emits no event", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.NodePools, nodePool("a") as never)
        const status = { status: { resources: { cpu: "4" } } }
        const first = yield* kube.patch(
          Resources.NodePools,
          "a",
          { type: "merge", patch: status },
          { subresource: "status" }
        )
        const events = yield* collect(
          kube.watch(Resources.NodePools, { resourceVersion: first.metadata.resourceVersion ?? "" }),
          1
        )
        const second = yield* kube.patch(
          Resources.NodePools,
          "a",
          { type: "merge", patch: status },
          { subresource: "status" }
        )
        assert.strictEqual(second.metadata.resourceVersion, first.metadata.resourceVersion)
        const marker = yield* kube.patch(Resources.NodePools, "a", {
          type: "merge",
          patch: { metadata: { labels: { m: "1" } } }
        })
        const [event] = yield* Fiber.join(events)
        assert.strictEqual(event?.type, "MODIFIED")
        assert.strictEqual(
          event?.type === "BOOKMARK" ? "" : event?.object.metadata.resourceVersion,
          marker.metadata.resourceVersion
        )
        assert.isAbove(rv(first), rv(created))
      }))

    test("a stale resourceVersion conflicts: PUT, merge patch with the version, JSON patch test", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.Nodes, node("n") as never)
        yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: { metadata: { labels: { a: "1" } } } })
        const stale = { ...node("n"), metadata: { name: "n", resourceVersion: created.metadata.resourceVersion } }
        assert.strictEqual((yield* Effect.flip(kube.replace(Resources.Nodes, stale as never)))._tag, "Conflict")
        const lockedPatch = { metadata: { resourceVersion: created.metadata.resourceVersion, labels: { b: "2" } } }
        assert.strictEqual(
          (yield* Effect.flip(kube.patch(Resources.Nodes, "n", { type: "merge", patch: lockedPatch })))._tag,
          "Conflict"
        )
        // Without a version a merge patch applies to whatever is current.
        const patched = yield* kube.patch(Resources.Nodes, "n", {
          type: "merge",
          patch: { metadata: { labels: { b: "2" } } }
        })
        assert.deepStrictEqual(patched.metadata.labels, { a: "1", b: "2" })
      }))

    test("creating an existing name fails with AlreadyExists", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod("p") as never)
        const error = yield* Effect.flip(kube.create(Resources.Pods, pod("p") as never))
        assert.strictEqual(error._tag, "AlreadyExists")
        assert.strictEqual(error.message, 'pods "p" already exists')
      }))

    test("a missing object or namespace is NotFound", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const missing = yield* Effect.flip(kube.get(Resources.NodeClaims, "nope"))
        assert.strictEqual(missing._tag, "NotFound")
        assert.strictEqual(missing.message, 'nodeclaims.karpenter.sh "nope" not found')
        const unnamespaced = { ...pod("p"), metadata: { name: "p" } }
        const noNamespace = yield* Effect.flip(
          kube.create(Resources.Pods, unnamespaced as never, { namespace: "nope" })
        )
        assert.strictEqual(noNamespace._tag, "NotFound")
        assert.strictEqual(noNamespace.message, 'namespaces "nope" not found')
        const mismatch = yield* Effect.flip(
          kube.create(Resources.Pods, pod("p") as never, { namespace: "kube-system" })
        )
        assert.strictEqual(mismatch._tag, "Invalid")
      }))

    test("invalid objects are rejected with the field named", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const bad = nodePool("bad")
        const error = yield* Effect.flip(
          kube.create(Resources.NodePools, { ...bad, spec: { ...bad.spec, weight: 0 } } as never)
        )
        assert.strictEqual(error._tag, "Invalid")
        assert.include(error.message, "spec.weight")
        assert.strictEqual(
          (yield* Effect.flip(kube.create(Resources.NodePools, { metadata: {}, spec: bad.spec } as never)))._tag,
          "Invalid"
        )
      }))

    test("generation moves only when the spec changes", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.NodePools, nodePool("a") as never)
        const labelled = yield* kube.patch(Resources.NodePools, "a", {
          type: "merge",
          patch: { metadata: { labels: { x: "y" } } }
        })
        assert.strictEqual(labelled.metadata.generation, 1)
        const status = yield* kube.patch(
          Resources.NodePools,
          "a",
          { type: "merge", patch: { status: { resources: { nodes: "1" } } } },
          { subresource: "status" }
        )
        assert.strictEqual(status.metadata.generation, 1)
        const weighted = yield* kube.patch(Resources.NodePools, "a", { type: "merge", patch: { spec: { weight: 10 } } })
        assert.strictEqual(weighted.metadata.generation, 2)
      }))

    test("status is a separate subresource", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.NodeClaims, {
          ...nodeClaim("nc"),
          status: { providerID: "kwok://ignored" }
        } as never)
        assert.isUndefined(created.status?.providerID)
        const withStatus = yield* kube.patch(
          Resources.NodeClaims,
          "nc",
          { type: "merge", patch: { metadata: { labels: { ignored: "yes" } }, status: { providerID: "kwok://a" } } },
          { subresource: "status" }
        )
        assert.strictEqual(withStatus.status?.providerID, "kwok://a")
        assert.isUndefined(withStatus.metadata.labels?.ignored)
        const mainWrite = yield* kube.patch(Resources.NodeClaims, "nc", {
          type: "merge",
          patch: { metadata: { labels: { kept: "yes" } }, status: { providerID: "kwok://b" } }
        })
        assert.strictEqual(mainWrite.status?.providerID, "kwok://a")
        assert.strictEqual(mainWrite.metadata.labels?.kept, "yes")
      }))

    test("a NodeClaim's spec is immutable", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.NodeClaims, nodeClaim("nc") as never)
        const error = yield* Effect.flip(
          kube.patch(Resources.NodeClaims, "nc", { type: "merge", patch: { spec: { expireAfter: "1h" } } })
        )
        assert.strictEqual(error._tag, "Invalid")
        assert.include(error.message, "spec is immutable")
      }))

    test("a VolumeAttachment's spec is immutable, and its status is written through the status subresource", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.VolumeAttachments, {
          apiVersion: "storage.k8s.io/v1",
          kind: "VolumeAttachment",
          metadata: { name: "csi-a" },
          spec: { attacher: "ebs.csi.aws.com", nodeName: "n1", source: { persistentVolumeName: "pv-a" } },
          status: { attached: true }
        })
        assert.isUndefined(created.status, "status is reset on create")
        const error = yield* Effect.flip(
          kube.patch(Resources.VolumeAttachments, "csi-a", { type: "merge", patch: { spec: { nodeName: "n2" } } })
        )
        assert.strictEqual(error._tag, "Invalid")
        assert.include(error.message, "field is immutable")
        const attached = yield* kube.patch(
          Resources.VolumeAttachments,
          "csi-a",
          { type: "merge", patch: { status: { attached: true } } },
          { subresource: "status" }
        )
        assert.isTrue(attached.status?.attached)
      }))

    test("finalizers hold a deleted object, forbid new finalizers, and their removal deletes it", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.NodeClaims, nodeClaim("nc", ["karpenter.sh/termination"]) as never)
        const events = yield* collect(
          kube.watch(Resources.NodeClaims, { resourceVersion: created.metadata.resourceVersion ?? "" }),
          2
        )
        yield* kube.delete(Resources.NodeClaims, "nc")
        const deleting = yield* kube.get(Resources.NodeClaims, "nc")
        assert.isDefined(deleting.metadata.deletionTimestamp)
        yield* kube.delete(Resources.NodeClaims, "nc")
        assert.strictEqual(
          (yield* kube.get(Resources.NodeClaims, "nc")).metadata.resourceVersion,
          deleting.metadata.resourceVersion
        )
        const forbidden = yield* Effect.flip(
          kube.patch(Resources.NodeClaims, "nc", {
            type: "merge",
            patch: { metadata: { finalizers: ["karpenter.sh/termination", "example.com/other"] } }
          })
        )
        assert.strictEqual(forbidden._tag, "Invalid")
        assert.include(forbidden.message, "no new finalizers can be added if the object is being deleted")
        yield* kube.patch(Resources.NodeClaims, "nc", { type: "merge", patch: { metadata: { finalizers: null } } })
        assert.strictEqual((yield* Effect.flip(kube.get(Resources.NodeClaims, "nc")))._tag, "NotFound")
        const seen = yield* Fiber.join(events)
        assert.deepStrictEqual(
          seen.map((event) => event.type),
          ["MODIFIED", "DELETED"]
        )
      }))

    test("a bound pod is deleted gracefully; an unbound one at once", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod("bound", { nodeName: "n1", grace: 45 }) as never)
        yield* kube.create(Resources.Pods, pod("pending") as never)
        yield* kube.delete(Resources.Pods, "bound", { namespace: "default" })
        const terminating = yield* kube.get(Resources.Pods, "bound", { namespace: "default" })
        assert.strictEqual(terminating.metadata.deletionGracePeriodSeconds, 45)
        assert.isDefined(terminating.metadata.deletionTimestamp)
        yield* kube.delete(Resources.Pods, "bound", { namespace: "default", gracePeriodSeconds: 0 })
        assert.strictEqual(
          (yield* Effect.flip(kube.get(Resources.Pods, "bound", { namespace: "default" })))._tag,
          "NotFound"
        )
        yield* kube.delete(Resources.Pods, "pending", { namespace: "default" })
        assert.strictEqual(
          (yield* Effect.flip(kube.get(Resources.Pods, "pending", { namespace: "default" })))._tag,
          "NotFound"
        )
      }))

    test("delete preconditions guard against deleting a replaced object", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Nodes, node("n") as never)
        const error = yield* Effect.flip(kube.delete(Resources.Nodes, "n", { preconditions: { uid: "someone-else" } }))
        assert.strictEqual(error._tag, "Conflict")
        yield* kube.get(Resources.Nodes, "n")
      }))

    test("deleting an owner deletes what it owns", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const owner = yield* kube.create(Resources.NodePools, nodePool("np") as never)
        yield* kube.create(Resources.NodeClaims, {
          ...nodeClaim("owned"),
          metadata: {
            name: "owned",
            ownerReferences: [{ apiVersion: "karpenter.sh/v1", kind: "NodePool", name: "np", uid: owner.metadata.uid }]
          }
        } as never)
        yield* kube.delete(Resources.NodePools, "np")
        assert.strictEqual((yield* Effect.flip(kube.get(Resources.NodeClaims, "owned")))._tag, "NotFound")
      }))

    test("merge patch replaces lists and deletes keys set to null", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Nodes, {
          ...node("n", [
            { key: "a", effect: "NoSchedule" },
            { key: "b", effect: "NoSchedule" }
          ]),
          metadata: { name: "n", labels: { keep: "1", drop: "1" } }
        } as never)
        const patched = yield* kube.patch(Resources.Nodes, "n", {
          type: "merge",
          patch: { metadata: { labels: { drop: null } }, spec: { taints: [{ key: "c", effect: "NoExecute" }] } }
        })
        assert.deepStrictEqual(patched.spec.taints, [{ key: "c", effect: "NoExecute" }])
        assert.deepStrictEqual(patched.metadata.labels, { keep: "1" })
      }))

    test("a JSON patch whose test fails changes nothing", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.Nodes, node("n", [{ key: "a", effect: "NoSchedule" }]) as never)
        const error = yield* Effect.flip(
          kube.patch(Resources.Nodes, "n", {
            type: "json",
            patch: [
              { op: "test", path: "/metadata/resourceVersion", value: "stale" },
              { op: "remove", path: "/spec/taints/0" }
            ]
          })
        )
        assert.include(["Invalid", "Conflict"], error._tag)
        const after = yield* kube.get(Resources.Nodes, "n")
        assert.strictEqual(after.metadata.resourceVersion, created.metadata.resourceVersion)
        assert.strictEqual(after.spec.taints?.length, 1)
        const applied = yield* kube.patch(Resources.Nodes, "n", {
          type: "json",
          patch: [
            { op: "test", path: "/metadata/resourceVersion", value: created.metadata.resourceVersion },
            { op: "remove", path: "/spec/taints/0" }
          ]
        })
        assert.deepStrictEqual(applied.spec.taints, [])
      }))

    test("label and field selectors filter lists", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod("a1", { labels: { app: "a" } }) as never)
        yield* kube.create(Resources.Pods, pod("a2", { labels: { app: "a" }, nodeName: "n1" }) as never)
        yield* kube.create(Resources.Pods, pod("b1", { labels: { app: "b" } }) as never)
        yield* kube.create(Resources.Pods, pod("none") as never)
        const names = (page: KubeClient.ListResult<{ metadata: { name?: string } }>) =>
          page.items.map((item) => item.metadata.name)
        assert.deepStrictEqual(names(yield* kube.list(Resources.Pods, { labelSelector: "app=a" })), ["a1", "a2"])
        assert.deepStrictEqual(names(yield* kube.list(Resources.Pods, { labelSelector: "app!=a" })), ["b1", "none"])
        assert.deepStrictEqual(
          names(yield* kube.list(Resources.Pods, { labelSelector: "app in (a,b),app notin (b)" })),
          ["a1", "a2"]
        )
        assert.deepStrictEqual(names(yield* kube.list(Resources.Pods, { fieldSelector: "spec.nodeName=" })), [
          "a1",
          "b1",
          "none"
        ])
        assert.deepStrictEqual(
          names(yield* kube.list(Resources.Pods, { labelSelector: "app=a", fieldSelector: "spec.nodeName=n1" })),
          ["a2"]
        )
        assert.strictEqual(
          (yield* Effect.flip(kube.list(Resources.Pods, { fieldSelector: "spec.containers=x" })))._tag,
          "Invalid"
        )
      }))

    test("lists page with limit and continue", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        for (const name of ["a", "b", "c"]) yield* kube.create(Resources.Nodes, node(name) as never)
        const first = yield* kube.list(Resources.Nodes, { limit: 2 })
        assert.deepStrictEqual(
          first.items.map((n) => n.metadata.name),
          ["a", "b"]
        )
        assert.isDefined(first.continue)
        const second = yield* kube.list(Resources.Nodes, { limit: 2, continue: first.continue ?? "" })
        assert.deepStrictEqual(
          second.items.map((n) => n.metadata.name),
          ["c"]
        )
        assert.isUndefined(second.continue)
      }))

    test("a watch sees objects enter and leave its selector", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const start = yield* kube.list(Resources.Nodes)
        const events = yield* collect(
          kube.watch(Resources.Nodes, { labelSelector: "pool=a", resourceVersion: start.resourceVersion }),
          3
        )
        yield* kube.create(Resources.Nodes, { ...node("n"), metadata: { name: "n", labels: { pool: "b" } } } as never)
        yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: { metadata: { labels: { pool: "a" } } } })
        yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: { metadata: { labels: { x: "1" } } } })
        const left = yield* kube.patch(Resources.Nodes, "n", {
          type: "merge",
          patch: { metadata: { labels: { pool: "b" } } }
        })
        const seen = yield* Fiber.join(events)
        assert.deepStrictEqual(
          seen.map((event) => event.type),
          ["ADDED", "MODIFIED", "DELETED"]
        )
        const deleted = seen[2]!
        assert.strictEqual(deleted.type === "BOOKMARK" ? "" : deleted.object.metadata.labels?.pool, "a")
        assert.strictEqual(
          deleted.type === "BOOKMARK" ? "" : deleted.object.metadata.resourceVersion,
          left.metadata.resourceVersion
        )
      }))

    test("a watch resumes from a resourceVersion without missing or repeating events", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Nodes, node("before") as never)
        const listed = yield* kube.list(Resources.Nodes)
        yield* kube.create(Resources.Nodes, node("after") as never)
        const events = yield* collect(kube.watch(Resources.Nodes, { resourceVersion: listed.resourceVersion }), 2)
        yield* kube.delete(Resources.Nodes, "before")
        const seen = yield* Fiber.join(events)
        assert.deepStrictEqual(
          seen.map((event) => [event.type, event.type === "BOOKMARK" ? "" : event.object.metadata.name]),
          [
            ["ADDED", "after"],
            ["DELETED", "before"]
          ]
        )
      }))

    test("a watch without a resourceVersion starts with the current objects", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Nodes, node("a") as never)
        const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes), 1))
        assert.deepStrictEqual(
          seen.map((event) => event.type),
          ["ADDED"]
        )
      }))

    if (hooks?.compact !== undefined) {
      const compact = hooks.compact
      test("a watch from a compacted resourceVersion fails with Expired (410)", () =>
        Effect.gen(function* () {
          const kube = yield* KubeClient.KubeClient
          const created = yield* kube.create(Resources.Nodes, node("a") as never)
          yield* kube.create(Resources.Nodes, node("b") as never)
          yield* compact
          const error = yield* Effect.flip(
            Stream.runCollect(
              Stream.take(kube.watch(Resources.Nodes, { resourceVersion: created.metadata.resourceVersion ?? "" }), 1)
            )
          )
          assert.strictEqual(error._tag, "Expired")
        }))
    }

    const pdb = (allowed: number) => ({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "web", namespace: "default" },
      spec: { minAvailable: 1, selector: { matchLabels: { app: "web" } } },
      status: { disruptionsAllowed: allowed, currentHealthy: 1 + allowed, desiredHealthy: 1, expectedPods: 1 + allowed }
    })

    const readyPod = (name: string) =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod(name, { labels: { app: "web" }, nodeName: "n1" }) as never, {
          namespace: "default"
        })
        yield* kube.patch(
          Resources.Pods,
          name,
          {
            type: "merge",
            patch: { status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] } }
          },
          { namespace: "default", subresource: "status" }
        )
      })

    const setBudget = (allowed: number) =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const created = yield* kube.create(Resources.PodDisruptionBudgets, pdb(allowed) as never)
        yield* kube.patch(
          Resources.PodDisruptionBudgets,
          "web",
          {
            type: "merge",
            patch: { status: { ...pdb(allowed).status, observedGeneration: created.metadata.generation } }
          },
          { namespace: "default", subresource: "status" }
        )
      })

    test("eviction a PodDisruptionBudget does not allow fails with TooManyRequests (429)", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* readyPod("web-1")
        yield* setBudget(0)
        const error = yield* Effect.flip(kube.evict("default", "web-1"))
        assert.strictEqual(error._tag, "TooManyRequests")
        assert.include(error.message, "disruption budget")
        const still = yield* kube.get(Resources.Pods, "web-1", { namespace: "default" })
        assert.isUndefined(still.metadata.deletionTimestamp)
      }))

    test("eviction the budget allows deletes the pod gracefully and spends the budget", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* readyPod("web-1")
        yield* readyPod("web-2")
        yield* setBudget(1)
        yield* kube.evict("default", "web-1")
        const evicted = yield* kube.get(Resources.Pods, "web-1", { namespace: "default" })
        assert.isDefined(evicted.metadata.deletionTimestamp)
        assert.isTrue(evicted.status?.conditions?.some((c) => c.type === "DisruptionTarget") ?? false)
        const budget = yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })
        assert.strictEqual(budget.status?.disruptionsAllowed, 0)
        assert.strictEqual((yield* Effect.flip(kube.evict("default", "web-2")))._tag, "TooManyRequests")
      }))

    test("eviction of a pod without a budget, or of a pending pod, just deletes it", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod("lonely") as never)
        yield* kube.evict("default", "lonely")
        assert.strictEqual(
          (yield* Effect.flip(kube.get(Resources.Pods, "lonely", { namespace: "default" })))._tag,
          "NotFound"
        )
      }))

    test("binding assigns a node once", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Pods, pod("p") as never)
        yield* kube.bind("default", "p", "node-1")
        const bound = yield* kube.get(Resources.Pods, "p", { namespace: "default" })
        assert.strictEqual(bound.spec.nodeName, "node-1")
        assert.isTrue(bound.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "True") ?? false)
        const again = yield* Effect.flip(kube.bind("default", "p", "node-2"))
        assert.strictEqual(again._tag, "Conflict")
      }))

    test("Lease times must be MicroTime with six fractional digits", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const lease = (renewTime: string) => ({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: "leader", namespace: "kube-system" },
          spec: { holderIdentity: "a", leaseDurationSeconds: 15, renewTime }
        })
        const error = yield* Effect.flip(kube.create(Resources.Leases, lease("2026-01-01T00:00:00.123Z") as never))
        assert.strictEqual(error._tag, "Invalid")
        yield* kube.create(Resources.Leases, lease("2026-01-01T00:00:00.123456Z") as never)
      }))

    test("events are ordinary namespaced objects", () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        yield* kube.create(Resources.Events, {
          metadata: { name: "nc.1", namespace: "default" },
          involvedObject: { kind: "NodeClaim", name: "nc", apiVersion: "karpenter.sh/v1" },
          reason: "Launched",
          message: "launched",
          type: "Normal"
        } as never)
        const found = yield* kube.list(Resources.Events, { fieldSelector: "involvedObject.name=nc,reason=Launched" })
        assert.strictEqual(found.items.length, 1)
      }))
  })
