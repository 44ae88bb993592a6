/**
 * The AMIs an EC2NodeClass selects (upstream `pkg/providers/amifamily/ami.go`): an alias resolves through the EKS SSM
 * parameters, other terms through DescribeImages; one AMI is kept per requirement set (architecture, and the variant
 * an alias knows): non-deprecated first, then the newest, then the larger name.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodeSelectorRequirement } from "../../../../src/api/Meta.ts"
import { AwsLabels } from "../../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import * as Selectors from "./Selectors.ts"
import type { SsmParameters } from "./SsmParameters.ts"

/** An alias whose SSM parameters all are missing (upstream's message), or of a family not resolved yet. */
export class AliasNotResolved extends Data.TaggedError("AliasNotResolved")<{ readonly message: string }> {}

/** A resolved AMI: one per requirement set. */
export interface Ami {
  readonly id: string
  readonly name: string
  readonly creationDate: string
  readonly deprecated: boolean
  readonly requirements: ReadonlyArray<NodeSelectorRequirement>
}

/** A DescribeImages query and the requirement sets it already knows for some image ids (an alias's variants). */
export interface Query {
  readonly filters: ReadonlyArray<Ec2Sdk.Filter>
  readonly owners: ReadonlyArray<string>
  readonly knownRequirements: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<NodeSelectorRequirement>>>
}

const awsToKubeArchitectures: Readonly<Record<string, string>> = { x86_64: Labels.ArchAmd64, arm64: Labels.ArchArm64 }

type Variant = "standard" | "nvidia" | "neuron"

/** upstream `Variant.Requirements`. */
const variantRequirements: Readonly<Record<Variant, ReadonlyArray<NodeSelectorRequirement>>> = {
  standard: [
    { key: AwsLabels.acceleratorCount, operator: "DoesNotExist" },
    { key: AwsLabels.gpuCount, operator: "DoesNotExist" }
  ],
  nvidia: [{ key: AwsLabels.gpuCount, operator: "Exists" }],
  neuron: [{ key: AwsLabels.acceleratorCount, operator: "Exists" }]
}

const al2023Variants: ReadonlyArray<readonly [string, ReadonlyArray<Variant>]> = [
  ["x86_64", ["standard", "nvidia", "neuron"]],
  ["arm64", ["standard", "nvidia"]]
]

/** The SSM parameter of an AL2023 image (upstream `AL2023.resolvePath`). */
export const al2023Parameter = (arch: string, variant: string, kubernetesVersion: string, version: string): string => {
  const name =
    version === "latest" ? "recommended" : `amazon-eks-node-al2023-${arch}-${variant}-${kubernetesVersion}-${version}`
  return `/aws/service/eks/optimized-ami/${kubernetesVersion}/amazon-linux-2023/${arch}/${variant}/${name}/image_id`
}

// upstream `AL2023.DescribeImageQuery`: a missing parameter is skipped; none found fails the resolution.
const al2023Query = Effect.fn("Amis.al2023Query")(function* (
  parameters: SsmParameters,
  kubernetesVersion: string,
  version: string
) {
  const known = new Map<string, ReadonlyArray<ReadonlyArray<NodeSelectorRequirement>>>()
  for (const [arch, variants] of al2023Variants) {
    for (const variant of variants) {
      const imageId = yield* parameters
        .get(al2023Parameter(arch, variant, kubernetesVersion, version), "alias")
        .pipe(Effect.catch(() => Effect.succeed(undefined)))
      if (imageId !== undefined) known.set(imageId, [variantRequirements[variant]])
    }
  }
  if (known.size === 0) {
    return yield* new AliasNotResolved({ message: `failed to discover AMIs for alias "al2023@${version}"` })
  }
  return { filters: [{ Name: "image-id", Values: Array.from(known.keys()) }], owners: [], knownRequirements: known }
})

/** The queries of the node class's terms (upstream `DescribeImageQueries`). */
export const queries = Effect.fn("Amis.queries")(function* (
  nodeClass: EC2NodeClass.EC2NodeClass,
  parameters: SsmParameters,
  kubernetesVersion: string
): Effect.fn.Return<ReadonlyArray<Query>, AliasNotResolved> {
  const alias = EC2NodeClass.aliasOf(nodeClass)
  if (alias !== undefined) {
    if (alias.family !== "AL2023") {
      return yield* new AliasNotResolved({ message: `AMI alias family ${alias.family} is not supported yet` })
    }
    return [yield* al2023Query(parameters, kubernetesVersion, alias.version)]
  }
  const ids: Array<string> = []
  const result: Array<Query> = []
  for (const term of nodeClass.spec.amiSelectorTerms) {
    if (term.id !== undefined && term.id !== "") {
      ids.push(term.id)
    } else if (term.ssmParameter !== undefined && term.ssmParameter !== "") {
      // A missing parameter, or one not naming an AMI, is skipped (upstream logs it).
      const value = yield* parameters
        .get(term.ssmParameter, "custom")
        .pipe(Effect.catch(() => Effect.succeed(undefined)))
      if (value?.startsWith("ami-") === true) ids.push(value)
    } else {
      const named = term.name !== undefined && term.name !== ""
      const owners = term.owner !== undefined && term.owner !== "" ? [term.owner] : named ? ["self", "amazon"] : []
      result.push({
        filters: [...(named ? [{ Name: "name", Values: [term.name ?? ""] }] : []), ...Selectors.tagFilters(term.tags)],
        owners,
        knownRequirements: new Map()
      })
    }
  }
  if (ids.length > 0)
    result.push({ filters: [{ Name: "image-id", Values: ids }], owners: [], knownRequirements: new Map() })
  return result
})

const timeOf = (date: string | undefined, fallback: number): number => {
  const parsed = date === undefined ? Number.NaN : Date.parse(date)
  return Number.isNaN(parsed) ? fallback : Math.floor(parsed / 1000)
}

/** upstream `compareAMI`: negative when `a` is preferred. */
const compare = (a: Ami, b: Ami): number => {
  if (a.deprecated !== b.deprecated) return a.deprecated ? 1 : -1
  const aTime = timeOf(a.creationDate, 0)
  const bTime = timeOf(b.creationDate, 0)
  if (aTime !== bTime) return aTime > bTime ? -1 : 1
  if (a.name !== b.name) return a.name > b.name ? -1 : 1
  return 0
}

/** Requirements in the status's order: by key length, then key (upstream AMI reconciler). */
const sortRequirements = (
  requirements: ReadonlyArray<NodeSelectorRequirement>
): ReadonlyArray<NodeSelectorRequirement> =>
  [...requirements].sort((a, b) => a.key.length - b.key.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

/**
 * The AMIs of the queries at `now` (epoch millis), newest first then by id (upstream `List`, `amis`, `AMIs.Sort`).
 * An image is deprecated once its DeprecationTime has passed; images of an unknown architecture are skipped.
 */
export const list = Effect.fn("Amis.list")(function* (
  nodeClass: EC2NodeClass.EC2NodeClass,
  parameters: SsmParameters,
  kubernetesVersion: string,
  now: number
) {
  const ec2 = yield* Ec2
  const chosen = new Map<string, Ami>()
  for (const query of yield* queries(nodeClass, parameters, kubernetesVersion)) {
    const images = yield* ec2.describeImages({
      Filters: [...query.filters, { Name: "state", Values: ["available"] }],
      ...(query.owners.length > 0 ? { Owners: [...query.owners] } : {}),
      IncludeDeprecated: true,
      MaxResults: 1000
    })
    for (const image of images) {
      const arch = awsToKubeArchitectures[image.Architecture ?? ""]
      if (arch === undefined) continue
      const archRequirement: NodeSelectorRequirement = { key: Labels.Arch, operator: "In", values: [arch] }
      const sets = query.knownRequirements.get(image.ImageId ?? "") ?? [[]]
      for (const set of sets) {
        const requirements = sortRequirements([...set, archRequirement])
        const candidate: Ami = {
          id: image.ImageId ?? "",
          name: image.Name ?? "",
          creationDate: image.CreationDate ?? "",
          deprecated: timeOf(image.DeprecationTime, Number.MAX_SAFE_INTEGER) <= Math.floor(now / 1000),
          requirements
        }
        const key = JSON.stringify(requirements)
        const existing = chosen.get(key)
        if (existing === undefined || compare(existing, candidate) > 0) chosen.set(key, candidate)
      }
    }
  }
  return Array.from(chosen.values()).sort(
    (a, b) => timeOf(b.creationDate, 0) - timeOf(a.creationDate, 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
})
