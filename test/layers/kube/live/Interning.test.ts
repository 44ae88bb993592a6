import { assert, describe, it } from "vitest"
import * as Interning from "../../../../layers/kube/live/Interning.ts"

const pod = (name: string) => ({
  metadata: { name, labels: { app: "web-frontend-deployment" }, annotations: { blob: "x".repeat(300) } },
  spec: { nodeName: "ip-10-0-0-1.ec2.internal", containers: [{ args: ["--port=8080", "--verbose"], ports: [80] }] },
  status: { conditions: [{ type: "Ready", status: "True", message: null }] }
})

describe("Interning", () => {
  it("leaves objects equal to what was decoded, through generations of its table", () => {
    const interning = Interning.make(3)
    for (const name of ["a", "b", "c", "d", "e"]) {
      const decoded = pod(name)
      interning.objects(decoded)
      assert.deepStrictEqual(decoded, pod(name))
    }
  })

  it("replaces every array by a copy, nested ones included", () => {
    const decoded = pod("a")
    const { containers } = decoded.spec
    const args = containers[0]!.args
    Interning.make().objects(decoded)
    assert.notStrictEqual(decoded.spec.containers, containers)
    assert.notStrictEqual(decoded.spec.containers[0]!.args, args)
    assert.deepStrictEqual(decoded.spec.containers, pod("a").spec.containers)
  })

  it("keeps only values that repeat: an object's own name, uid and resourceVersion stay out of the table", () => {
    const interning = Interning.make()
    for (let index = 0; index < 1_000; index++) {
      const decoded = {
        ...pod(`web-${index}`),
        metadata: { ...pod(`web-${index}`).metadata, uid: `uid-${index}`, resourceVersion: `${1_000 + index}` }
      }
      interning.objects(decoded)
      assert.strictEqual(decoded.metadata.uid, `uid-${index}`)
    }
    // app, nodeName, the two args, Ready, True: the same six strings for every pod.
    assert.strictEqual(interning.size(), 6)
  })
})
