/**
 * `karpenter.k8s.aws/v1` EC2NodeClass: the NodeClass of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/apis/v1/ec2nodeclass.go` and `ec2nodeclass_status.go`). Decoding applies the CRD's defaults and every CEL rule
 * of upstream's generated CRD, with upstream's messages; the two transition rules (`oldSelf`) only land in the CRD and
 * the in-memory API server enforces them on updates with {@link transitionProblems}.
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import { Condition, NodeSelectorRequirement, ObjectMeta } from "./Meta.ts"
import * as Quantity from "./Quantity.ts"

const optional = Schema.optionalKey
const has = (value: unknown): boolean => value !== undefined

/** The kind's group, version and name. */
export const group = "karpenter.k8s.aws"
export const apiVersion = "karpenter.k8s.aws/v1"
export const kind = "EC2NodeClass"

/** The label naming a node's EC2NodeClass (upstream `LabelNodeClass`). */
export const NodeClassLabel = "karpenter.k8s.aws/ec2nodeclass"

/** The status condition types whose conjunction is Ready (upstream `StatusConditions`, capacity reservations off). */
export const ConditionTypes = {
  SubnetsReady: "SubnetsReady",
  SecurityGroupsReady: "SecurityGroupsReady",
  AMIsReady: "AMIsReady",
  InstanceProfileReady: "InstanceProfileReady",
  CapacityReservationsReady: "CapacityReservationsReady",
  ValidationSucceeded: "ValidationSucceeded"
} as const

/** The AMI families `spec.amiFamily` accepts. */
export const AMIFamilies = ["AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022"] as const
export type AMIFamily = (typeof AMIFamilies)[number]

// Each alias family (`al2023@latest`) and the amiFamily it stands for.
const aliasFamilies: ReadonlyArray<{ readonly alias: string; readonly family: AMIFamily; readonly article: string }> = [
  { alias: "al2", family: "AL2", article: "an" },
  { alias: "al2023", family: "AL2023", article: "an" },
  { alias: "bottlerocket", family: "Bottlerocket", article: "a" },
  { alias: "windows2019", family: "Windows2019", article: "a" },
  { alias: "windows2022", family: "Windows2022", article: "a" }
]
const windowsAliases = ["windows2019", "windows2022"]

// -- Selector terms ------------------------------------------------------------------------------------------------

const SelectorTags = Schema.Record(Schema.String, Schema.String).check(
  Schema.isMaxProperties(20),
  Cel.rule<Readonly<Record<string, string>>>({
    rule: "self.all(k, k != '' && self[k] != '')",
    message: "empty tag keys or values aren't supported",
    holds: (tags) => Object.entries(tags).every(([key, value]) => key !== "" && value !== "")
  })
)

/** A subnet selector term: its fields are ANDed. */
export const SubnetSelectorTerm = Schema.Struct({
  tags: optional(SelectorTags),
  id: optional(Schema.String.check(Cel.pattern(/subnet-[0-9a-z]+/)))
})
export type SubnetSelectorTerm = typeof SubnetSelectorTerm.Type

/** A security group selector term: its fields are ANDed. */
export const SecurityGroupSelectorTerm = Schema.Struct({
  tags: optional(SelectorTags),
  id: optional(Schema.String.check(Cel.pattern(/sg-[0-9a-z]+/))),
  name: optional(Schema.String)
})
export type SecurityGroupSelectorTerm = typeof SecurityGroupSelectorTerm.Type

const CapacityReservationIdPattern = /^cr-[0-9a-z]+$/
const OwnerIdPattern = /^[0-9]{12}$/

/** A capacity reservation selector term: its fields are ANDed. */
export const CapacityReservationSelectorTerm = Schema.Struct({
  tags: optional(SelectorTags),
  id: optional(Schema.String.check(Cel.pattern(CapacityReservationIdPattern))),
  ownerID: optional(Schema.String.check(Cel.pattern(OwnerIdPattern)))
})
export type CapacityReservationSelectorTerm = typeof CapacityReservationSelectorTerm.Type

const familyOf = (alias: string): string => alias.split("@")[0] ?? ""

/** An AMI selector term: an EKS-optimized `alias` alone, or fields that are ANDed. */
export const AMISelectorTerm = Schema.Struct({
  alias: optional(
    Schema.String.check(
      Schema.isMaxLength(30),
      Cel.rule<string>({
        rule: "self.matches('^[a-zA-Z0-9]+@.+$')",
        message: "'alias' is improperly formatted, must match the format 'family@version'",
        holds: (alias) => /^[a-zA-Z0-9]+@.+$/.test(alias)
      }),
      Cel.rule<string>({
        rule: "self.split('@')[0] in ['al2','al2023','bottlerocket','windows2019','windows2022']",
        message:
          "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022'",
        holds: (alias) => aliasFamilies.some((entry) => entry.alias === familyOf(alias))
      }),
      Cel.rule<string>({
        rule: "self.split('@')[0] in ['windows2019','windows2022'] ? self.split('@')[1] == 'latest' : true",
        message: "windows families may only specify version 'latest'",
        holds: (alias) => !windowsAliases.includes(familyOf(alias)) || alias.split("@")[1] === "latest"
      })
    )
  ),
  tags: optional(SelectorTags),
  id: optional(Schema.String.check(Cel.pattern(/ami-[0-9a-z]+/))),
  name: optional(Schema.String),
  owner: optional(Schema.String),
  ssmParameter: optional(Schema.String)
})
export type AMISelectorTerm = typeof AMISelectorTerm.Type

type Terms<T> = ReadonlyArray<T>

// Upstream's subnet, security group and capacity reservation exclusivity rules use `all` where `exists` was meant
// (a list mixing an offending term with a valid one passes, an empty list fails); every release up to v1.14 keeps
// them, so they are reproduced as written.
const SubnetSelectorTerms = Schema.Array(SubnetSelectorTerm).check(
  Schema.isMaxLength(30),
  Cel.rule<Terms<SubnetSelectorTerm>>({
    rule: "self.size() != 0",
    message: "subnetSelectorTerms cannot be empty",
    holds: (terms) => terms.length !== 0
  }),
  Cel.rule<Terms<SubnetSelectorTerm>>({
    rule: "self.all(x, has(x.tags) || has(x.id))",
    message: "expected at least one, got none, ['tags', 'id']",
    holds: (terms) => terms.every((x) => has(x.tags) || has(x.id))
  }),
  Cel.rule<Terms<SubnetSelectorTerm>>({
    rule: "!self.all(x, has(x.id) && has(x.tags))",
    message: "'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term",
    holds: (terms) => !terms.every((x) => has(x.id) && has(x.tags))
  })
)

const SecurityGroupSelectorTerms = Schema.Array(SecurityGroupSelectorTerm).check(
  Schema.isMaxLength(30),
  Cel.rule<Terms<SecurityGroupSelectorTerm>>({
    rule: "self.size() != 0",
    message: "securityGroupSelectorTerms cannot be empty",
    holds: (terms) => terms.length !== 0
  }),
  Cel.rule<Terms<SecurityGroupSelectorTerm>>({
    rule: "self.all(x, has(x.tags) || has(x.id) || has(x.name))",
    message: "expected at least one, got none, ['tags', 'id', 'name']",
    holds: (terms) => terms.every((x) => has(x.tags) || has(x.id) || has(x.name))
  }),
  Cel.rule<Terms<SecurityGroupSelectorTerm>>({
    rule: "!self.all(x, has(x.id) && (has(x.tags) || has(x.name)))",
    message:
      "'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
    holds: (terms) => !terms.every((x) => has(x.id) && (has(x.tags) || has(x.name)))
  }),
  Cel.rule<Terms<SecurityGroupSelectorTerm>>({
    rule: "!self.all(x, has(x.name) && (has(x.tags) || has(x.id)))",
    message:
      "'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term",
    holds: (terms) => !terms.every((x) => has(x.name) && (has(x.tags) || has(x.id)))
  })
)

const CapacityReservationSelectorTerms = Schema.Array(CapacityReservationSelectorTerm).check(
  Schema.isMaxLength(30),
  Cel.rule<Terms<CapacityReservationSelectorTerm>>({
    rule: "self.all(x, has(x.tags) || has(x.id))",
    message: "expected at least one, got none, ['tags', 'id']",
    holds: (terms) => terms.every((x) => has(x.tags) || has(x.id))
  }),
  Cel.rule<Terms<CapacityReservationSelectorTerm>>({
    rule: "!self.all(x, has(x.id) && (has(x.tags) || has(x.ownerID)))",
    message: "'id' is mutually exclusive, cannot be set along with tags in a capacity reservation selector term",
    holds: (terms) => !terms.every((x) => has(x.id) && (has(x.tags) || has(x.ownerID)))
  })
)

const AMISelectorTerms = Schema.Array(AMISelectorTerm).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(30),
  Cel.rule<Terms<AMISelectorTerm>>({
    rule: "self.all(x, has(x.tags) || has(x.id) || has(x.name) || has(x.alias) || has(x.ssmParameter))",
    message: "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
    holds: (terms) => terms.every((x) => has(x.tags) || has(x.id) || has(x.name) || has(x.alias) || has(x.ssmParameter))
  }),
  Cel.rule<Terms<AMISelectorTerm>>({
    rule: "!self.exists(x, has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))",
    message: "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    holds: (terms) => !terms.some((x) => has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))
  }),
  Cel.rule<Terms<AMISelectorTerm>>({
    rule: "!self.exists(x, has(x.alias) && (has(x.id) || has(x.tags) || has(x.name) || has(x.owner)))",
    message: "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
    holds: (terms) => !terms.some((x) => has(x.alias) && (has(x.id) || has(x.tags) || has(x.name) || has(x.owner)))
  }),
  Cel.rule<Terms<AMISelectorTerm>>({
    rule: "!(self.exists(x, has(x.alias)) && self.size() != 1)",
    message: "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
    holds: (terms) => !(terms.some((x) => has(x.alias)) && terms.length !== 1)
  })
)

// -- Kubelet -------------------------------------------------------------------------------------------------------

type StringMap = Readonly<Record<string, string>>

const reservedKeys = ["cpu", "memory", "ephemeral-storage", "pid"]
const evictionSignals = [
  "memory.available",
  "nodefs.available",
  "nodefs.inodesFree",
  "imagefs.available",
  "imagefs.inodesFree",
  "pid.available"
]
const celList = (values: ReadonlyArray<string>) => `[${values.map((value) => `'${value}'`).join(",")}]`

/** A percentage or a quantity (the CRD's eviction threshold pattern, empty alternative included). */
const EvictionThresholdPattern =
  /^((\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)%||(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?)$/

const reserved = (field: string) =>
  Schema.Record(Schema.String, Schema.String.check(Cel.pattern(Quantity.QuantityPattern))).check(
    Cel.rule<StringMap>({
      rule: `self.all(x, ${reservedKeys.map((key) => `x=='${key}'`).join(" || ")})`,
      message: `valid keys for ${field} are ${celList(reservedKeys)}`,
      holds: (map) => Object.keys(map).every((key) => reservedKeys.includes(key))
    }),
    Cel.rule<StringMap>({
      rule: "self.all(x, !self[x].startsWith('-'))",
      message: `${field} value cannot be a negative resource quantity`,
      holds: (map) => Object.values(map).every((value) => !value.startsWith("-"))
    })
  )

const signalKeys = (field: string) =>
  Cel.rule<StringMap>({
    rule: `self.all(x, x in ${celList(evictionSignals)})`,
    message: `valid keys for ${field} are ${celList(evictionSignals)}`,
    holds: (map) => Object.keys(map).every((key) => evictionSignals.includes(key))
  })

const evictionThresholds = (field: string) =>
  Schema.Record(Schema.String, Schema.String.check(Cel.pattern(EvictionThresholdPattern))).check(signalKeys(field))

const Percent = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))
const NonNegative = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const KubeletFields = Schema.Struct({
  clusterDNS: optional(Schema.Array(Schema.String)),
  maxPods: optional(NonNegative),
  podsPerCore: optional(NonNegative),
  systemReserved: optional(reserved("systemReserved")),
  kubeReserved: optional(reserved("kubeReserved")),
  evictionHard: optional(evictionThresholds("evictionHard")),
  evictionSoft: optional(evictionThresholds("evictionSoft")),
  evictionSoftGracePeriod: optional(
    Schema.Record(Schema.String, Schema.String).check(signalKeys("evictionSoftGracePeriod"))
  ),
  evictionMaxPodGracePeriod: optional(Schema.Int),
  imageGCHighThresholdPercent: optional(Percent),
  imageGCLowThresholdPercent: optional(Percent),
  cpuCFSQuota: optional(Schema.Boolean)
})
type KubeletFields = typeof KubeletFields.Type

// In CEL, `e in m` on an absent map is an evaluation error, which fails the rule: so does a missing map here.
const everyKeyIn = (keys: StringMap | undefined, map: StringMap | undefined): boolean =>
  keys === undefined || Object.keys(keys).every((key) => map !== undefined && key in map)

/** The kubelet settings Karpenter passes to provisioned nodes (a subset of upstream's KubeletConfiguration). */
export const KubeletConfiguration = KubeletFields.check(
  Cel.rule<KubeletFields>({
    rule: "has(self.imageGCHighThresholdPercent) && has(self.imageGCLowThresholdPercent) ?  self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent  : true",
    message: "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
    holds: ({ imageGCHighThresholdPercent: high, imageGCLowThresholdPercent: low }) =>
      high === undefined || low === undefined || high > low
  }),
  Cel.rule<KubeletFields>({
    rule: "has(self.evictionSoft) ? self.evictionSoft.all(e, (e in self.evictionSoftGracePeriod)):true",
    message: "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
    holds: (kubelet) => everyKeyIn(kubelet.evictionSoft, kubelet.evictionSoftGracePeriod)
  }),
  Cel.rule<KubeletFields>({
    rule: "has(self.evictionSoftGracePeriod) ? self.evictionSoftGracePeriod.all(e, (e in self.evictionSoft)):true",
    message: "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft",
    holds: (kubelet) => everyKeyIn(kubelet.evictionSoftGracePeriod, kubelet.evictionSoft)
  })
)
export type KubeletConfiguration = typeof KubeletConfiguration.Type

// -- Block devices, metadata options ---------------------------------------------------------------------------------

/** An EBS volume size: 1–59000Gi, 1–64000G, ≤ 58Ti or ≤ 64T (the CRD's pattern, empty alternatives included). */
const VolumeSizePattern =
  /^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$/

/** EBS volume types. */
export const VolumeTypes = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"] as const

const BlockDeviceFields = Schema.Struct({
  deleteOnTermination: optional(Schema.Boolean),
  encrypted: optional(Schema.Boolean),
  iops: optional(Schema.Int),
  kmsKeyID: optional(Schema.String),
  snapshotID: optional(Schema.String),
  throughput: optional(Schema.Int),
  volumeSize: optional(Schema.String.check(Cel.pattern(VolumeSizePattern))),
  volumeType: optional(Schema.Literals(VolumeTypes))
})

/** The EBS parameters of a block device. */
export const BlockDevice = BlockDeviceFields.check(
  Cel.rule<typeof BlockDeviceFields.Type>({
    rule: "has(self.snapshotID) || has(self.volumeSize)",
    message: "snapshotID or volumeSize must be defined",
    holds: (device) => has(device.snapshotID) || has(device.volumeSize)
  })
)
export type BlockDevice = typeof BlockDevice.Type

/** A block device mapping; `rootVolume` marks the device mounted as kubelet's root directory. */
export const BlockDeviceMapping = Schema.Struct({
  deviceName: optional(Schema.String),
  ebs: optional(BlockDevice),
  rootVolume: optional(Schema.Boolean)
})
export type BlockDeviceMapping = typeof BlockDeviceMapping.Type

const defaultMetadataOptions = {
  httpEndpoint: "enabled",
  httpProtocolIPv6: "disabled",
  httpPutResponseHopLimit: 1,
  httpTokens: "required"
} as const

const EnabledOrDisabled = Schema.Literals(["enabled", "disabled"])

/** The Instance Metadata Service options of the launch template. */
export const MetadataOptions = Schema.Struct({
  httpEndpoint: EnabledOrDisabled.pipe(Cel.withDefault(defaultMetadataOptions.httpEndpoint)),
  httpProtocolIPv6: EnabledOrDisabled.pipe(Cel.withDefault(defaultMetadataOptions.httpProtocolIPv6)),
  httpPutResponseHopLimit: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 })).pipe(
    Cel.withDefault(defaultMetadataOptions.httpPutResponseHopLimit)
  ),
  httpTokens: Schema.Literals(["required", "optional"]).pipe(Cel.withDefault(defaultMetadataOptions.httpTokens))
})
export type MetadataOptions = typeof MetadataOptions.Type

// -- Spec ----------------------------------------------------------------------------------------------------------

// Tag keys Karpenter sets itself, in upstream's order: each is its own rule.
const restrictedTagRules: ReadonlyArray<{
  readonly rule: string
  readonly message: string
  readonly allows: (key: string) => boolean
}> = [
  {
    rule: "self.all(k, k !='eks:eks-cluster-name')",
    message: "tag contains a restricted tag matching eks:eks-cluster-name",
    allows: (key) => key !== "eks:eks-cluster-name"
  },
  {
    rule: "self.all(k, !k.startsWith('kubernetes.io/cluster') )",
    message: "tag contains a restricted tag matching kubernetes.io/cluster/",
    allows: (key) => !key.startsWith("kubernetes.io/cluster")
  },
  {
    rule: "self.all(k, k != 'karpenter.sh/nodepool')",
    message: "tag contains a restricted tag matching karpenter.sh/nodepool",
    allows: (key) => key !== "karpenter.sh/nodepool"
  },
  {
    rule: "self.all(k, k !='karpenter.sh/nodeclaim')",
    message: "tag contains a restricted tag matching karpenter.sh/nodeclaim",
    allows: (key) => key !== "karpenter.sh/nodeclaim"
  },
  {
    rule: "self.all(k, k !='karpenter.k8s.aws/ec2nodeclass')",
    message: "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass",
    allows: (key) => key !== NodeClassLabel
  }
]

const Tags = Schema.Record(Schema.String, Schema.String).check(
  Cel.rule<StringMap>({
    rule: "self.all(k, k != '')",
    message: "empty tag keys aren't supported",
    holds: (tags) => Object.keys(tags).every((key) => key !== "")
  }),
  ...restrictedTagRules.map(({ rule, message, allows }) =>
    Cel.rule<StringMap>({ rule, message, holds: (tags) => Object.keys(tags).every(allows) })
  )
)

const nonEmpty = (field: string) =>
  Cel.rule<string>({ rule: "self != ''", message: `${field} cannot be empty`, holds: (value) => value !== "" })

/** `spec.role` may not change (a CEL transition rule). */
export const RoleImmutable: Cel.CelValidation = { rule: "self == oldSelf", message: "immutable field changed" }

/** A node class may not switch between `role` and `instanceProfile` (a CEL transition rule on the spec). */
export const IdentityKept: Cel.CelValidation = {
  rule: "(has(oldSelf.role) && has(self.role)) || (has(oldSelf.instanceProfile) && has(self.instanceProfile))",
  message:
    "changing from 'instanceProfile' to 'role' is not supported. You must delete and recreate this node class if you want to change this."
}

const SpecFields = Schema.Struct({
  subnetSelectorTerms: SubnetSelectorTerms,
  securityGroupSelectorTerms: SecurityGroupSelectorTerms,
  capacityReservationSelectorTerms: optional(CapacityReservationSelectorTerms),
  associatePublicIPAddress: optional(Schema.Boolean),
  amiSelectorTerms: AMISelectorTerms,
  amiFamily: optional(Schema.Literals(AMIFamilies)),
  userData: optional(Schema.String),
  role: optional(Schema.String.check(nonEmpty("role"), Cel.transitionRule(RoleImmutable))),
  instanceProfile: optional(Schema.String.check(nonEmpty("instanceProfile"))),
  tags: optional(Tags),
  kubelet: optional(KubeletConfiguration),
  blockDeviceMappings: optional(
    Schema.Array(BlockDeviceMapping).check(
      Schema.isMaxLength(50),
      Cel.rule<ReadonlyArray<BlockDeviceMapping>>({
        rule: "self.filter(x, has(x.rootVolume)?x.rootVolume==true:false).size() <= 1",
        message: "must have only one blockDeviceMappings with rootVolume",
        holds: (mappings) => mappings.filter((mapping) => mapping.rootVolume === true).length <= 1
      })
    )
  ),
  instanceStorePolicy: optional(Schema.Literal("RAID0")),
  detailedMonitoring: optional(Schema.Boolean),
  metadataOptions: MetadataOptions.pipe(Cel.withDefault(defaultMetadataOptions)),
  context: optional(Schema.String)
})
type SpecFields = typeof SpecFields.Type

// CEL's `x.alias.find('^[^@]+')`: the family part of an alias, "" when there is none.
const aliasPrefix = (alias: string): string => /^[^@]+/.exec(alias)?.[0] ?? ""

const aliasFamilyRules = aliasFamilies.map(({ alias, family, article }) =>
  Cel.rule<SpecFields>({
    rule: `!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == '${alias}') ? (self.amiFamily == 'Custom' || self.amiFamily == '${family}') : true)`,
    message: `if set, amiFamily must be '${family}' or 'Custom' when using ${article} ${family} alias`,
    holds: (spec) =>
      spec.amiFamily === undefined ||
      !spec.amiSelectorTerms.some((term) => term.alias !== undefined && aliasPrefix(term.alias) === alias) ||
      spec.amiFamily === "Custom" ||
      spec.amiFamily === family
  })
)

/** What the user asks for. */
export const Spec = SpecFields.check(
  Cel.rule<SpecFields>({
    rule: "(has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))",
    message: "must specify exactly one of ['role', 'instanceProfile']",
    holds: (spec) => has(spec.role) !== has(spec.instanceProfile)
  }),
  Cel.transitionRule(IdentityKept),
  ...aliasFamilyRules,
  Cel.rule<SpecFields>({
    rule: "self.amiSelectorTerms.exists(x, has(x.alias)) ? true : has(self.amiFamily)",
    message: "must specify amiFamily if amiSelectorTerms does not contain an alias",
    holds: (spec) => spec.amiSelectorTerms.some((term) => has(term.alias)) || has(spec.amiFamily)
  })
)
export type Spec = typeof Spec.Type

// -- Status --------------------------------------------------------------------------------------------------------

/** A resolved subnet. */
export const Subnet = Schema.Struct({ id: Schema.String, zone: Schema.String, zoneID: optional(Schema.String) })
export type Subnet = typeof Subnet.Type

/** A resolved security group. */
export const SecurityGroup = Schema.Struct({ id: Schema.String, name: optional(Schema.String) })
export type SecurityGroup = typeof SecurityGroup.Type

/** A resolved AMI with the requirements (architecture, GPU, ...) an instance type must meet to use it. */
export const AMI = Schema.Struct({
  id: Schema.String,
  deprecated: optional(Schema.Boolean),
  name: optional(Schema.String),
  requirements: Schema.Array(NodeSelectorRequirement)
})
export type AMI = typeof AMI.Type

/** A resolved capacity reservation. */
export const CapacityReservation = Schema.Struct({
  availabilityZone: Schema.String,
  endTime: optional(Schema.String),
  id: Schema.String.check(Cel.pattern(CapacityReservationIdPattern)),
  instanceMatchCriteria: Schema.Literals(["open", "targeted"]),
  instanceType: Schema.String,
  ownerID: Schema.String.check(Cel.pattern(OwnerIdPattern))
})
export type CapacityReservation = typeof CapacityReservation.Type

/** What the node class controllers resolved. */
export const Status = Schema.Struct({
  subnets: optional(Schema.Array(Subnet)),
  securityGroups: optional(Schema.Array(SecurityGroup)),
  capacityReservations: optional(Schema.Array(CapacityReservation)),
  amis: optional(Schema.Array(AMI)),
  instanceProfile: optional(Schema.String),
  conditions: optional(Schema.Array(Condition))
})
export type Status = typeof Status.Type

/**
 * An EC2NodeClass object. Unlike upstream's CRD, `spec` is required: an EC2NodeClass without one could never select a
 * subnet or an AMI, and every field a controller reads hangs off it.
 */
export const EC2NodeClass = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type EC2NodeClass = typeof EC2NodeClass.Type

/** The alias term's family and version (`al2023@latest`), if the node class selects its AMI by alias. */
export const aliasOf = (
  nodeClass: EC2NodeClass
): { readonly family: AMIFamily; readonly version: string } | undefined => {
  const term = nodeClass.spec.amiSelectorTerms.find((candidate) => has(candidate.alias) && candidate.alias !== "")
  if (term?.alias === undefined) return undefined
  const [prefix = "", version = ""] = term.alias.split("@")
  const family = aliasFamilies.find((entry) => entry.alias === prefix)?.family
  return family === undefined ? undefined : { family, version }
}

/**
 * The AMI family (upstream `AMIFamily()`): `spec.amiFamily`, else the alias's family; validation makes one of them
 * present, so `Custom` is only a fallback for objects that bypassed it.
 */
export const amiFamilyOf = (nodeClass: EC2NodeClass): AMIFamily =>
  nodeClass.spec.amiFamily ?? aliasOf(nodeClass)?.family ?? "Custom"

/**
 * The problems of an update that only the transition rules see: a changed `role`, or a switch between `role` and
 * `instanceProfile`, each at the field upstream's rule sits on.
 */
export const transitionProblems = (
  previous: { readonly role?: unknown; readonly instanceProfile?: unknown },
  next: { readonly role?: unknown; readonly instanceProfile?: unknown }
): ReadonlyArray<{ readonly field: string; readonly message: string }> => [
  ...(has(previous.role) && has(next.role) && previous.role !== next.role
    ? [{ field: "spec.role", message: RoleImmutable.message }]
    : []),
  ...((has(previous.role) && has(next.role)) || (has(previous.instanceProfile) && has(next.instanceProfile))
    ? []
    : [{ field: "spec", message: IdentityKept.message }])
]
