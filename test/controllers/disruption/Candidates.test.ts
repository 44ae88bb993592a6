import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as PodDisruptionBudget from "../../../src/api/PodDisruptionBudget.ts"
import * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import * as Reschedulable from "../../../src/scheduling/Reschedulable.ts"
import { pod } from "../provisioning/scheduling/fixtures.ts"

// Upstream v1.4.0 pkg/utils/pdb/pdb.go (CanEvictPods, IsFullyBlocked): under unhealthyPodEvictionPolicy AlwaysAllow a
// budget lets go of a pod whose Ready condition is False; a pod with no Ready condition yet is not known unhealthy.
const alwaysAllow = (spec: Record<string, unknown>) =>
  Schema.decodeUnknownSync(PodDisruptionBudget.PodDisruptionBudget)({
    metadata: { name: "guard", namespace: "default" },
    spec: { selector: { matchLabels: { app: "db" } }, unhealthyPodEvictionPolicy: "AlwaysAllow", ...spec },
    status: { disruptionsAllowed: 0 }
  })

const withReady = (status: "True" | "False" | undefined) => {
  const base = pod("db-0", { labels: { app: "db" } })
  return {
    ...base,
    status: {
      ...base.status,
      conditions: status === undefined ? [] : [{ type: "Ready", status }]
    }
  } as typeof base
}

describe("PodDisruptionBudgets and unhealthy pods (AlwaysAllow)", () => {
  it("a budget allowing no disruption blocks a Ready pod and one with no Ready condition, not one Ready=False", () => {
    const budgets = [alwaysAllow({ maxUnavailable: 1 })]
    assert.strictEqual(Candidates.blockingBudget(withReady("True"), budgets)?.metadata.name, "guard")
    assert.strictEqual(Candidates.blockingBudget(withReady(undefined), budgets)?.metadata.name, "guard")
    assert.isUndefined(Candidates.blockingBudget(withReady("False"), budgets))
  })

  it("a fully blocking budget keeps a pod in place unless it is Ready=False", () => {
    const budgets = [alwaysAllow({ maxUnavailable: 0 })]
    assert.include(Reschedulable.notReschedulable(withReady("True"), budgets, 0) ?? "", "default/guard")
    assert.include(Reschedulable.notReschedulable(withReady(undefined), budgets, 0) ?? "", "default/guard")
    assert.isUndefined(Reschedulable.notReschedulable(withReady("False"), budgets, 0))
  })
})
