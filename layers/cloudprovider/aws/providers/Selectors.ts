/**
 * EC2NodeClass selector terms as EC2 describe filters (upstream `subnet.getFilterSets`, `securitygroup.getFilterSets`):
 * a tag term is one query of its tags ANDed, a `*` value matching any value of the key; id (and name) terms are merged
 * into one query each; the queries' results are unioned by id.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"

/** The filters of a term's tags, by key (upstream iterates a Go map; sorted here so requests are deterministic). */
export const tagFilters = (tags: Readonly<Record<string, string>> | undefined): Array<Ec2Sdk.Filter> =>
  Object.keys(tags ?? {})
    .sort()
    .map((key) => {
      const value = tags?.[key] ?? ""
      return value === "*" ? { Name: "tag-key", Values: [key] } : { Name: `tag:${key}`, Values: [value] }
    })

/** The resources of every query, each once, in the order first seen. */
export const unionById = <R>(
  results: ReadonlyArray<ReadonlyArray<R>>,
  idOf: (resource: R) => string | undefined
): ReadonlyArray<R> => {
  const byId = new Map<string, R>()
  for (const resource of results.flat()) {
    const id = idOf(resource) ?? ""
    if (!byId.has(id)) byId.set(id, resource)
  }
  return Array.from(byId.values())
}
