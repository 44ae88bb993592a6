/**
 * What kube-apiserver refuses in an object it is asked to store: its validation rules, the kind's schema, and, under
 * kubectl's default `fieldValidation=Strict`, fields the kind does not have. The in-memory API server admits every
 * write with {@link problems}; `schedule` and `simulate` hold their input to {@link strictProblems}.
 */
import * as Decode from "../api/Decode.ts"
import * as Validation from "../api/ObjectValidation.ts"
import { isObject, type Json } from "./Json.ts"
import * as KnownFields from "./KnownFields.ts"
import * as Patch from "./Patch.ts"

/**
 * A kind as admission sees it: its name and scope, and the checks of its schema when this project decodes it (of an
 * object, and of a new version of one).
 */
export interface Kind extends Validation.Kind {
  readonly validate?: (input: unknown) => ReadonlyArray<Decode.Problem>
  readonly validateChange?: (previous: object, input: object) => ReadonlyArray<Decode.Problem>
}

/**
 * kube-apiserver's rules first (names, labels, pod rules, ...), then the schema's problems on fields they left.
 * `previous` is a version of the same object admitted before: the rules, which read its metadata and spec, run again
 * only when something besides its status and resourceVersion changed, and the schema checks the fields that changed
 * (a status update, most of a cluster's writes, checks its status alone).
 */
export const problems = (kind: Kind, input: unknown, previous?: object): Array<Decode.Problem> => {
  const changed = previous === undefined || !isObject(input) ? undefined : input
  const found = changed === undefined || !onlyStatusChanged(previous!, changed) ? Validation.validate(kind, input) : []
  const schema =
    changed === undefined || kind.validateChange === undefined
      ? (kind.validate?.(input) ?? [])
      : kind.validateChange(previous!, changed)
  const named = new Set(found.map((problem) => problem.field))
  return [...found, ...schema.filter((problem) => !named.has(problem.field))]
}

/** Whether `next` differs from `previous` in its status and resourceVersion at most. */
const onlyStatusChanged = (previous: object, next: Json): boolean => {
  const old = previous as Json
  for (const key of new Set([...Object.keys(old), ...Object.keys(next)])) {
    if (key === "status" || old[key] === next[key]) continue
    if (key !== "metadata") {
      if (!Patch.deepEqual(old[key], next[key])) return false
      continue
    }
    if (!isObject(old.metadata) || !isObject(next.metadata)) return false
    const { resourceVersion: _old, ...before } = old.metadata
    const { resourceVersion: _next, ...after } = next.metadata
    if (!Patch.deepEqual(before, after)) return false
  }
  return true
}

/** As kube-apiserver with `fieldValidation=Strict`: the unknown fields if there are any, else {@link problems}. */
export const strictProblems = (kind: Kind, input: unknown): Array<Decode.Problem> => {
  const unknown = KnownFields.unknownFields(kind, input)
  return unknown.length > 0 ? [{ field: "", message: KnownFields.strictDecodingError(unknown) }] : problems(kind, input)
}

/** {@link strictProblems} as one line naming the object (`invalid Pod "default/x": field: message; ...`), if any. */
export const strictRefusal = (kind: Kind, input: unknown): string | undefined => {
  const found = strictProblems(kind, input)
  return found.length === 0
    ? undefined
    : new Decode.InvalidObject({ kind: kind.kind, name: Decode.nameOf(input), reason: Decode.describeProblems(found) })
        .message
}
