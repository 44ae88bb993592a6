import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import type { Node } from "../../../../src/api/Node.ts"
import * as EvictionQueue from "../../../../src/controllers/node/termination/EvictionQueue.ts"
import * as Metrics from "../../../../src/controllers/node/termination/TerminationMetrics.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as KubeError from "../../../../src/kube/KubeError.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { advance, createPod, environment, findPod, type Recorder, recorder, settle } from "./support.ts"

const node = (providerID: string): Node => ({ metadata: { name: "n1" }, spec: { providerID } })

/** A running, Ready pod on n1 (what the kubelet would report), as stored. */
const runningPod = (name: string, labels?: Record<string, string>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* createPod(name, "n1", labels === undefined ? {} : { labels })
    return yield* kube.patch(
      Resources.Pods,
      name,
      {
        type: "merge",
        patch: {
          status: {
            phase: "Running",
            conditions: [{ type: "Ready", status: "True", lastTransitionTime: "1970-01-01T00:00:00Z" }]
          }
        }
      },
      { namespace: "default", subresource: "status" }
    )
  })

/** A NodeClaim with `providerID`, and a True DisruptionReason condition when `reason` is given. */
const nodeClaim = (name: string, providerID: string, reason?: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.create(Resources.NodeClaims, {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: { name },
      spec: { nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" }, requirements: [] }
    } as never)
    yield* kube.patch(
      Resources.NodeClaims,
      name,
      {
        type: "merge",
        patch: {
          status: {
            providerID,
            ...(reason === undefined
              ? {}
              : {
                  conditions: [
                    {
                      type: "DisruptionReason",
                      status: "True",
                      reason,
                      message: "",
                      lastTransitionTime: "1970-01-01T00:00:00Z"
                    }
                  ]
                })
          }
        }
      },
      { subresource: "status" }
    )
  })

/** A budget over `app: web` whose status allows `allowed` disruptions (no disruption controller runs here). */
const budgetAllowing = (allowed: number, create: boolean) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    if (create) {
      yield* kube.create(
        Resources.PodDisruptionBudgets,
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "web", namespace: "default" },
          spec: { minAvailable: 1, selector: { matchLabels: { app: "web" } } }
        } as never,
        { namespace: "default" }
      )
    }
    yield* kube.patch(
      Resources.PodDisruptionBudgets,
      "web",
      {
        type: "merge",
        patch: {
          status: {
            observedGeneration: 1,
            disruptionsAllowed: allowed,
            currentHealthy: 1,
            desiredHealthy: 1 - allowed,
            expectedPods: 1
          }
        }
      },
      { namespace: "default", subresource: "status" }
    )
  })

const run = <A, E, R>(recorded: Recorder, body: Effect.Effect<A, E, R>) =>
  body.pipe(Effect.provide(environment(recorded)), Effect.provideService(Metric.MetricRegistry, new Map()))

const requests = (code: number) =>
  Effect.map(
    Metric.value(Metric.withAttributes(Metrics.nodesEvictionRequestsTotal, { code: String(code) })),
    (state) => state.count
  )

describe("EvictionQueue", () => {
  it.effect(
    "evicts each queued pod once, naming the NodeClaim's disruption reason or forceful termination",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const queue = yield* EvictionQueue.make()
          yield* nodeClaim("disrupted", "fake://a", "Underutilized")
          yield* nodeClaim("deleted", "fake://b")
          const a = yield* runningPod("a")
          const b = yield* runningPod("b")
          const c = yield* runningPod("c")
          yield* settle
          yield* queue.add(node("fake://a"), [a, b, a])
          yield* queue.add(node("fake://b"), [c])
          assert.isTrue(yield* queue.has(node("fake://a"), a))
          yield* settle
          // Added again once evicted (a stale read of the pod): the cache shows it terminating, so no second call.
          yield* queue.add(node("fake://a"), [a])
          yield* settle
          assert.deepStrictEqual(
            recorded.evictions.map((eviction) => `${eviction.pod}:${eviction.outcome}`),
            ["a:ok", "b:ok", "c:ok"]
          )
          assert.deepStrictEqual(
            recorded.events.map((event) => `${event.involvedObject.name} ${event.reason} ${event.message}`),
            [
              "a Evicted Evicted pod: Underutilized",
              "b Evicted Evicted pod: Underutilized",
              "c Evicted Evicted pod: Forceful Termination"
            ]
          )
          assert.isFalse(yield* queue.has(node("fake://a"), a))
          assert.deepStrictEqual(yield* queue.items, [])
          // Evicted: deleted gracefully, with the eviction API's condition.
          const evicted = yield* findPod("a")
          assert.isDefined(evicted?.metadata.deletionTimestamp)
          assert.strictEqual(evicted?.status?.conditions?.find((c) => c.type === "DisruptionTarget")?.status, "True")
          assert.strictEqual(yield* requests(200), 3)
        })
      )
    },
    60_000
  )

  it.effect(
    "is done with a pod that is gone (404), or replaced by another of its name (409 or another uid)",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const kube = yield* KubeClient
          const memory = yield* MemoryKube.MemoryApiServer
          const queue = yield* EvictionQueue.make()
          const gone = yield* runningPod("gone")
          const conflicting = yield* runningPod("conflicting")
          const replaced = yield* runningPod("replaced")
          yield* kube.delete(Resources.Pods, "replaced", { namespace: "default", gracePeriodSeconds: 0 })
          const replacement = yield* runningPod("replaced")
          yield* settle
          yield* memory.failNext(
            "evict",
            1,
            new KubeError.NotFound({ resource: "pods", name: "default/gone", message: "not found" })
          )
          yield* queue.add(node("fake://a"), [gone])
          yield* settle
          yield* memory.failNext(
            "evict",
            1,
            new KubeError.Conflict({ resource: "pods", name: "default/conflicting", message: "uid mismatch" })
          )
          yield* queue.add(node("fake://a"), [conflicting])
          yield* queue.add(node("fake://a"), [replaced])
          yield* advance(5_000)
          // One answer each; the replaced pod's old uid never reaches the API, and its replacement is left alone.
          assert.deepStrictEqual(
            recorded.evictions.map((eviction) => `${eviction.pod}:${eviction.outcome}`),
            ["gone:NotFound", "conflicting:Conflict"]
          )
          assert.isUndefined((yield* findPod("replaced"))?.metadata.deletionTimestamp)
          assert.strictEqual((yield* findPod("replaced"))?.metadata.uid, replacement.metadata.uid)
          assert.deepStrictEqual(yield* queue.items, [])
          assert.strictEqual(yield* requests(404), 1)
          assert.strictEqual(yield* requests(409), 1)
        })
      )
    },
    60_000
  )

  it.effect(
    "retries a pod its PDB protects (429) with backoff doubling from 100 ms to 10 s, until allowed",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const queue = yield* EvictionQueue.make()
          yield* budgetAllowing(0, true)
          const web = yield* runningPod("web", { app: "web" })
          yield* settle
          yield* queue.add(node("fake://a"), [web])
          // The node drain adds the pod again every second: that must not reset its backoff.
          for (let second = 0; second < 35; second++) {
            yield* queue.add(node("fake://a"), [web])
            yield* advance(1_000)
          }
          const times = recorded.evictions.map((eviction) => eviction.at)
          assert.isTrue(recorded.evictions.every((eviction) => eviction.outcome === "TooManyRequests"))
          const gaps = times.slice(1).map((at, index) => at - times[index]!)
          assert.deepStrictEqual(gaps, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000])
          assert.isUndefined((yield* findPod("web"))?.metadata.deletionTimestamp)
          // One FailedDraining event: repeats within two minutes are dropped.
          const blocked = recorded.events.filter((event) => event.reason === "FailedDraining")
          assert.strictEqual(blocked.length, 1)
          assert.strictEqual(blocked[0]?.involvedObject.kind, "Pod")
          assert.strictEqual(blocked[0]?.message, "Failed to drain node, evicting pod default/web violates a PDB")
          assert.strictEqual(yield* requests(429), times.length)

          // The budget allows one disruption: the next attempt (within 10 s) evicts.
          yield* budgetAllowing(1, false)
          yield* advance(10_000)
          assert.strictEqual(recorded.evictions.at(-1)?.outcome, "ok")
          assert.isDefined((yield* findPod("web"))?.metadata.deletionTimestamp)
          assert.deepStrictEqual(yield* queue.items, [])
        })
      )
    },
    60_000
  )

  it.effect(
    "retries other failures with the same backoff",
    () => {
      const recorded = recorder()
      return run(
        recorded,
        Effect.gen(function* () {
          const memory = yield* MemoryKube.MemoryApiServer
          const queue = yield* EvictionQueue.make()
          const a = yield* runningPod("a")
          yield* settle
          yield* memory.failNext("evict", 2)
          yield* queue.add(node("fake://a"), [a])
          yield* advance(1_000, 50)
          assert.deepStrictEqual(
            recorded.evictions.map((eviction) => `${eviction.at}:${eviction.outcome}`),
            ["0:KubeUnavailable", "100:KubeUnavailable", "300:ok"]
          )
          assert.strictEqual(yield* requests(503), 2)
        })
      )
    },
    60_000
  )
})
