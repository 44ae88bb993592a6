/**
 * EC2's `Filters` of the describe calls as the fake answers them: filters are ANDed, a filter's values ORed, values
 * may use EC2's `*` and `?` wildcards, `tag:<key>` matches a tag's value and `tag-key` a tag's key. A filter name the
 * resource does not support is an `InvalidParameterValue` error, as EC2 answers, so a typo in the provider shows.
 */
import * as Effect from "effect/Effect"
import * as AwsError from "../sdk/AwsError.ts"

/** One filter of a describe request (the SDK's `Filter`). */
export interface Filter {
  readonly Name?: string | undefined
  readonly Values?: ReadonlyArray<string> | undefined
}

/** A tag of a resource (the SDK's `Tag`). */
export interface Tag {
  readonly Key?: string | undefined
  readonly Value?: string | undefined
}

/** What a resource answers for each filter name it supports (a list when the field has several values). */
export type Fields<R> = Readonly<Record<string, (resource: R) => string | ReadonlyArray<string> | undefined>>

const patterns = new Map<string, RegExp>()

/** Whether `value` matches an EC2 filter value, where `*` is any run of characters and `?` any one character. */
export const matchesWildcard = (pattern: string, value: string): boolean => {
  if (!pattern.includes("*") && !pattern.includes("?")) return pattern === value
  let regex = patterns.get(pattern)
  if (regex === undefined) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")
    regex = new RegExp(`^${source}$`, "s")
    patterns.set(pattern, regex)
  }
  return regex.test(value)
}

const anyMatches = (values: ReadonlyArray<string>, candidates: ReadonlyArray<string>): boolean =>
  values.some((pattern) => candidates.some((candidate) => matchesWildcard(pattern, candidate)))

/**
 * The resources that pass every filter; `tags` reads a resource's tags for the `tag:` and `tag-key` filters.
 * Fails with EC2's `InvalidParameterValue` on a filter name outside `fields` and the tag filters.
 */
export const apply = <R>(
  operation: string,
  resources: ReadonlyArray<R>,
  filters: ReadonlyArray<Filter> | undefined,
  fields: Fields<R>,
  tags: (resource: R) => ReadonlyArray<Tag> | undefined
): Effect.Effect<ReadonlyArray<R>, AwsError.AwsFailure> => {
  const predicates: Array<(resource: R) => boolean> = []
  for (const filter of filters ?? []) {
    const name = filter.Name ?? ""
    const values = filter.Values ?? []
    if (name.startsWith("tag:")) {
      const key = name.slice("tag:".length)
      predicates.push((resource) =>
        anyMatches(
          values,
          (tags(resource) ?? []).flatMap((tag) => (tag.Key === key ? [tag.Value ?? ""] : []))
        )
      )
    } else if (name === "tag-key") {
      predicates.push((resource) =>
        anyMatches(
          values,
          (tags(resource) ?? []).map((tag) => tag.Key ?? "")
        )
      )
    } else {
      const field = fields[name]
      if (field === undefined) {
        return Effect.fail(
          AwsError.fromSdk("EC2", operation, {
            name: "InvalidParameterValue",
            message: `The filter '${name}' is invalid`,
            $metadata: { httpStatusCode: 400 }
          })
        )
      }
      predicates.push((resource) => {
        const value = field(resource)
        return value !== undefined && anyMatches(values, typeof value === "string" ? [value] : value)
      })
    }
  }
  return Effect.succeed(resources.filter((resource) => predicates.every((passes) => passes(resource))))
}
