import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as PodDisruptionBudget from "../../src/api/PodDisruptionBudget.ts"
import * as Reschedulable from "../../src/scheduling/Reschedulable.ts"
import { pod } from "../controllers/provisioning/scheduling/fixtures.ts"

const budget = (name: string, spec: Record<string, unknown>) =>
  Schema.decodeUnknownSync(PodDisruptionBudget.PodDisruptionBudget)({
    metadata: { name, namespace: "default" },
    spec: { selector: { matchLabels: { app: "db" } }, ...spec }
  })

describe("Reschedulable", () => {
  it("moves ordinary pods", () => {
    assert.isUndefined(
      Reschedulable.notReschedulable(pod("web", { labels: { app: "web" } }), [budget("b", { maxUnavailable: 0 })], 0)
    )
  })

  it("keeps DaemonSet pods and do-not-disrupt pods where they are", () => {
    assert.strictEqual(
      Reschedulable.notReschedulable(pod("ds", { ownerKind: "DaemonSet" }), [], 0),
      "owned by a DaemonSet"
    )
    const pinned = pod("pinned")
    const annotated = {
      ...pinned,
      metadata: { ...pinned.metadata, annotations: { "karpenter.sh/do-not-disrupt": "true" } }
    }
    assert.include(Reschedulable.notReschedulable(annotated, [], 0) ?? "", "do-not-disrupt")
  })

  it("keeps pods a budget fully blocks: maxUnavailable 0 or 0%, minAvailable 100%", () => {
    const db = pod("db-0", { labels: { app: "db" } })
    for (const spec of [{ maxUnavailable: 0 }, { maxUnavailable: "0%" }, { minAvailable: "100%" }]) {
      assert.include(
        Reschedulable.notReschedulable(db, [budget("strict", spec)], 0) ?? "",
        "default/strict allows no disruption"
      )
    }
    for (const spec of [{ maxUnavailable: 1 }, { minAvailable: "50%" }, { minAvailable: 1 }]) {
      assert.isUndefined(Reschedulable.notReschedulable(db, [budget("lenient", spec)], 0))
    }
  })
})

describe("Reschedulable: terminating pods", () => {
  it("a terminating pod needs no new home unless a StatefulSet brings it back under its name", () => {
    const base = pod("web-0")
    const terminating = { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" } }
    assert.strictEqual(Reschedulable.notReschedulable(terminating, [], 0), "terminating")
    const stateful = {
      ...terminating,
      metadata: {
        ...terminating.metadata,
        ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "db", uid: "u", controller: true }]
      }
    }
    assert.isUndefined(Reschedulable.notReschedulable(stateful, [], 0))
  })
})
