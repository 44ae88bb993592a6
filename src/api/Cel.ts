/**
 * Validation rules written once and used twice: as a Schema check when decoding, and as the equivalent CEL
 * `x-kubernetes-validations` entry in the generated CRD (where a real apiserver enforces it).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** One CEL rule as it appears in a CRD. */
export interface CelValidation {
  readonly rule: string
  readonly message: string
}

/**
 * A check whose failure message is `message` and whose CRD form is the CEL `rule`. `holds` must accept exactly what
 * the CEL rule accepts.
 */
export const rule = <A>(options: {
  readonly rule: string
  readonly message: string
  readonly holds: (a: A) => boolean
}) =>
  Schema.makeFilter<A>((a) => (options.holds(a) ? undefined : options.message), {
    toJsonSchema: () => ({ "x-kubernetes-validations": [{ rule: options.rule, message: options.message }] })
  })

/**
 * A check that accepts everything and only contributes `fragment` to the generated JSON Schema (CRD). Checks are the
 * one place Schema reliably carries extra JSON Schema keys: an annotation on a schema that already has checks lands
 * on its last check and replaces that check's JSON Schema.
 */
export const crdOnly = <A>(fragment: Record<string, unknown>) =>
  Schema.makeFilter<A>(() => undefined, { toJsonSchema: () => fragment })

/**
 * A CEL transition rule (it reads `oldSelf`): it has no meaning for a single object, so it only lands in the CRD.
 * The in-memory API server enforces immutability itself.
 */
export const transitionRule = <A>(options: CelValidation) =>
  crdOnly<A>({ "x-kubernetes-validations": [{ rule: options.rule, message: options.message }] })

/**
 * A regular-expression check that is also the CRD's `pattern` (the `u` flag makes Schema emit it).
 */
export const pattern = (regExp: RegExp, message?: string) =>
  Schema.isPattern(new RegExp(regExp.source, "u"), message === undefined ? undefined : { message })

/**
 * A field that may be omitted: decoding fills in `value` (given in its wire form, as the CRD's `default` is) and the
 * generated CRD declares the same default.
 */
export const withDefault =
  <S extends Schema.Top>(value: S["Encoded"]) =>
  (self: S) =>
    Schema.withDecodingDefaultKey<S>(Effect.succeed(value))(self.check(crdOnly({ default: value })) as S)
