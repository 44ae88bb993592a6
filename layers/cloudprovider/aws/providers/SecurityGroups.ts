/** The security groups an EC2NodeClass selects (upstream `pkg/providers/securitygroup`). */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Effect from "effect/Effect"
import type * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import * as Selectors from "./Selectors.ts"

const nonEmpty = (value: string | undefined): value is string => value !== undefined && value !== ""

/**
 * One DescribeSecurityGroups filter set per tag term, one for the id terms and one for the name terms (upstream
 * `getFilterSets`: a term with an id or a name is matched by it alone, its tags ignored).
 */
export const filterSets = (
  terms: ReadonlyArray<EC2NodeClass.SecurityGroupSelectorTerm>
): ReadonlyArray<ReadonlyArray<Ec2Sdk.Filter>> => {
  const ids = terms.map((term) => term.id).filter(nonEmpty)
  const names = terms
    .filter((term) => !nonEmpty(term.id))
    .map((term) => term.name)
    .filter(nonEmpty)
  const tagSets = terms
    .filter((term) => !nonEmpty(term.id) && !nonEmpty(term.name))
    .map((term) => Selectors.tagFilters(term.tags))
  return [
    ...tagSets,
    ...(ids.length > 0 ? [[{ Name: "group-id", Values: ids }]] : []),
    ...(names.length > 0 ? [[{ Name: "group-name", Values: names }]] : [])
  ]
}

/** The security groups the node class's terms select, each once. */
export const list = Effect.fn("SecurityGroups.list")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
  const ec2 = yield* Ec2
  const results = yield* Effect.forEach(filterSets(nodeClass.spec.securityGroupSelectorTerms), (filters) =>
    ec2.describeSecurityGroups({ Filters: [...filters], MaxResults: 500 })
  )
  return Selectors.unionById(results, (group) => group.GroupId)
})
