/** The subnets an EC2NodeClass selects (upstream `pkg/providers/subnet`). */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Effect from "effect/Effect"
import type * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import * as Selectors from "./Selectors.ts"

/** One DescribeSubnets filter set per tag term, and one for all the id terms (upstream `getFilterSets`). */
export const filterSets = (
  terms: ReadonlyArray<EC2NodeClass.SubnetSelectorTerm>
): ReadonlyArray<ReadonlyArray<Ec2Sdk.Filter>> => {
  const ids = terms.flatMap((term) => (term.id !== undefined && term.id !== "" ? [term.id] : []))
  const tagSets = terms
    .filter((term) => term.id === undefined || term.id === "")
    .map((term) => Selectors.tagFilters(term.tags))
  return ids.length > 0 ? [...tagSets, [{ Name: "subnet-id", Values: ids }]] : tagSets
}

/** The subnets the node class's terms select, each once (upstream `DefaultProvider.List`). */
export const list = Effect.fn("Subnets.list")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
  const ec2 = yield* Ec2
  const results = yield* Effect.forEach(filterSets(nodeClass.spec.subnetSelectorTerms), (filters) =>
    ec2.describeSubnets({ Filters: [...filters], MaxResults: 500 })
  )
  return Selectors.unionById(results, (subnet) => subnet.SubnetId)
})

/** The status order: most available addresses first, then by id (upstream subnet reconciler). */
export const byAvailableAddresses = (a: Ec2Sdk.Subnet, b: Ec2Sdk.Subnet): number =>
  (b.AvailableIpAddressCount ?? 0) - (a.AvailableIpAddressCount ?? 0) ||
  ((a.SubnetId ?? "") < (b.SubnetId ?? "") ? -1 : (a.SubnetId ?? "") > (b.SubnetId ?? "") ? 1 : 0)
