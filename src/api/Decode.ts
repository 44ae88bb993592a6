/**
 * Decoding API objects with errors a person can act on: one line naming the object, the field and the rule.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

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

// An absent required field in kube-apiserver's words (`spec.amiSelectorTerms: Required value`).
const formatter = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => (issue._tag === "MissingKey" ? "Required value" : SchemaIssue.defaultLeafHook(issue))
})

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, segment) => {
    if (typeof segment === "number") return `${text}[${segment}]`
    const key = String(segment)
    return /^[A-Za-z_$][\w$]*$/.test(key) ? (text === "" ? key : `${text}.${key}`) : `${text}[${JSON.stringify(key)}]`
  }, "")

/** One problem of an invalid object: the field (dotted path, "" for the whole object) and what is wrong. */
export interface Problem {
  readonly field: string
  readonly message: string
}

/** Every problem of a schema issue. */
export const problems = (issue: SchemaIssue.Issue): Array<Problem> =>
  formatter(issue).issues.map((leaf) => ({
    field: formatPath((leaf.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))),
    message: leaf.message
  }))

/** Problems as `field: message`, joined with "; ". */
export const describeProblems = (list: ReadonlyArray<Problem>): string =>
  list.map(({ field, message }) => (field === "" ? message : `${field}: ${message}`)).join("; ")

/** Every problem of a schema issue as `field: message`, joined with "; ". */
export const describeIssue = (issue: SchemaIssue.Issue): string => describeProblems(problems(issue))

/** A synchronous check of `input` against `schema`: every problem, or none, and then the decoded value. */
export const checker = <S extends Schema.Constraint & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownExit(schema, { errors: "all" })
  return (
    input: unknown
  ):
    | { readonly _tag: "Valid"; readonly value: S["Type"] }
    | { readonly _tag: "Invalid"; readonly problems: Array<Problem> } => {
    const exit = decode(input)
    if (exit._tag === "Success") return { _tag: "Valid", value: exit.value }
    const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    if (error === undefined) throw new Error(`decoding crashed: ${String(exit.cause)}`)
    return { _tag: "Invalid", problems: problems(error.error.issue) }
  }
}

/** A {@link checker} of some fields of a struct: their decoded values, by name. */
type FieldsChecker = (
  input: unknown
) =>
  | { readonly _tag: "Valid"; readonly value: Readonly<Record<string, unknown>> }
  | { readonly _tag: "Invalid"; readonly problems: Array<Problem> }

/**
 * For a plain struct schema (no checks, encoding or index signatures of its own, so each field decodes on its own):
 * its field names in order, and a {@link checker} of some of them alone, as the struct's checker reports them.
 * Undefined for any other schema.
 */
export const fieldCheckers = (
  schema: Schema.Constraint
):
  | {
      readonly names: ReadonlyArray<string>
      readonly of: (names: ReadonlyArray<string>) => FieldsChecker
    }
  | undefined => {
  const ast = schema.ast
  if (ast._tag !== "Objects" || ast.checks !== undefined || ast.encoding !== undefined) return undefined
  if (ast.indexSignatures.length > 0 || !("fields" in schema)) return undefined
  const fields = schema.fields as Schema.Struct.Fields
  const checkers = new Map<string, FieldsChecker>()
  return {
    names: Object.keys(fields),
    of: (names) => {
      const id = names.join(",")
      let check = checkers.get(id)
      if (check === undefined) {
        // The fields of a schema without decoding services need none either.
        const struct = Schema.Struct(Object.fromEntries(names.map((name) => [name, fields[name]!])))
        check = checker(struct as unknown as Schema.Codec<Record<string, unknown>, unknown>)
        checkers.set(id, check)
      }
      return check
    }
  }
}

/** A synchronous {@link decoder}: the value, or a thrown `InvalidObject` naming every problem. */
export const decoderUnsafe = <S extends Schema.Constraint & { readonly DecodingServices: never }>(
  kind: string,
  schema: S
) => {
  const check = checker(schema)
  return (input: unknown): S["Type"] => {
    const result = check(input)
    if (result._tag === "Valid") return result.value
    throw new InvalidObject({ kind, name: nameOf(input), reason: describeProblems(result.problems) })
  }
}

/** How an object is named in messages: `namespace/name`, `name`, or "" when it has none. */
export const nameOf = (input: unknown): string => {
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
  schema: S,
  options?: { readonly onExcessProperty?: "ignore" | "error" }
) => {
  const decode = Schema.decodeUnknownEffect(schema, { errors: "all", ...options })
  return (input: unknown): Effect.Effect<S["Type"], InvalidObject> =>
    decode(input).pipe(
      Effect.mapError((error) => new InvalidObject({ kind, name: nameOf(input), reason: describeIssue(error.issue) }))
    )
}
