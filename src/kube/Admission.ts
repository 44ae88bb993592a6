/**
 * What kube-apiserver refuses in an object it is asked to store: its validation rules, the kind's schema, and, under
 * kubectl's default `fieldValidation=Strict`, fields the kind does not have. The in-memory API server admits every
 * write with {@link problems}; `schedule` and `simulate` hold their input to {@link strictProblems}.
 */
import * as Decode from "../api/Decode.ts"
import * as Validation from "../api/ObjectValidation.ts"
import * as KnownFields from "./KnownFields.ts"

/** A kind as admission sees it: its name and scope, and the check of its schema when this project decodes it. */
export interface Kind extends Validation.Kind {
  readonly validate?: (input: unknown) => ReadonlyArray<Decode.Problem>
}

/** kube-apiserver's rules first (names, labels, pod rules, ...), then the schema's problems on fields they left. */
export const problems = (kind: Kind, input: unknown): Array<Decode.Problem> => {
  const found = Validation.validate(kind, input)
  const named = new Set(found.map((problem) => problem.field))
  return [...found, ...(kind.validate?.(input) ?? []).filter((problem) => !named.has(problem.field))]
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
