import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { root } from "../../../../fixtures.ts"

const folder = join(root, "layers/cloudprovider/aws/sdk")

describe("AWS SDK loading", () => {
  it("the service modules import the SDK as types only; the layers load it when built (its Node 20 warning too)", () => {
    const files = readdirSync(folder).filter((file) => file.endsWith(".ts"))
    assert.includeMembers(files, ["Ec2.ts", "Ssm.ts", "Iam.ts", "Pricing.ts", "Sqs.ts"])
    const eager = files.filter((file) =>
      /^import\s+(?!type\b)[^;]*from\s+["']@aws-sdk\//m.test(readFileSync(join(folder, file), "utf8"))
    )
    assert.deepStrictEqual(eager, [])
  })
})
