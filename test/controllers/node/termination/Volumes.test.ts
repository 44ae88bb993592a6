import { assert, describe, it } from "@effect/vitest"
import type { Pod } from "../../../../src/api/Pod.ts"
import type { VolumeAttachment } from "../../../../src/api/Storage.ts"
import * as Volumes from "../../../../src/controllers/node/termination/Volumes.ts"

const minute = 60_000

const pod = (
  name: string,
  options: {
    readonly claims?: ReadonlyArray<string>
    readonly ephemeral?: string
    readonly tolerates?: boolean
    readonly mirror?: boolean
    readonly deletionTimestamp?: string
    readonly phase?: string
  } = {}
): Pod => ({
  metadata: {
    name,
    namespace: "default",
    ...(options.deletionTimestamp === undefined ? {} : { deletionTimestamp: options.deletionTimestamp }),
    ...(options.mirror === true
      ? { ownerReferences: [{ apiVersion: "v1", kind: "Node", name: "n1", uid: "n1-uid" }] }
      : {})
  },
  spec: {
    containers: [{ name: "app" }],
    ...(options.tolerates === true ? { tolerations: [{ operator: "Exists" }] } : {}),
    volumes: [
      ...(options.claims ?? []).map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claim } })),
      ...(options.ephemeral === undefined
        ? []
        : [{ name: options.ephemeral, ephemeral: { volumeClaimTemplate: { spec: {} } } }])
    ]
  },
  ...(options.phase === undefined ? {} : { status: { phase: options.phase } })
})

const attachment = (name: string, volume?: string): VolumeAttachment => ({
  metadata: { name },
  spec: {
    attacher: "ebs.csi.aws.com",
    nodeName: "n1",
    source: volume === undefined ? {} : { persistentVolumeName: volume }
  }
})

describe("termination Volumes", () => {
  it("spares the claims of pods the drain does not wait for, whatever their phase", () => {
    const now = 10 * minute
    const claims = Volumes.undrainableClaims(
      [
        pod("app", { claims: ["app-data"] }),
        pod("terminating", { claims: ["waited"], deletionTimestamp: "1970-01-01T00:09:30Z" }),
        pod("tolerant", { claims: ["agent", "shared"], tolerates: true }),
        pod("done", { claims: ["job"], tolerates: true, phase: "Succeeded" }),
        pod("static", { claims: ["shared"], mirror: true }),
        // More than a minute past its deletionTimestamp: stuck, no longer waited for.
        pod("stuck", { ephemeral: "scratch", deletionTimestamp: "1970-01-01T00:08:59Z" })
      ],
      now
    )
    assert.deepStrictEqual(claims, ["default/agent", "default/shared", "default/job", "default/stuck-scratch"])
  })

  it("waits for every attachment of a PersistentVolume that is not spared", () => {
    const pending = Volumes.pending(
      [attachment("a", "pv-app"), attachment("b", "pv-agent"), attachment("inline")],
      new Set(["pv-agent"])
    )
    assert.deepStrictEqual(
      pending.map((found) => found.metadata.name),
      ["a"]
    )
  })
})
