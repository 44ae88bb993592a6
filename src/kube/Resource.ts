/**
 * Resource descriptors: everything a client needs to address a kind (group, version, plural, scope) and to decode
 * its objects (the Schema).
 */
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import * as Decode from "../api/Decode.ts"
import type { ObjectMeta } from "../api/Meta.ts"
import { isObject } from "./Json.ts"
import * as Patch from "./Patch.ts"

/** An object with Kubernetes metadata. */
export interface KubeObject {
  readonly metadata: ObjectMeta
}

/** A kind the client can read and write: `A` is the decoded object, `I` its wire form. */
export interface Resource<A extends KubeObject, I = unknown> {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly namespaced: boolean
  /** `group/version`, or `version` for the core group. */
  readonly apiVersion: string
  readonly schema: Schema.Codec<A, I>
  /** Decodes a wire object, reporting every problem in one line. */
  readonly decode: (input: unknown) => Effect.Effect<A, Decode.InvalidObject>
  /**
   * {@link decode}, synchronously, for an object that never changes once stored: one decoded or validated before is
   * not decoded again (every reader of a stored version gets the same value, without an Effect per object). Throws
   * `Decode.InvalidObject`.
   */
  readonly decodeStoredUnsafe: (input: object) => A
  /** Checks a wire object synchronously: every problem, or none. */
  readonly validate: (input: unknown) => ReadonlyArray<Decode.Problem>
  /**
   * {@link validate} of a new version of `previous`, an object validated or decoded before: the top-level fields it
   * keeps (the same, or equal) are not checked again, and its decoded value shares theirs. A status update checks the
   * status alone. Without the previous decoded value, every field is checked.
   */
  readonly validateChange: (previous: object, input: object) => ReadonlyArray<Decode.Problem>
}

/** Builds a descriptor. */
export const make = <
  S extends Schema.Constraint & { readonly DecodingServices: never; readonly Type: KubeObject }
>(options: {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly namespaced: boolean
  readonly schema: S
}): Resource<S["Type"], S["Encoded"]> => {
  // The in-memory API server validates each version it stores and hands that same object to every reader: the value
  // is kept per object, so a stored version is decoded once, by its validation.
  const decoded = new WeakMap<object, S["Type"]>()
  const decode = Decode.decoder(options.kind, options.schema)
  const decodeUnsafe = Decode.decoderUnsafe(options.kind, options.schema)
  const check = Decode.checker(options.schema)
  const validate = (input: unknown): ReadonlyArray<Decode.Problem> => {
    const result = check(input)
    if (result._tag === "Invalid") return result.problems
    if (typeof input === "object" && input !== null) decoded.set(input, result.value)
    return []
  }
  const fields = Decode.fieldCheckers(options.schema)
  return {
    group: options.group,
    version: options.version,
    kind: options.kind,
    plural: options.plural,
    namespaced: options.namespaced,
    apiVersion: options.group === "" ? options.version : `${options.group}/${options.version}`,
    schema: options.schema as unknown as Schema.Codec<S["Type"], S["Encoded"]>,
    decode,
    decodeStoredUnsafe: (input) => {
      let value = decoded.get(input)
      if (value === undefined) {
        value = decodeUnsafe(input)
        decoded.set(input, value)
      }
      return value
    },
    validate,
    validateChange: (previous, input) => {
      const before = decoded.get(previous) as Readonly<Record<string, unknown>> | undefined
      if (fields === undefined || before === undefined) return validate(input)
      const old = previous as Readonly<Record<string, unknown>>
      const next = input as Readonly<Record<string, unknown>>
      const metadata = newVersionOf(old.metadata, next.metadata, before.metadata)
      const changed = fields.names.filter(
        (name) =>
          old[name] !== next[name] &&
          !(name === "metadata" && metadata !== undefined) &&
          !Patch.deepEqual(old[name], next[name])
      )
      const result = fields.of(changed)(
        Object.fromEntries(changed.flatMap((name) => (name in next ? [[name, next[name]]] : [])))
      )
      if (result._tag === "Invalid") return result.problems
      // In the schema's field order, as decoding the whole object gives them.
      const value: Record<string, unknown> = {}
      for (const name of fields.names) {
        if (name === "metadata" && metadata !== undefined) {
          value[name] = metadata
          continue
        }
        const source = changed.includes(name) ? result.value : before
        if (name in source) value[name] = source[name]
      }
      decoded.set(input, value as unknown as S["Type"])
      return []
    }
  }
}

/**
 * The decoded metadata of a new version whose metadata differs from the previous version's in its resourceVersion
 * alone, which the server sets on every write: the previous decoded value with the new version (in its place, so the
 * fields keep the schema's order). Undefined when anything else changed, which is then checked by the schema.
 */
const newVersionOf = (old: unknown, next: unknown, decodedOld: unknown): object | undefined => {
  if (!isObject(old) || !isObject(next) || !isObject(decodedOld)) return undefined
  if (!("resourceVersion" in old) || !("resourceVersion" in decodedOld)) return undefined
  const version = next.resourceVersion
  if (typeof version !== "string") return undefined
  const keys = Object.keys(next)
  if (keys.length !== Object.keys(old).length) return undefined
  for (const key of keys) {
    if (key === "resourceVersion" || old[key] === next[key]) continue
    if (!(key in old) || !Patch.deepEqual(old[key], next[key])) return undefined
  }
  return { ...decodedOld, resourceVersion: version }
}

/** `namespace/name` for namespaced objects, `name` otherwise: the key of a cache or a work queue. */
export const keyOf = (object: KubeObject): string => {
  const { namespace, name = "" } = object.metadata
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`
}

/** Splits a key made by {@link keyOf}. */
export const parseKey = (key: string): { readonly namespace?: string; readonly name: string } => {
  const slash = key.indexOf("/")
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

/** The resource's name as `plural.group` (`nodepools.karpenter.sh`, `pods`). */
export const qualifiedName = (resource: Resource<KubeObject>): string =>
  resource.group === "" ? resource.plural : `${resource.plural}.${resource.group}`
