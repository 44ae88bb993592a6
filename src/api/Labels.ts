/**
 * Karpenter's well-known labels, annotations, finalizers and the label-domain rules that guard them.
 *
 * Mirrors `pkg/apis/v1/labels.go` of Karpenter v1.4.0.
 */

/** The API group of Karpenter's own kinds. */
export const Group = "karpenter.sh"
/** The group Karpenter uses for compatibility annotations. */
export const CompatibilityGroup = "compatibility.karpenter.sh"

// -- Kubernetes well-known labels --------------------------------------------------------------------------------

/** `topology.kubernetes.io/zone` */
export const Zone = "topology.kubernetes.io/zone"
/** `topology.kubernetes.io/region` */
export const Region = "topology.kubernetes.io/region"
/** `node.kubernetes.io/instance-type` */
export const InstanceType = "node.kubernetes.io/instance-type"
/** `kubernetes.io/arch` */
export const Arch = "kubernetes.io/arch"
/** `kubernetes.io/os` */
export const OS = "kubernetes.io/os"
/** `kubernetes.io/hostname` — never settable through a NodePool. */
export const Hostname = "kubernetes.io/hostname"
/** `node.kubernetes.io/windows-build` */
export const WindowsBuild = "node.kubernetes.io/windows-build"
/** Added to a Node while it terminates so load balancers stop sending it traffic. */
export const ExcludeFromExternalLoadBalancers = "node.kubernetes.io/exclude-from-external-load-balancers"

// -- Karpenter labels -------------------------------------------------------------------------------------------

/** `karpenter.sh/nodepool`: the NodePool that owns a NodeClaim and its Node. */
export const NodePool = "karpenter.sh/nodepool"
/** `karpenter.sh/capacity-type`: spot, on-demand or reserved. */
export const CapacityType = "karpenter.sh/capacity-type"
/** `karpenter.sh/registered=true` on a Node once its NodeClaim registered it. */
export const NodeRegistered = "karpenter.sh/registered"
/** `karpenter.sh/initialized=true` on a Node once its NodeClaim is initialized. */
export const NodeInitialized = "karpenter.sh/initialized"

/** Values of `karpenter.sh/capacity-type`. */
export const CapacityTypeSpot = "spot"
export const CapacityTypeOnDemand = "on-demand"
export const CapacityTypeReserved = "reserved"

/** Architecture values Karpenter knows. */
export const ArchAmd64 = "amd64"
export const ArchArm64 = "arm64"

// -- Annotations ------------------------------------------------------------------------------------------------

/** `karpenter.sh/do-not-disrupt: "true"` on a pod or node blocks voluntary disruption. */
export const DoNotDisruptAnnotation = "karpenter.sh/do-not-disrupt"
/** Hash of a NodePool's template, used for static drift. */
export const NodePoolHashAnnotation = "karpenter.sh/nodepool-hash"
/** Version of the hash algorithm; drift compares hashes only when versions match. */
export const NodePoolHashVersionAnnotation = "karpenter.sh/nodepool-hash-version"
/** Current hash version (upstream v1.4.0). */
export const NodePoolHashVersion = "v3"
/** RFC 3339 time by which a terminating NodeClaim's node must be gone (terminationGracePeriod). */
export const NodeClaimTerminationTimestampAnnotation = "karpenter.sh/nodeclaim-termination-timestamp"
/** `"true"` when the scheduler lowered a requirement's minValues for the NodeClaim (MinValuesPolicy BestEffort, v1.6). */
export const NodeClaimMinValuesRelaxedAnnotation = "karpenter.sh/nodeclaim-min-values-relaxed"
/** Names the cloud provider that launched a NodeClaim. */
export const ProviderCompatibilityAnnotation = "compatibility.karpenter.sh/provider"

// -- Finalizers -------------------------------------------------------------------------------------------------

/** `karpenter.sh/termination` on NodeClaims (before launch) and Nodes (at registration). */
export const TerminationFinalizer = "karpenter.sh/termination"

// -- Label-domain rules -----------------------------------------------------------------------------------------

/**
 * Labels that may be undefined on an instance type and still match a requirement.
 * Cloud providers extend this set (see {@link withProviderLabels}).
 */
export const WellKnownLabels: ReadonlySet<string> = new Set([
  NodePool,
  Zone,
  Region,
  InstanceType,
  Arch,
  OS,
  CapacityType,
  WindowsBuild
])

/** Label domains only Kubernetes and Karpenter may set. */
export const RestrictedLabelDomains: ReadonlyArray<string> = ["kubernetes.io", "k8s.io", "karpenter.sh"]
/** Sub-domains of the restricted domains that users may set. */
export const LabelDomainExceptions: ReadonlyArray<string> = [
  "kops.k8s.io",
  "node.kubernetes.io",
  "node-restriction.kubernetes.io"
]
/** Labels nobody may set through a NodePool. */
export const RestrictedLabels: ReadonlySet<string> = new Set([Hostname])

/** Deprecated label keys and the key Karpenter reads them as. */
export const NormalizedLabels: Readonly<Record<string, string>> = {
  "failure-domain.beta.kubernetes.io/zone": Zone,
  "failure-domain.beta.kubernetes.io/region": Region,
  "beta.kubernetes.io/arch": Arch,
  "beta.kubernetes.io/os": OS,
  "beta.kubernetes.io/instance-type": InstanceType
}

/** The key Karpenter evaluates for a possibly deprecated label key. */
export const normalize = (key: string): string => NormalizedLabels[key] ?? key

/** The domain of a label key: the part before `/`, or "" when there is none. */
export const domainOf = (key: string): string => {
  const slash = key.indexOf("/")
  return slash < 0 ? "" : key.slice(0, slash)
}

/**
 * Keys under `kubernetes.io` that NodePool labels and requirements may name (upstream's CEL allow-list).
 */
export const AllowedKubernetesIOKeys: ReadonlyArray<string> = [
  "beta.kubernetes.io/instance-type",
  "failure-domain.beta.kubernetes.io/region",
  "beta.kubernetes.io/os",
  "beta.kubernetes.io/arch",
  "failure-domain.beta.kubernetes.io/zone",
  Zone,
  Region,
  InstanceType,
  Arch,
  OS,
  WindowsBuild
]

/** Karpenter keys that NodePool requirements may name. */
export const AllowedKarpenterKeys: ReadonlyArray<string> = [CapacityType, NodePool]

/** One of upstream's label-domain rules: its message, its CEL condition over a key expression, and its predicate. */
export interface DomainRule {
  readonly message: string
  /** The CEL condition with `key` as the expression of the label key (`self`, or `x` inside `self.all(x, …)`). */
  readonly cel: (key: string) => string
  readonly allows: (key: string) => boolean
}

// Upstream's CEL takes the domain as the text before the first "/", or the whole key when there is none.
const celDomain = (key: string) => `${key}.find("^([^/]+)")`
const firstSegment = (key: string): string => (key.includes("/") ? domainOf(key) : key)
const celList = (keys: ReadonlyArray<string>) => `[${keys.map((key) => JSON.stringify(key)).join(", ")}]`

/**
 * The label-domain rules for NodePool template labels and requirement keys (upstream's CEL, in its order).
 * `forRequirements` allows `node.kubernetes.io/instance-type` explicitly, as upstream's requirements rule does (labels
 * reach it through the `node.kubernetes.io` suffix); `allowNodePoolKey` drops the `karpenter.sh/nodepool` rule
 * (NodeClaim requirements carry it).
 */
export const domainRules = (options: {
  readonly forRequirements: boolean
  readonly allowNodePoolKey: boolean
}): ReadonlyArray<DomainRule> => {
  const kubernetesAllowed = AllowedKubernetesIOKeys.filter((key) => options.forRequirements || key !== InstanceType)
  const rules: Array<DomainRule> = [
    {
      message: `label domain "kubernetes.io" is restricted`,
      cel: (key) =>
        `${key} in ${celList(kubernetesAllowed)} || ${celDomain(key)}.endsWith("node.kubernetes.io") || ` +
        `${celDomain(key)}.endsWith("node-restriction.kubernetes.io") || !${celDomain(key)}.endsWith("kubernetes.io")`,
      allows: (key) => {
        const domain = firstSegment(key)
        return (
          kubernetesAllowed.includes(key) ||
          domain.endsWith("node.kubernetes.io") ||
          domain.endsWith("node-restriction.kubernetes.io") ||
          !domain.endsWith("kubernetes.io")
        )
      }
    },
    {
      message: `label domain "k8s.io" is restricted`,
      cel: (key) => `${celDomain(key)}.endsWith("kops.k8s.io") || !${celDomain(key)}.endsWith("k8s.io")`,
      allows: (key) => firstSegment(key).endsWith("kops.k8s.io") || !firstSegment(key).endsWith("k8s.io")
    },
    {
      message: `label domain "karpenter.sh" is restricted`,
      cel: (key) => `${key} in ${celList(AllowedKarpenterKeys)} || !${celDomain(key)}.endsWith("karpenter.sh")`,
      allows: (key) => AllowedKarpenterKeys.includes(key) || !firstSegment(key).endsWith("karpenter.sh")
    }
  ]
  if (!options.allowNodePoolKey) {
    rules.push({
      message: `label "karpenter.sh/nodepool" is restricted`,
      cel: (key) => `${key} != "karpenter.sh/nodepool"`,
      allows: (key) => key !== NodePool
    })
  }
  rules.push({
    message: `label "kubernetes.io/hostname" is restricted`,
    cel: (key) => `${key} != "kubernetes.io/hostname"`,
    allows: (key) => key !== Hostname
  })
  return rules
}

/** The first label-domain rule `key` breaks, or `undefined` (NodePool requirement rules). */
export const domainViolation = (key: string, options?: { readonly allowNodePoolKey?: boolean }): string | undefined =>
  domainRules({ forRequirements: true, allowNodePoolKey: options?.allowNodePoolKey === true }).find(
    (rule) => !rule.allows(key)
  )?.message

/**
 * Upstream's `IsRestrictedLabel`: a key that is not well-known but whose domain ends with a restricted domain (and
 * not with an exception; plain suffix match, as upstream), or is the hostname label. `wellKnown` lets a cloud provider add its own keys.
 */
export const isRestricted = (key: string, wellKnown: ReadonlySet<string> = WellKnownLabels): boolean => {
  if (RestrictedLabels.has(key)) return true
  if (wellKnown.has(key)) return false
  const domain = domainOf(key)
  if (LabelDomainExceptions.some((exception) => domain.endsWith(exception))) return false
  return RestrictedLabelDomains.some((restricted) => domain.endsWith(restricted))
}

/** The well-known label set extended by a cloud provider's own keys. */
export const withProviderLabels = (keys: Iterable<string>): ReadonlySet<string> =>
  new Set([...WellKnownLabels, ...keys])
