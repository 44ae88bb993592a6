/**
 * A leader that dies between a KWOK launch and the Node's registration must not lose the instance: the next process
 * (with a provider of its own, over the same API server) registers the Node on time, and the NodeClaim goes on to
 * register and initialize without garbage collection replacing it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as KwokCloudProvider from "../../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as GarbageCollection from "../../../../src/controllers/nodeclaim/garbagecollection/GarbageCollection.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as S from "../../support.ts"

const kwokPool = { nodeClassRef: S.kwokNodeClassRef } as const

/** The NodeClass's registration delay. */
const delayMillis = 30_000

/** One Karpenter process with a KWOK provider of its own, and garbage collection running. */
const kwokProcess = Layer.mergeAll(S.karpenter(), Layer.effectDiscard(GarbageCollection.make)).pipe(
  Layer.provideMerge(KwokCloudProvider.layer())
)

/** Starts a process in a new Scope; returns the Scope and the process's provider. */
const startProcess = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(kwokProcess, scope)
  yield* S.settle
  return { scope, cloud: Context.get(context, CloudProvider.CloudProvider) }
})

const nodeNames = Effect.map(S.listNodes, (nodes) => nodes.map((node) => node.metadata.name))

/**
 * Launches one NodeClaim in a first process and stops that process `stopAfter` ms after the launch (before the
 * Node registers); after `downFor` more ms a second process starts. Returns the launch time and the NodeClaim, the
 * second process and every deletion of a NodeClaim seen meanwhile.
 */
const launchThenHandOver = (stopAfter: number, downFor: number) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const deletions: Array<string> = []
    yield* Stream.runForEach(kube.watch(Resources.NodeClaims), (event) =>
      Effect.sync(() => {
        if (event.type === "BOOKMARK") return
        if (event.type === "DELETED" || event.object.metadata.deletionTimestamp !== undefined) {
          deletions.push(event.object.metadata.name ?? "")
        }
      })
    ).pipe(Effect.forkScoped)
    yield* S.createKwokNodeClass(S.kwokNodeClass("default", { nodeRegistrationDelay: `${delayMillis / 1000}s` }))
    yield* S.createNodePool(S.nodePool("default", kwokPool))
    yield* Layer.build(S.controlPlane)

    const first = yield* startProcess
    yield* S.createPod(S.pod("a"))
    // Step by step until the NodeClaim is launched, so the launch time is known to the millisecond.
    let launched = (yield* S.listNodeClaims).find((claim) => claim.status?.providerID !== undefined)
    while (launched === undefined) {
      yield* S.advance(1, 1)
      launched = (yield* S.listNodeClaims).find((claim) => claim.status?.providerID !== undefined)
    }
    const launchedAt = yield* Clock.currentTimeMillis
    assert.deepStrictEqual(yield* nodeNames, [], "launched, not registered yet")
    yield* S.advance(stopAfter, 1_000)
    yield* Scope.close(first.scope, Exit.void)

    yield* S.advance(downFor, 1_000)
    const second = yield* startProcess
    return { launchedAt, launched, second, deletions }
  })

/** Exactly the one NodeClaim, Node and instance of the first launch, registered and initialized. */
const assertOneRegisteredInstance = (
  launched: { readonly metadata: { readonly name?: string | undefined; readonly uid?: string | undefined } },
  providerID: string,
  cloud: CloudProvider.CloudProvider["Service"]
) =>
  Effect.gen(function* () {
    const claims = yield* S.listNodeClaims
    assert.deepStrictEqual(
      claims.map((claim) => [claim.metadata.name, claim.metadata.uid, claim.status?.providerID]),
      [[launched.metadata.name, launched.metadata.uid, providerID]],
      "the same NodeClaim, never replaced"
    )
    for (const type of [ConditionTypes.Launched, ConditionTypes.Registered, ConditionTypes.Initialized]) {
      assert.strictEqual(S.conditionOf(claims[0]?.status?.conditions, type)?.status, "True", type)
    }
    const nodes = yield* S.listNodes
    assert.deepStrictEqual(
      nodes.map((node) => [node.metadata.name, node.spec.providerID]),
      [[launched.metadata.name, providerID]]
    )
    assert.deepStrictEqual(
      (yield* cloud.list()).map((instance) => instance.status?.providerID),
      [providerID]
    )
    assert.strictEqual((yield* S.getPod("a")).spec.nodeName, launched.metadata.name)
  })

describe("NodeClaim lifecycle: a leader stopped between launch and registration", S.controllerSuite, () => {
  it.effect("the next process registers the Node at the original time; the NodeClaim is never replaced", () =>
    Effect.gen(function* () {
      const { launchedAt, launched, second, deletions } = yield* launchThenHandOver(5_000, 10_000)
      const providerID = launched.status?.providerID ?? ""
      const registersAt = launchedAt + delayMillis

      // The new process holds the instance before its Node exists: garbage collection must count it.
      assert.deepStrictEqual(
        (yield* second.cloud.list()).map((instance) => instance.status?.providerID),
        [providerID]
      )
      yield* S.advance(registersAt - 1 - (yield* Clock.currentTimeMillis), 1_000)
      assert.deepStrictEqual(yield* nodeNames, [], "not before the registration delay is over")
      yield* S.advance(1, 1)
      assert.deepStrictEqual(yield* nodeNames, [launched.metadata.name], "registered at the original time")

      // Well past several garbage collections: still the one NodeClaim, Node and instance.
      yield* S.advance(10 * 60_000, 5_000)
      yield* assertOneRegisteredInstance(launched, providerID, second.cloud)
      assert.deepStrictEqual(deletions, [], "no NodeClaim was deleted")
      yield* Scope.close(second.scope, Exit.void)
    }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect("a process starting after the registration time registers the Node as soon as it starts", () =>
    Effect.gen(function* () {
      const { launched, second, deletions } = yield* launchThenHandOver(5_000, 60_000)
      const providerID = launched.status?.providerID ?? ""
      assert.deepStrictEqual(yield* nodeNames, [launched.metadata.name], "registered once the provider started")

      yield* S.advance(10 * 60_000, 5_000)
      yield* assertOneRegisteredInstance(launched, providerID, second.cloud)
      assert.deepStrictEqual(deletions, [], "no NodeClaim was deleted")
      yield* Scope.close(second.scope, Exit.void)
    }).pipe(Effect.provide(MemoryKube.layer()))
  )
})
