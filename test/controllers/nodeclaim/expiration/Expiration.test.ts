import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../../src/api/Labels.ts"
import * as DisruptionLog from "../../../../src/controllers/disruption/DisruptionLog.ts"
import * as Expiration from "../../../../src/controllers/nodeclaim/expiration/Expiration.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { advance, createNodeClaim, getNodeClaim, patchNodeClaimStatus, run, settle } from "../disruption/support.ts"

const exists = (name: string) =>
  getNodeClaim(name).pipe(
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )

const events = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.Events), ({ items }) => items)
)

describe("nodeclaim.expiration", () => {
  it.effect("deletes a NodeClaim exactly expireAfter after its creation, and records it", () => {
    const log = DisruptionLog.inMemory()
    return run(
      Effect.gen(function* () {
        yield* createNodeClaim("nc", { expireAfter: "1h" })
        yield* patchNodeClaimStatus("nc", { nodeName: "node-nc" })
        yield* Expiration.make
        yield* settle
        yield* advance(3_599_000)
        assert.isTrue(yield* exists("nc"))
        assert.deepStrictEqual(log.entries(), [])
        yield* advance(999)
        assert.isTrue(yield* exists("nc"), "not a millisecond early")
        yield* advance(1)
        assert.isFalse(yield* exists("nc"))

        assert.deepStrictEqual(log.entries(), [
          { time: 3_600_000, reason: "Expired", candidates: ["node-nc"], replacements: [] }
        ])
        const [event] = yield* events
        assert.strictEqual(event?.involvedObject.kind, "NodeClaim")
        assert.strictEqual(event?.involvedObject.name, "nc")
        assert.strictEqual(event?.reason, "Disrupted")
        assert.include(event?.message ?? "", "Expired")
      }).pipe(Effect.provideService(DisruptionLog.DisruptionLog, log.service))
    )
  })

  it.effect("only starts the deletion of a NodeClaim with a finalizer, once", () => {
    const log = DisruptionLog.inMemory()
    return run(
      Effect.gen(function* () {
        yield* createNodeClaim("nc", { expireAfter: "10m", finalizers: [Labels.TerminationFinalizer] })
        yield* Expiration.make
        yield* advance(600_000)
        assert.isDefined((yield* getNodeClaim("nc")).metadata.deletionTimestamp)
        yield* advance(600_000)
        assert.deepStrictEqual(
          log.entries().map((entry) => entry.candidates),
          [["nc"]]
        )
      }).pipe(Effect.provideService(DisruptionLog.DisruptionLog, log.service))
    )
  })

  it.effect("never expires a NodeClaim with expireAfter Never, nor one of another provider", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClaim("never", { expireAfter: "Never" })
        yield* createNodeClaim("foreign", {
          expireAfter: "1h",
          nodeClassRef: { group: "example.com", kind: "Other", name: "x" }
        })
        yield* Expiration.make
        yield* advance(100 * 3_600_000)
        assert.isTrue(yield* exists("never"))
        assert.isTrue(yield* exists("foreign"))
      })
    )
  )

  it.effect("expires NodeClaims older than expireAfter as soon as it starts", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClaim("old", { expireAfter: "720h" })
        yield* advance(721 * 3_600_000)
        assert.isTrue(yield* exists("old"))
        yield* Expiration.make
        yield* settle
        assert.isFalse(yield* exists("old"))
      })
    )
  )

  it("computes the expiration time from creationTimestamp and spec.expireAfter", () => {
    const claim = (expireAfter: string) => ({
      apiVersion: "karpenter.sh/v1" as const,
      kind: "NodeClaim" as const,
      metadata: { name: "nc", creationTimestamp: "2024-01-01T00:00:00Z" },
      spec: { nodeClassRef: { group: "g", kind: "k", name: "n" }, requirements: [], expireAfter }
    })
    assert.strictEqual(Expiration.expirationTime(claim("1h30m")), Date.parse("2024-01-01T01:30:00Z"))
    assert.isUndefined(Expiration.expirationTime(claim("Never")))
  })
})
