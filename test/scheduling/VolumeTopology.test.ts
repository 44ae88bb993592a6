import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"
import type * as Meta from "../../src/api/Meta.ts"
import type * as Pod from "../../src/api/Pod.ts"
import type * as Storage from "../../src/api/Storage.ts"
import * as Preferences from "../../src/controllers/provisioning/scheduling/Preferences.ts"
import * as PodRequirements from "../../src/scheduling/PodRequirements.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"
import * as VolumeTopology from "../../src/scheduling/VolumeTopology.ts"

const zoneIn = (...zones: Array<string>): Meta.NodeSelectorRequirement => ({
  key: Labels.Zone,
  operator: "In",
  values: zones
})

const pvc = (name: string, spec: Storage.PersistentVolumeClaim["spec"]): Storage.PersistentVolumeClaim => ({
  metadata: { name, namespace: "default" },
  spec
})

const pv = (
  name: string,
  expressions: ReadonlyArray<Meta.NodeSelectorRequirement> | undefined,
  extra: Partial<Storage.PersistentVolume["spec"]> = {}
): Storage.PersistentVolume => ({
  metadata: { name },
  spec: {
    ...extra,
    ...(expressions === undefined
      ? {}
      : {
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [{ matchExpressions: expressions }, { matchExpressions: [zoneIn("never")] }]
            }
          }
        })
  }
})

const storageClass = (
  name: string,
  zones: ReadonlyArray<string> | undefined,
  annotations?: Record<string, string>,
  creationTimestamp?: string
): Storage.StorageClass => ({
  metadata: {
    name,
    ...(annotations === undefined ? {} : { annotations }),
    ...(creationTimestamp === undefined ? {} : { creationTimestamp })
  },
  provisioner: "ebs.csi.aws.com",
  volumeBindingMode: "WaitForFirstConsumer",
  ...(zones === undefined
    ? {}
    : {
        allowedTopologies: [
          { matchLabelExpressions: [{ key: Labels.Zone, values: zones }] },
          { matchLabelExpressions: [{ key: Labels.Zone, values: ["never"] }] }
        ]
      })
})

const context = (
  pvcs: ReadonlyArray<Storage.PersistentVolumeClaim>,
  pvs: ReadonlyArray<Storage.PersistentVolume> = [],
  classes: ReadonlyArray<Storage.StorageClass> = []
): VolumeTopology.VolumeContext => ({
  pvcs: new Map(pvcs.map((claim) => [`${claim.metadata.namespace}/${claim.metadata.name}`, claim])),
  pvs: new Map(pvs.map((volume) => [volume.metadata.name!, volume])),
  storageClasses: new Map(classes.map((item) => [item.metadata.name!, item]))
})

const claimVolume = (name: string, claimName: string): Pod.Volume => ({ name, persistentVolumeClaim: { claimName } })
const ephemeralVolume = (name: string, storageClassName?: string): Pod.Volume => ({
  name,
  ephemeral: { volumeClaimTemplate: { spec: storageClassName === undefined ? {} : { storageClassName } } }
})

const pod = (volumes: ReadonlyArray<Pod.Volume>, affinity?: Pod.Affinity): Pod.Pod => ({
  metadata: { name: "web", namespace: "default" },
  spec: { containers: [{ name: "app" }], volumes, ...(affinity === undefined ? {} : { affinity }) }
})

const requiredTerms = (result: ReturnType<typeof VolumeTopology.inject>): ReadonlyArray<Meta.NodeSelectorTerm> => {
  if ("error" in result) throw new Error(result.error)
  return result.pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []
}

describe("inject", () => {
  const zonal = storageClass("zonal", ["zone-2", "zone-3"])

  it("adds a bound volume's first node-affinity term, creating the required term", () => {
    const ctx = context(
      [pvc("data", { volumeName: "pv-1", storageClassName: "zonal" })],
      [pv("pv-1", [zoneIn("zone-3")])]
    )
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([claimVolume("data", "data")]), ctx)), [
      { matchExpressions: [zoneIn("zone-3")] }
    ])
  })

  it("ANDs the volume's zone into every required OR term, so relaxation cannot drop it", () => {
    const ctx = context([pvc("data", { volumeName: "pv-1" })], [pv("pv-1", [zoneIn("zone-3")])])
    const capacity = { key: Labels.CapacityType, operator: "In", values: ["on-demand"] }
    const custom = { key: "example.com/label", operator: "In", values: ["unsupported"] }
    const affinity: Pod.Affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [custom] }, { matchExpressions: [capacity] }, {}]
        }
      }
    }
    const original = pod([claimVolume("data", "data")], affinity)
    const result = VolumeTopology.inject(original, ctx)
    assert.deepStrictEqual(requiredTerms(result), [
      { matchExpressions: [custom, zoneIn("zone-3")] },
      { matchExpressions: [capacity, zoneIn("zone-3")] },
      { matchExpressions: [zoneIn("zone-3")] }
    ])
    // The input pod is untouched.
    assert.deepStrictEqual(original.spec.affinity, affinity)
    // After relaxing the first term away, the zone is still required.
    const relaxed = Preferences.relax(("pod" in result ? result.pod : original).spec, {
      toleratePreferNoSchedule: false
    })!
    const zone = Requirements.get(PodRequirements.requirementsOf(relaxed.spec), Labels.Zone)
    assert.deepStrictEqual([...zone.values], ["zone-3"])
  })

  it("drops hostname expressions of local volumes but keeps them for CSI volumes", () => {
    const hostname = { key: Labels.Hostname, operator: "In", values: ["node-a"] }
    const local = context([pvc("data", { volumeName: "local" })], [pv("local", [hostname, zoneIn("zone-1")])])
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([claimVolume("data", "data")]), local)), [
      { matchExpressions: [zoneIn("zone-1")] }
    ])
    const onlyHost = context([pvc("data", { volumeName: "local" })], [pv("local", [hostname])])
    const unchanged = pod([claimVolume("data", "data")])
    assert.deepStrictEqual(VolumeTopology.inject(unchanged, onlyHost), { pod: unchanged })
    const csi = context(
      [pvc("data", { volumeName: "lvm" })],
      [pv("lvm", [hostname], { csi: { driver: "lvm.csi.example.com" } })]
    )
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([claimVolume("data", "data")]), csi)), [
      { matchExpressions: [hostname] }
    ])
  })

  it("adds an unbound claim's StorageClass first allowed topology as In", () => {
    const ctx = context([pvc("data", { storageClassName: "zonal" })], [], [zonal])
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([claimVolume("data", "data")]), ctx)), [
      { matchExpressions: [zoneIn("zone-2", "zone-3")] }
    ])
  })

  it("adds nothing for a WaitForFirstConsumer class without allowed topologies or a volume without affinity", () => {
    const ctx = context(
      [pvc("data", { storageClassName: "anywhere" }), pvc("bound", { volumeName: "pv-free" })],
      [pv("pv-free", undefined)],
      [storageClass("anywhere", undefined)]
    )
    const input = pod([claimVolume("data", "data"), claimVolume("bound", "bound"), { name: "scratch" }])
    const result = VolumeTopology.inject(input, ctx)
    assert.deepStrictEqual(result, { pod: input })
    assert.strictEqual("pod" in result ? result.pod : undefined, input)
  })

  it("combines the topology of several volumes", () => {
    const ctx = context(
      [pvc("a", { volumeName: "pv-a" }), pvc("b", { storageClassName: "zonal" })],
      [pv("pv-a", [zoneIn("zone-3")])],
      [zonal]
    )
    assert.deepStrictEqual(
      requiredTerms(VolumeTopology.inject(pod([claimVolume("a", "a"), claimVolume("b", "b")]), ctx)),
      [{ matchExpressions: [zoneIn("zone-3"), zoneIn("zone-2", "zone-3")] }]
    )
  })

  it("reads generic ephemeral volumes through their claim <pod>-<volume>", () => {
    const ctx = context([pvc("web-scratch", { volumeName: "pv-1" })], [pv("pv-1", [zoneIn("zone-1")])], [zonal])
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([ephemeralVolume("scratch", "zonal")]), ctx)), [
      { matchExpressions: [zoneIn("zone-1")] }
    ])
  })

  it("reads an ephemeral volume's template before its claim exists, defaulting the class", () => {
    const ctx = context([], [], [zonal])
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([ephemeralVolume("scratch", "zonal")]), ctx)), [
      { matchExpressions: [zoneIn("zone-2", "zone-3")] }
    ])
    assert.deepStrictEqual(VolumeTopology.inject(pod([ephemeralVolume("scratch")]), ctx), {
      error: "persistentvolumeclaim default/web-scratch is unbound and names no storage class"
    })
    const defaults = context(
      [],
      [],
      [
        storageClass(
          "old-default",
          ["zone-1"],
          { "storageclass.kubernetes.io/is-default-class": "true" },
          "2024-01-01T00:00:00Z"
        ),
        storageClass(
          "new-default",
          ["zone-9"],
          { "storageclass.kubernetes.io/is-default-class": "true" },
          "2025-01-01T00:00:00Z"
        ),
        storageClass("other", ["zone-5"])
      ]
    )
    assert.deepStrictEqual(requiredTerms(VolumeTopology.inject(pod([ephemeralVolume("scratch")]), defaults)), [
      { matchExpressions: [zoneIn("zone-9")] }
    ])
  })

  it("fails like upstream's validation", () => {
    const volumes = [claimVolume("data", "data")]
    assert.deepStrictEqual(VolumeTopology.inject(pod(volumes), VolumeTopology.emptyVolumeContext), {
      error: "persistentvolumeclaim default/data not found"
    })
    assert.deepStrictEqual(VolumeTopology.inject(pod(volumes), context([pvc("data", {})])), {
      error: "persistentvolumeclaim default/data is unbound and names no storage class"
    })
    assert.deepStrictEqual(VolumeTopology.inject(pod(volumes), context([pvc("data", { storageClassName: "" })])), {
      error: "persistentvolumeclaim default/data is unbound and names no storage class"
    })
    assert.deepStrictEqual(
      VolumeTopology.inject(pod(volumes), context([pvc("data", { storageClassName: "missing" })])),
      {
        error: "storageclass missing not found"
      }
    )
    assert.deepStrictEqual(VolumeTopology.inject(pod(volumes), context([pvc("data", { volumeName: "gone" })])), {
      error: "persistentvolume gone of persistentvolumeclaim default/data not found"
    })
  })

  it("accepts a bound claim whatever its class, as upstream", () => {
    const ctx = context(
      [pvc("data", { volumeName: "pv-1", storageClassName: "missing" })],
      [pv("pv-1", [zoneIn("zone-1")])]
    )
    assert.isTrue("pod" in VolumeTopology.inject(pod([claimVolume("data", "data")]), ctx))
  })

  it("leaves pods without volumes alone", () => {
    const plain: Pod.Pod = { metadata: { name: "web" }, spec: { containers: [] } }
    assert.strictEqual(
      (VolumeTopology.inject(plain, VolumeTopology.emptyVolumeContext) as { readonly pod: Pod.Pod }).pod,
      plain
    )
  })
})

describe("volumeClaimsOf", () => {
  it("lists every claim once, ephemeral claims by their generated name", () => {
    const volumes = [
      claimVolume("a", "data"),
      { name: "config" },
      ephemeralVolume("scratch", "zonal"),
      claimVolume("b", "data"),
      claimVolume("c", "logs")
    ]
    assert.deepStrictEqual(VolumeTopology.volumeClaimsOf(pod(volumes)), [
      "default/data",
      "default/web-scratch",
      "default/logs"
    ])
    assert.deepStrictEqual(VolumeTopology.volumeClaimsOf(pod([])), [])
  })
})
