import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"

describe("Labels", () => {
  it("normalizes deprecated keys", () => {
    assert.strictEqual(Labels.normalize("failure-domain.beta.kubernetes.io/zone"), Labels.Zone)
    assert.strictEqual(Labels.normalize("beta.kubernetes.io/arch"), Labels.Arch)
    assert.strictEqual(Labels.normalize("example.com/x"), "example.com/x")
  })

  it("restricts non-well-known keys in restricted domains, as IsRestrictedLabel", () => {
    assert.isTrue(Labels.isRestricted("kubernetes.io/hostname"))
    assert.isTrue(Labels.isRestricted("karpenter.sh/custom"))
    assert.isTrue(Labels.isRestricted("example.k8s.io/x"))
    assert.isTrue(Labels.isRestricted("kubernetes.io/custom"))
    assert.isFalse(Labels.isRestricted(Labels.Zone))
    assert.isFalse(Labels.isRestricted(Labels.CapacityType))
    assert.isFalse(Labels.isRestricted("node.kubernetes.io/role"))
    assert.isFalse(Labels.isRestricted("node-restriction.kubernetes.io/team"))
    assert.isFalse(Labels.isRestricted("kops.k8s.io/instancegroup"))
    assert.isFalse(Labels.isRestricted("example.com/team"))
    assert.isTrue(Labels.isRestricted("karpenter.kwok.sh/instance-size", Labels.WellKnownLabels) === false)
  })

  it("lets a provider's keys become well-known", () => {
    const wellKnown = Labels.withProviderLabels(["karpenter.k8s.aws/instance-family"])
    assert.isTrue(wellKnown.has("karpenter.k8s.aws/instance-family"))
    assert.isTrue(wellKnown.has(Labels.Zone))
  })

  it("applies upstream's CEL domain rules to requirement keys", () => {
    assert.isUndefined(Labels.domainViolation("node.kubernetes.io/instance-type"))
    assert.isUndefined(Labels.domainViolation("beta.kubernetes.io/arch"))
    assert.isUndefined(Labels.domainViolation("karpenter.sh/capacity-type"))
    assert.isUndefined(Labels.domainViolation("example.com/anything"))
    assert.isUndefined(Labels.domainViolation("kops.k8s.io/x"))
    assert.strictEqual(Labels.domainViolation("kubernetes.io/hostname"), 'label domain "kubernetes.io" is restricted')
    assert.strictEqual(Labels.domainViolation("k8s.io/x"), 'label domain "k8s.io" is restricted')
    assert.strictEqual(Labels.domainViolation("karpenter.sh/other"), 'label domain "karpenter.sh" is restricted')
    assert.strictEqual(Labels.domainViolation("karpenter.sh/nodepool"), 'label "karpenter.sh/nodepool" is restricted')
    assert.isUndefined(Labels.domainViolation("karpenter.sh/nodepool", { allowNodePoolKey: true }))
  })

  it("treats a key without a domain as its own domain, as upstream's CEL does", () => {
    assert.isUndefined(Labels.domainViolation("team"))
    assert.strictEqual(Labels.domainViolation("kubernetes.io"), 'label domain "kubernetes.io" is restricted')
  })
})
