import { assert, describe, it } from "@effect/vitest"
import * as Nodeadm from "../../../../layers/cloudprovider/aws/Nodeadm.ts"

describe("Nodeadm.customEntries", () => {
  it("keeps the parts of a MIME archive as they are", () => {
    const archive = [
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="BOUNDARY"',
      "",
      "--BOUNDARY",
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      "",
      "#!/bin/bash",
      "echo one",
      "--BOUNDARY",
      "Content-Type: application/node.eks.aws",
      "",
      "apiVersion: node.eks.aws/v1alpha1",
      "kind: NodeConfig",
      "--BOUNDARY--",
      ""
    ].join("\n")
    assert.deepStrictEqual(Nodeadm.customEntries(archive), [
      { contentType: 'text/x-shellscript; charset="us-ascii"', content: "#!/bin/bash\necho one" },
      { contentType: "application/node.eks.aws", content: "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig" }
    ])
  })

  it("detects a NodeConfig by its YAML mapping and anything else as a shell script", () => {
    assert.deepStrictEqual(Nodeadm.customEntries("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n"), [
      { contentType: Nodeadm.contentTypeNodeConfig, content: "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n" }
    ])
    assert.deepStrictEqual(Nodeadm.customEntries("echo hello; exit 0"), [
      { contentType: Nodeadm.contentTypeShellScript, content: "echo hello; exit 0" }
    ])
    assert.deepStrictEqual(Nodeadm.customEntries(undefined), [])
  })

  it("serializes as Go's multipart writer does, carriage returns removed", () => {
    assert.strictEqual(
      Nodeadm.serialize([
        { contentType: "a/b", content: "one" },
        { contentType: "c/d", content: "two" }
      ]),
      'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\nContent-Type: a/b\n\none\n--//\nContent-Type: c/d\n\ntwo\n--//--\n'
    )
  })
})
