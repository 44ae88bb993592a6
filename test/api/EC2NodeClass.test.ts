import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Crd from "../../src/api/Crd.ts"
import * as Decode from "../../src/api/Decode.ts"
import * as EC2NodeClass from "../../src/api/EC2NodeClass.ts"
import * as OpenApi from "../../src/kube/OpenApi.ts"
import * as Resources from "../../src/kube/Resources.ts"

const decode = Decode.decoder("EC2NodeClass", EC2NodeClass.EC2NodeClass)
// The check the in-memory API server admits EC2NodeClasses with.
const validate = Resources.EC2NodeClasses.validate
const crdSchema = Crd.openApiSchema(Crd.EC2NodeClassDefinition)

const minimal = {
  apiVersion: "karpenter.k8s.aws/v1",
  kind: "EC2NodeClass",
  metadata: { name: "default" },
  spec: {
    role: "KarpenterNodeRole-demo",
    amiSelectorTerms: [{ alias: "al2023@latest" }],
    subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }],
    securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }]
  }
}

/** `minimal` with a change applied to a deep copy of its spec. */
const withSpec = (change: (spec: any) => void): any => {
  const copy = structuredClone(minimal) as any
  change(copy.spec)
  return copy
}

/** `minimal` with fields of its spec replaced (`undefined` removes one). */
const variant = (fields: Record<string, unknown>): any =>
  withSpec((spec) => {
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) delete spec[key]
      else spec[key] = value
    }
  })

/** Every problem of an object as `field: message`. */
const problemsOf = (input: unknown): ReadonlyArray<string> =>
  validate(input).map(({ field, message }) => `${field}: ${message}`)

const kubelet = (settings: object) => variant({ kubelet: settings })
const ebs = (device: object) => variant({ blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: device }] })

describe("EC2NodeClass decoding", () => {
  it.effect("defaults metadataOptions as upstream's CRD does, and the CRD's default is the schema's", () =>
    Effect.gen(function* () {
      const nodeClass = yield* decode(minimal)
      const expected = {
        httpEndpoint: "enabled",
        httpProtocolIPv6: "disabled",
        httpPutResponseHopLimit: 1,
        httpTokens: "required"
      }
      assert.deepStrictEqual(nodeClass.spec.metadataOptions, expected)
      assert.deepStrictEqual((OpenApi.applyDefaults(crdSchema, minimal) as any).spec.metadataOptions, expected)
      const partial = yield* decode(variant({ metadataOptions: { httpTokens: "optional" } }))
      assert.deepStrictEqual(partial.spec.metadataOptions, { ...expected, httpTokens: "optional" })
      assert.deepStrictEqual(OpenApi.validate(crdSchema, minimal), [])
    })
  )

  it.effect("keeps every field of a full spec", () =>
    Effect.gen(function* () {
      const full = withSpec((spec) => {
        delete spec.role
        spec.instanceProfile = "KarpenterNodeInstanceProfile"
        spec.amiFamily = "AL2023"
        spec.amiSelectorTerms = [{ name: "amazon-eks-node-al2023-*", owner: "amazon" }, { id: "ami-0123abcd" }]
        spec.subnetSelectorTerms = [{ id: "subnet-0a1b" }, { tags: { Name: "*private*" } }]
        spec.securityGroupSelectorTerms = [{ name: "eks-cluster-sg" }, { id: "sg-0a1b" }]
        spec.capacityReservationSelectorTerms = [{ tags: { team: "a" }, ownerID: "012345678901" }, { id: "cr-0a1b" }]
        spec.associatePublicIPAddress = false
        spec.userData = "#!/bin/bash\necho hi"
        spec.tags = { team: "a" }
        spec.kubelet = {
          maxPods: 110,
          podsPerCore: 2,
          clusterDNS: ["10.0.0.10"],
          systemReserved: { cpu: "100m", memory: "100Mi" },
          kubeReserved: { cpu: "200m", "ephemeral-storage": "1Gi" },
          evictionHard: { "memory.available": "5%" },
          evictionSoft: { "memory.available": "500Mi" },
          evictionSoftGracePeriod: { "memory.available": "1m" },
          evictionMaxPodGracePeriod: 60,
          imageGCHighThresholdPercent: 85,
          imageGCLowThresholdPercent: 80,
          cpuCFSQuota: true
        }
        spec.blockDeviceMappings = [
          {
            deviceName: "/dev/xvda",
            rootVolume: true,
            ebs: {
              volumeSize: "100Gi",
              volumeType: "gp3",
              iops: 3000,
              throughput: 125,
              encrypted: true,
              deleteOnTermination: true,
              kmsKeyID: "alias/k"
            }
          },
          { deviceName: "/dev/xvdb", ebs: { snapshotID: "snap-1" } }
        ]
        spec.instanceStorePolicy = "RAID0"
        spec.detailedMonitoring = true
        spec.context = "ctx"
      })
      const nodeClass = yield* decode(full)
      const { metadataOptions: _, ...spec } = nodeClass.spec
      assert.deepStrictEqual(spec, full.spec)
      assert.deepStrictEqual(OpenApi.validate(crdSchema, full), [])
      assert.strictEqual(EC2NodeClass.amiFamilyOf(nodeClass), "AL2023")
      assert.isUndefined(EC2NodeClass.aliasOf(nodeClass))
    })
  )

  it.effect("decodes a status as the provider's controllers write it", () =>
    Effect.gen(function* () {
      const status = {
        subnets: [{ id: "subnet-1", zone: "us-west-2a", zoneID: "usw2-az1" }],
        securityGroups: [{ id: "sg-1", name: "nodes" }],
        amis: [
          {
            id: "ami-1",
            name: "al2023",
            requirements: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }]
          }
        ],
        capacityReservations: [
          {
            availabilityZone: "us-west-2a",
            id: "cr-1",
            instanceMatchCriteria: "open",
            instanceType: "m5.large",
            ownerID: "012345678901"
          }
        ],
        instanceProfile: "demo_123",
        conditions: [
          { type: "Ready", status: "True", lastTransitionTime: "2025-01-01T00:00:00Z", reason: "Ready", message: "" }
        ]
      }
      const nodeClass = yield* decode({ ...minimal, status })
      assert.deepStrictEqual(nodeClass.status as unknown, status)
    })
  )

  it.effect("resolves the AMI family from the alias unless amiFamily is set (upstream AMIFamily())", () =>
    Effect.gen(function* () {
      const byAlias = yield* decode(variant({ amiSelectorTerms: [{ alias: "bottlerocket@v1.10.0" }] }))
      assert.deepStrictEqual(EC2NodeClass.aliasOf(byAlias), { family: "Bottlerocket", version: "v1.10.0" })
      assert.strictEqual(EC2NodeClass.amiFamilyOf(byAlias), "Bottlerocket")
      const custom = yield* decode(variant({ amiFamily: "Custom" }))
      assert.strictEqual(EC2NodeClass.amiFamilyOf(custom), "Custom")
    })
  )

  // upstream pkg/apis/v1/ec2nodeclass_validation_cel_test.go: what succeeds.
  const accepted: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
    ["an instance profile instead of a role", { instanceProfile: "profile", role: undefined }],
    ["an AMI id", { amiSelectorTerms: [{ id: "ami-12345749" }], amiFamily: "AL2023" }],
    ["an AMI name with an owner", { amiSelectorTerms: [{ name: "al2023", owner: "amazon" }], amiFamily: "AL2023" }],
    ["AMI tags with an owner", { amiSelectorTerms: [{ tags: { a: "b" }, owner: "self" }], amiFamily: "AL2" }],
    ["an AMI from an SSM parameter", { amiSelectorTerms: [{ ssmParameter: "/my/ami" }], amiFamily: "Custom" }],
    ["amiFamily Custom with an al2 alias", { amiSelectorTerms: [{ alias: "al2@latest" }], amiFamily: "Custom" }],
    ["a windows alias at latest", { amiSelectorTerms: [{ alias: "windows2022@latest" }] }],
    // Upstream's rule is `!self.all(...)`: a term with id and tags passes beside a valid one.
    [
      "an id with tags beside a tags-only subnet term",
      { subnetSelectorTerms: [{ id: "subnet-1", tags: { a: "b" } }, { tags: { a: "b" } }] }
    ],
    [
      "one root volume among two mappings",
      {
        blockDeviceMappings: [
          { rootVolume: true, ebs: { volumeSize: "500G" } },
          { rootVolume: false, ebs: { volumeSize: "50T" } }
        ]
      }
    ],
    ["an empty evictionSoft without grace periods", { kubelet: { evictionSoft: {} } }]
  ]
  for (const [what, fields] of accepted) {
    it(`accepts ${what}`, () => assert.deepStrictEqual(problemsOf(variant(fields)), []))
  }

  // Each invalid spec and the one problem it gets: upstream's CEL message (or the CRD's structural rule).
  const refused: ReadonlyArray<readonly [string, unknown, string]> = [
    ["no amiSelectorTerms", variant({ amiSelectorTerms: undefined }), "spec.amiSelectorTerms: Required value"],
    [
      "both role and instanceProfile",
      variant({ instanceProfile: "profile" }),
      "spec: must specify exactly one of ['role', 'instanceProfile']"
    ],
    [
      "neither role nor instanceProfile",
      variant({ role: undefined }),
      "spec: must specify exactly one of ['role', 'instanceProfile']"
    ],
    ["an empty role", variant({ role: "" }), "spec.role: role cannot be empty"],
    [
      "an empty instanceProfile",
      variant({ instanceProfile: "", role: undefined }),
      "spec.instanceProfile: instanceProfile cannot be empty"
    ],
    [
      "an alias with other fields",
      variant({ amiSelectorTerms: [{ alias: "al2023@latest", owner: "amazon" }] }),
      "spec.amiSelectorTerms: 'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms"
    ],
    [
      "an alias beside another term",
      variant({ amiSelectorTerms: [{ alias: "al2023@latest" }, { id: "ami-1" }] }),
      "spec.amiSelectorTerms: 'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms"
    ],
    [
      "an AMI id with a name",
      variant({ amiSelectorTerms: [{ id: "ami-1", name: "x" }], amiFamily: "AL2" }),
      "spec.amiSelectorTerms: 'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms"
    ],
    [
      "an empty AMI term",
      variant({ amiSelectorTerms: [{ owner: "amazon" }], amiFamily: "AL2" }),
      "spec.amiSelectorTerms: expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']"
    ],
    [
      "a malformed alias",
      variant({ amiSelectorTerms: [{ alias: "al2023" }] }),
      "spec.amiSelectorTerms[0].alias: 'alias' is improperly formatted, must match the format 'family@version'"
    ],
    [
      "an unknown alias family",
      variant({ amiSelectorTerms: [{ alias: "ubuntu@latest" }] }),
      "spec.amiSelectorTerms[0].alias: family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022'"
    ],
    [
      "a pinned windows alias",
      variant({ amiSelectorTerms: [{ alias: "windows2019@v1" }] }),
      "spec.amiSelectorTerms[0].alias: windows families may only specify version 'latest'"
    ],
    [
      "amiFamily AL2 with an al2023 alias",
      variant({ amiFamily: "AL2" }),
      "spec: if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias"
    ],
    [
      "amiFamily AL2023 with a bottlerocket alias",
      variant({ amiFamily: "AL2023", amiSelectorTerms: [{ alias: "bottlerocket@latest" }] }),
      "spec: if set, amiFamily must be 'Bottlerocket' or 'Custom' when using a Bottlerocket alias"
    ],
    [
      "no amiFamily and no alias",
      variant({ amiSelectorTerms: [{ id: "ami-1" }] }),
      "spec: must specify amiFamily if amiSelectorTerms does not contain an alias"
    ],
    [
      "an unknown amiFamily",
      variant({ amiFamily: "Ubuntu" }),
      'spec.amiFamily: Expected "AL2" | "AL2023" | "Bottlerocket" | "Custom" | "Windows2019" | "Windows2022"'
    ],
    [
      "an empty subnet term",
      variant({ subnetSelectorTerms: [{}] }),
      "spec.subnetSelectorTerms: expected at least one, got none, ['tags', 'id']"
    ],
    [
      "a subnet id with tags",
      variant({ subnetSelectorTerms: [{ id: "subnet-1", tags: { a: "b" } }] }),
      "spec.subnetSelectorTerms: 'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term"
    ],
    [
      "an empty subnet tag key in the last term",
      variant({ subnetSelectorTerms: [{ tags: { a: "b" } }, { tags: { "": "x" } }] }),
      "spec.subnetSelectorTerms[1].tags: empty tag keys or values aren't supported"
    ],
    [
      "a malformed subnet id",
      variant({ subnetSelectorTerms: [{ id: "sn-1" }] }),
      "spec.subnetSelectorTerms[0].id: Expected a string matching the RegExp subnet-[0-9a-z]+"
    ],
    [
      "a security group name with an id",
      variant({ securityGroupSelectorTerms: [{ name: "a", id: "sg-1" }] }),
      "spec.securityGroupSelectorTerms: 'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term; spec.securityGroupSelectorTerms: 'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term"
    ],
    [
      "a security group name with tags",
      variant({ securityGroupSelectorTerms: [{ name: "a", tags: { a: "b" } }] }),
      "spec.securityGroupSelectorTerms: 'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term"
    ],
    [
      "no security group terms",
      variant({ securityGroupSelectorTerms: [{}] }),
      "spec.securityGroupSelectorTerms: expected at least one, got none, ['tags', 'id', 'name']"
    ],
    [
      "a capacity reservation id with an owner",
      variant({ capacityReservationSelectorTerms: [{ id: "cr-1", ownerID: "012345678901" }] }),
      "spec.capacityReservationSelectorTerms: 'id' is mutually exclusive, cannot be set along with tags in a capacity reservation selector term"
    ],
    [
      "a capacity reservation owner alone",
      variant({ capacityReservationSelectorTerms: [{ ownerID: "012345678901" }] }),
      "spec.capacityReservationSelectorTerms: expected at least one, got none, ['tags', 'id']"
    ],
    [
      "a restricted tag",
      variant({ tags: { "kubernetes.io/cluster/demo": "owned" } }),
      "spec.tags: tag contains a restricted tag matching kubernetes.io/cluster/"
    ],
    [
      "the nodeclass tag",
      variant({ tags: { "karpenter.k8s.aws/ec2nodeclass": "x" } }),
      "spec.tags: tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass"
    ],
    ["an empty tag key", variant({ tags: { "": "x" } }), "spec.tags: empty tag keys aren't supported"],
    [
      "a kubeReserved key",
      kubelet({ kubeReserved: { gpu: "1" } }),
      "spec.kubelet.kubeReserved: valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']"
    ],
    [
      "a negative systemReserved",
      kubelet({ systemReserved: { cpu: "-1" } }),
      "spec.kubelet.systemReserved: systemReserved value cannot be a negative resource quantity"
    ],
    [
      "an evictionHard key",
      kubelet({ evictionHard: { "memory.free": "5%" } }),
      "spec.kubelet.evictionHard: valid keys for evictionHard are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']"
    ],
    [
      "evictionSoft without its grace period",
      kubelet({ evictionSoft: { "memory.available": "5%" } }),
      "spec.kubelet: evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"
    ],
    [
      "a grace period without its threshold",
      kubelet({
        evictionSoft: { "memory.available": "5%" },
        evictionSoftGracePeriod: { "memory.available": "1m", "nodefs.available": "1m" }
      }),
      "spec.kubelet: evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"
    ],
    [
      "image GC thresholds out of order",
      kubelet({ imageGCHighThresholdPercent: 50, imageGCLowThresholdPercent: 60 }),
      "spec.kubelet: imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"
    ],
    [
      "two root volumes",
      variant({
        blockDeviceMappings: [
          { rootVolume: true, ebs: { volumeSize: "20Gi" } },
          { rootVolume: true, ebs: { volumeSize: "20Gi" } }
        ]
      }),
      "spec.blockDeviceMappings: must have only one blockDeviceMappings with rootVolume"
    ],
    [
      "an EBS volume without size or snapshot",
      ebs({ volumeType: "gp3" }),
      "spec.blockDeviceMappings[0].ebs: snapshotID or volumeSize must be defined"
    ],
    [
      "a volume over 64T",
      ebs({ volumeSize: "65T" }),
      "spec.blockDeviceMappings[0].ebs.volumeSize: Expected a string matching the RegExp ^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$"
    ],
    [
      "a hop limit of 0",
      variant({ metadataOptions: { httpPutResponseHopLimit: 0 } }),
      "spec.metadataOptions.httpPutResponseHopLimit: Expected a value between 1 and 64"
    ]
  ]
  for (const [what, input, expected] of refused) {
    it(`refuses ${what}`, () => {
      assert.strictEqual(problemsOf(input).join("; "), expected)
    })
  }
})

describe("EC2NodeClass transition rules", () => {
  it("role may not change, and role and instanceProfile may not be swapped", () => {
    const problems = EC2NodeClass.transitionProblems
    assert.deepStrictEqual(problems({ role: "a" }, { role: "a" }), [])
    assert.deepStrictEqual(problems({ instanceProfile: "a" }, { instanceProfile: "b" }), [])
    assert.deepStrictEqual(problems({ role: "a" }, { role: "b" }), [
      { field: "spec.role", message: "immutable field changed" }
    ])
    const swap = [{ field: "spec", message: EC2NodeClass.IdentityKept.message }]
    assert.deepStrictEqual(problems({ instanceProfile: "a" }, { role: "a" }), swap)
    assert.deepStrictEqual(problems({ role: "a" }, { instanceProfile: "a" }), swap)
  })
})

describe("EC2NodeClass CRD", () => {
  it("has upstream's names and printer columns", () => {
    const manifest = Crd.manifest(Crd.EC2NodeClassDefinition) as any
    assert.strictEqual(manifest.metadata.name, "ec2nodeclasses.karpenter.k8s.aws")
    assert.deepStrictEqual(manifest.spec.names.shortNames, ["ec2nc", "ec2ncs"])
    const columns = Crd.EC2NodeClassDefinition.printerColumns.map((c) => [c.name, c.jsonPath, c.priority ?? 0])
    assert.deepStrictEqual(columns, [
      ["Ready", '.status.conditions[?(@.type=="Ready")].status', 0],
      ["Age", ".metadata.creationTimestamp", 0],
      ["Role", ".spec.role", 1]
    ])
  })

  it("carries upstream's CEL rules, transition rules included", () => {
    const spec = (crdSchema.properties as any).spec
    assert.deepStrictEqual(
      spec["x-kubernetes-validations"].map((rule: { message: string }) => rule.message).slice(0, 3),
      [
        "must specify exactly one of ['role', 'instanceProfile']",
        EC2NodeClass.IdentityKept.message,
        "if set, amiFamily must be 'AL2' or 'Custom' when using an AL2 alias"
      ]
    )
    assert.deepStrictEqual(spec.properties.role["x-kubernetes-validations"], [
      { rule: "self != ''", message: "role cannot be empty" },
      { rule: "self == oldSelf", message: "immutable field changed" }
    ])
    assert.deepStrictEqual(spec.required, ["subnetSelectorTerms", "securityGroupSelectorTerms", "amiSelectorTerms"])
    assert.strictEqual(spec.properties.amiSelectorTerms.minItems, 1)
    assert.strictEqual(spec.properties.subnetSelectorTerms.maxItems, 30)
  })
})
