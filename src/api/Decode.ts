/**
 * Decoding API objects with errors a person can act on: one line naming the object, the field and the rule.
 */
import { Effect, Schema, SchemaIssue } from "effect"

/** An object that does not satisfy its kind's schema. */
export class InvalidObject extends Schema.TaggedError<InvalidObject>()("InvalidObject", {
  kind: Schema.String,
  name: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.kind}${this.name === "" ? "" : ` "${this.name}"`}: ${this.reason}`
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, segment) => {
    if (typeof segment === "number") return `${text}[${segment}]`
    const key = String(segment)
    return /^[A-Za-z_$][\w$]*$/.test(key) ? (text === "" ? key : `${text}.${key}`) : `${text}[${JSON.stringify(key)}]`
  }, "")

/** Every problem of a schema error as `path: message`, joined with "; ". */
export const describeIssue = (issue: SchemaIssue.Issue): string =>
  formatter(issue)
    .issues.map((leaf) => {
      const path = formatPath((leaf.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment)))
      return path === "" ? leaf.message : `${path}: ${leaf.message}`
    })
    .join("; ")

const nameOf = (input: unknown): string => {
  if (typeof input !== "object" || input === null) return ""
  const metadata = (input as { readonly metadata?: unknown }).metadata
  if (typeof metadata !== "object" || metadata === null) return ""
  const { name, namespace } = metadata as { readonly name?: unknown; readonly namespace?: unknown }
  if (typeof name !== "string") return ""
  return typeof namespace === "string" && namespace !== "" ? `${namespace}/${name}` : name
}

/**
 * A decoder for `kind` that reports every problem (not just the first) in one `InvalidObject`.
 */
export const decoder = <S extends Schema.Constraint & { readonly DecodingServices: never }>(
  kind: string,
  schema: S
) => {
  const decode = Schema.decodeUnknownEffect(schema, { errors: "all" })
  return (input: unknown): Effect.Effect<S["Type"], InvalidObject> =>
    decode(input).pipe(
      Effect.mapError((error) => new InvalidObject({ kind, name: nameOf(input), reason: describeIssue(error.issue) }))
    )
}
