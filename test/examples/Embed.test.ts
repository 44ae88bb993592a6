/**
 * examples/embed.ts, run as another program would run it: its own in-memory KubeClient and fake CloudProvider, the
 * embedded controllers, and a NodeClaim created for the pending pods.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Embed from "../../examples/embed.ts"
import * as Fake from "../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as Labels from "../../src/api/Labels.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { advance, controllerSuite } from "../controllers/support.ts"

describe("examples/embed.ts", controllerSuite, () => {
  it.effect("creates one NodeClaim for the pending pods when the batch window closes", () =>
    Effect.gen(function* () {
      const running = yield* Effect.forkChild(Embed.program())
      // Past the provisioner's batch window (1 s idle after the last pod).
      yield* advance(2_000, 500)
      const claim = yield* Fiber.join(running)

      assert.strictEqual(claim.metadata.labels?.[Labels.NodePool], "embedded")
      assert.deepStrictEqual(claim.spec.resources?.requests, { cpu: "1500m", memory: "1536Mi", pods: "3" })
      const kube = yield* KubeClient
      const { items } = yield* kube.list(Resources.NodeClaims)
      assert.deepStrictEqual(
        items.map((item) => item.metadata.name),
        [claim.metadata.name]
      )
      // Only the provisioner ran: the NodeClaim is not launched yet, so the provider was not asked.
      assert.deepStrictEqual(yield* (yield* Fake.FakeCloudProvider).createCalls, [])
      assert.match(Embed.describe(claim), /^NodeClaim \S+ nodepool=embedded requests=cpu=1500m,memory=1536Mi,pods=3 /)
    }).pipe(Effect.provide(Embed.environment))
  )
})
