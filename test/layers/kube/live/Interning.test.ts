import { assert, describe, it } from "vitest"
import * as Interning from "../../../../layers/kube/live/Interning.ts"

const pod = (name: string) => ({
  metadata: { name, labels: { app: "web-frontend-deployment" }, annotations: { blob: "x".repeat(300) } },
  spec: { nodeName: "ip-10-0-0-1.ec2.internal", containers: [{ args: ["--port=8080", "--verbose"], ports: [80] }] },
  status: { conditions: [{ type: "Ready", status: "True", message: null }] }
})

describe("Interning", () => {
  it("leaves parsed objects equal to what was parsed, through generations of its table", () => {
    const interning = Interning.make(3)
    for (const name of ["a", "b", "c", "d", "e"]) {
      const parsed: unknown = JSON.parse(JSON.stringify(pod(name)))
      interning.strings(parsed)
      assert.deepStrictEqual(parsed, pod(name))
    }
  })
})
