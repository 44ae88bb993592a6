import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import type * as Pod from "../../src/api/Pod.ts"
import * as AttachDetach from "../../src/cluster/AttachDetach.ts"
import * as Kubelet from "../../src/cluster/Kubelet.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { createCsiClaim, listVolumeAttachments } from "../controllers/support.ts"
import { node, pod, podSpec, settle, withKube } from "./support.ts"

/** A pod `name` bound to `nodeName`, mounting each claim in `claims`, its spec with `extra`. */
const podWithClaims = (
  name: string,
  nodeName: string,
  claims: ReadonlyArray<string>,
  extra: Partial<Pod.Spec> = {}
) => ({
  ...pod(name),
  spec: {
    ...podSpec("1", extra),
    nodeName,
    volumes: claims.map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claim } }))
  }
})

/** The external-attacher's name of an attachment: `csi-` and the SHA-256 of volume handle, driver and node. */
const attachmentName = (handle: string, driver: string, nodeName: string) =>
  `csi-${createHash("sha256").update(`${handle}${driver}${nodeName}`).digest("hex")}`

describe("AttachDetach", () => {
  it.effect(
    "attaches the CSI volumes of a node's pods once each, and detaches one a while after its last pod is gone",
    () =>
      withKube(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          yield* AttachDetach.make()
          yield* kube.create(Resources.Nodes, node("n1"))
          yield* createCsiClaim("data", "pv-data")
          yield* createCsiClaim("logs", "pv-logs", "efs.csi.aws.com")
          // A volume without a CSI source (in-tree, NFS, ...) gets no VolumeAttachment.
          yield* kube.create(Resources.PersistentVolumes, {
            apiVersion: "v1",
            kind: "PersistentVolume",
            metadata: { name: "pv-nfs" },
            spec: { capacity: { storage: "1Gi" } }
          } as never)
          yield* kube.create(
            Resources.PersistentVolumeClaims,
            {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              metadata: { name: "nfs", namespace: "default" },
              spec: { volumeName: "pv-nfs" }
            } as never,
            { namespace: "default" }
          )
          yield* kube.create(Resources.Pods, podWithClaims("a", "n1", ["data", "nfs"]))
          yield* kube.create(Resources.Pods, podWithClaims("b", "n1", ["data", "logs"]))
          yield* settle

          const attached = yield* listVolumeAttachments
          assert.deepStrictEqual(
            attached.map((attachment) => ({
              name: attachment.metadata.name,
              finalizers: attachment.metadata.finalizers,
              spec: attachment.spec,
              status: attachment.status
            })),
            [
              {
                name: attachmentName("handle-pv-data", "ebs.csi.aws.com", "n1"),
                finalizers: ["external-attacher/ebs-csi-aws-com"],
                spec: { attacher: "ebs.csi.aws.com", nodeName: "n1", source: { persistentVolumeName: "pv-data" } },
                status: { attached: true }
              },
              {
                name: attachmentName("handle-pv-logs", "efs.csi.aws.com", "n1"),
                finalizers: ["external-attacher/efs-csi-aws-com"],
                spec: { attacher: "efs.csi.aws.com", nodeName: "n1", source: { persistentVolumeName: "pv-logs" } },
                status: { attached: true }
              }
            ]
          )

          // `b` goes: pv-logs is detached; pv-data stays, `a` still uses it.
          yield* kube.delete(Resources.Pods, "b", { namespace: "default", gracePeriodSeconds: 0 })
          yield* settle
          const detaching = yield* listVolumeAttachments
          assert.deepStrictEqual(
            detaching.map((attachment) => [
              attachment.spec.source.persistentVolumeName,
              attachment.metadata.deletionTimestamp
            ]),
            [
              ["pv-data", undefined],
              ["pv-logs", "1970-01-01T00:00:00Z"]
            ]
          )
          // The driver takes DetachDelay to detach; the object goes then.
          yield* TestClock.adjust("4999 millis")
          yield* settle
          assert.lengthOf(yield* listVolumeAttachments, 2)
          yield* TestClock.adjust("1 milli")
          yield* settle
          assert.deepStrictEqual(
            (yield* listVolumeAttachments).map((attachment) => attachment.spec.source.persistentVolumeName),
            ["pv-data"]
          )

          // The node goes: its volumes are detached, whatever pods still claim to be bound to it.
          yield* kube.delete(Resources.Nodes, "n1")
          yield* settle
          assert.isDefined((yield* listVolumeAttachments)[0]?.metadata.deletionTimestamp)
          yield* TestClock.adjust("5 seconds")
          yield* settle
          assert.lengthOf(yield* listVolumeAttachments, 0)
        })
      )
  )

  it.effect(
    "keeps a volume attached while its pod terminates, and for a pod bound to a missing node attaches none",
    () =>
      withKube(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          yield* Kubelet.make()
          yield* AttachDetach.make()
          yield* kube.create(Resources.Nodes, node("n1"))
          yield* createCsiClaim("data", "pv-data")
          yield* createCsiClaim("other", "pv-other")
          yield* kube.create(Resources.Pods, podWithClaims("db", "n1", ["data"], { terminationGracePeriodSeconds: 30 }))
          yield* kube.create(Resources.Pods, podWithClaims("lost", "ghost", ["other"]))
          yield* settle
          assert.deepStrictEqual(
            (yield* listVolumeAttachments).map((attachment) => attachment.spec.nodeName),
            ["n1"]
          )

          // The kubelet removes the pod when its 30 s grace ends; the volume is detached 5 s after.
          yield* kube.delete(Resources.Pods, "db", { namespace: "default" })
          yield* TestClock.adjust("29 seconds")
          yield* settle
          assert.isUndefined((yield* listVolumeAttachments)[0]?.metadata.deletionTimestamp)
          yield* TestClock.adjust("1 second")
          yield* settle
          assert.strictEqual((yield* listVolumeAttachments)[0]?.metadata.deletionTimestamp, "1970-01-01T00:00:30Z")
          yield* TestClock.adjust("5 seconds")
          yield* settle
          assert.lengthOf(yield* listVolumeAttachments, 0)
        })
      )
  )

  it.effect("attaches a volume whose claim is bound after its pod started", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* AttachDetach.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Pods, podWithClaims("db", "n1", ["data"]))
        yield* settle
        assert.lengthOf(yield* listVolumeAttachments, 0)
        yield* createCsiClaim("data", "pv-data")
        yield* settle
        assert.deepStrictEqual(
          (yield* listVolumeAttachments).map((attachment) => attachment.status?.attached),
          [true]
        )
      })
    )
  )
})
