import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Storage from "../../src/api/Storage.ts"
import * as VolumeUsage from "../../src/scheduling/VolumeUsage.ts"
import { pod } from "../controllers/provisioning/scheduling/fixtures.ts"

const pvc = (name: string, options: { volumeName?: string; storageClassName?: string }) =>
  Schema.decodeUnknownSync(Storage.PersistentVolumeClaim)({ metadata: { name, namespace: "default" }, spec: options })

const context = {
  pvcs: new Map([
    ["default/bound", pvc("bound", { volumeName: "pv-1" })],
    ["default/unbound", pvc("unbound", { storageClassName: "gp3" })]
  ]),
  pvs: new Map([
    [
      "pv-1",
      Schema.decodeUnknownSync(Storage.PersistentVolume)({
        metadata: { name: "pv-1" },
        spec: { csi: { driver: "ebs.csi.aws.com" } }
      })
    ]
  ]),
  storageClasses: new Map([
    [
      "gp3",
      Schema.decodeUnknownSync(Storage.StorageClass)({ metadata: { name: "gp3" }, provisioner: "ebs.csi.aws.com" })
    ]
  ])
}

const withClaims = (name: string, claims: ReadonlyArray<string>) =>
  pod(name, {
    spec: { volumes: claims.map((claimName) => ({ name: claimName, persistentVolumeClaim: { claimName } })) }
  })

describe("VolumeUsage", () => {
  it("finds each claim's CSI driver from its volume or its StorageClass", () => {
    const volumes = VolumeUsage.volumesOf(withClaims("p", ["bound", "unbound", "unknown"]), context)
    assert.deepStrictEqual([...(volumes.get("ebs.csi.aws.com") ?? [])].sort(), ["default/bound", "default/unbound"])
    assert.strictEqual(volumes.size, 1)
  })

  it("counts distinct claims per driver against the limit", () => {
    const usage = new VolumeUsage.VolumeUsage(new Map([["ebs.csi.aws.com", 2]]))
    usage.add(VolumeUsage.volumesOf(withClaims("a", ["bound"]), context))
    // The same claim again does not count twice.
    assert.isUndefined(usage.exceeds(VolumeUsage.volumesOf(withClaims("b", ["bound", "unbound"]), context)))
    usage.add(VolumeUsage.volumesOf(withClaims("b", ["unbound"]), context))
    const third = VolumeUsage.volumesOf(withClaims("c", ["bound"]), context)
    assert.isUndefined(usage.exceeds(third))
    const extra = new Map([["ebs.csi.aws.com", new Set(["default/another"])]])
    assert.strictEqual(usage.exceeds(extra), "would exceed the node's limit of 2 ebs.csi.aws.com volumes")
    assert.isUndefined(new VolumeUsage.VolumeUsage(new Map()).exceeds(extra), "no limit for an unknown driver")
  })
})
