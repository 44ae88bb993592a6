/**
 * Helpers of the tests of the lifecycle's steps, each run on its own (no controller, no informer) against the
 * in-memory API server, the fake provider and an event recorder (`run` of the NodeClaim tests' support).
 */
import * as Effect from "effect/Effect"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import { CloudProvider } from "../../../../src/cloudprovider/CloudProvider.ts"
import * as Launch from "../../../../src/controllers/nodeclaim/lifecycle/Launch.ts"
import * as Registration from "../../../../src/controllers/nodeclaim/lifecycle/Registration.ts"
import type * as Step from "../../../../src/controllers/nodeclaim/lifecycle/Step.ts"
import { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as S from "../../support.ts"

export { run } from "../disruption/support.ts"

/** What the steps work with; the Node lookup lists the API server's Nodes (the controller's cache stands in). */
export const deps: Effect.Effect<Step.Deps, never, KubeClient | CloudProvider | EventRecorder> = Effect.gen(
  function* () {
    const kube = yield* KubeClient
    return {
      kube,
      cloud: yield* CloudProvider,
      events: yield* EventRecorder,
      nodesOf: (claim: NodeClaim) =>
        Effect.map(Effect.orDie(kube.list(Resources.Nodes)), ({ items }) =>
          items.filter(
            (node) => claim.status?.providerID !== undefined && node.spec.providerID === claim.status.providerID
          )
        )
    }
  }
)

/** Narrows a step's result to one variant, failing the test with what it was otherwise. */
export const expectTag = <R extends { readonly _tag: string }, T extends R["_tag"]>(
  result: R,
  tag: T
): Extract<R, { readonly _tag: T }> => {
  if (result._tag !== tag) throw new Error(`expected ${tag}, got ${JSON.stringify(result)}`)
  return result as Extract<R, { readonly _tag: T }>
}

/** Creates a NodeClaim (a manifest such as `S.nodeClaim`'s) and launches it with {@link Launch}. */
export const launchedClaim = (manifest: object) =>
  Effect.gen(function* () {
    const created = yield* S.createNodeClaim(manifest as ReturnType<typeof S.nodeClaim>)
    const launched = yield* Launch.make(yield* deps)(created)
    return expectTag(launched, "Stop").claim
  })

/** {@link launchedClaim}, then a Ready Node `node` with its providerID, registered with {@link Registration}. */
export const registeredClaim = (manifest: object, node: string) =>
  Effect.gen(function* () {
    const launched = yield* launchedClaim(manifest)
    yield* S.createNode(S.node(node, { providerID: launched.status?.providerID ?? "", ready: true }))
    const registered = yield* Registration.make(yield* deps)(launched)
    return expectTag(registered, "Stop").claim
  })
