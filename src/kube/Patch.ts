/**
 * Patches over plain JSON values: RFC 7386 merge patch, RFC 6902 JSON patch, and the smallest merge patch between two
 * values (for controllers that patch only what changed).
 *
 * Inputs are never mutated. Results share unchanged subtrees with the inputs, so treat all of them as immutable.
 * A key whose value is `undefined` counts as absent, as `JSON.stringify` would have it.
 */

import { isObject } from "./Json.ts"
import type { JsonPatchOperation } from "./KubeClient.ts"

/** The outcome of a JSON patch: the patched value, or why the patch does not apply. */
export type Result = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string }

type JsonObject = Readonly<Record<string, unknown>>

// Own, defined keys only: JSON has no undefined.
const keysOf = (value: JsonObject): ReadonlyArray<string> =>
  Object.keys(value).filter((key) => value[key] !== undefined)

const has = (value: JsonObject, key: string): boolean => Object.hasOwn(value, key) && value[key] !== undefined

// defineProperty for a "__proto__" key from JSON.parse, so it stays a plain own key instead of replacing the
// prototype; plain assignment otherwise (defineProperty on every key was most of a merge patch's cost).
const put = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

const copyObject = (value: JsonObject): Record<string, unknown> => {
  const result: Record<string, unknown> = {}
  for (const key of keysOf(value)) put(result, key, value[key])
  return result
}

/** Deep equality of JSON values: key order is ignored, array order is not. */
export const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, index) => deepEqual(item, b[index]))
  }
  if (isObject(a)) {
    if (!isObject(b)) return false
    const keys = keysOf(a)
    return keys.length === keysOf(b).length && keys.every((key) => has(b, key) && deepEqual(a[key], b[key]))
  }
  return false
}

// -- RFC 7386 ------------------------------------------------------------------------------------------------------

/**
 * Applies a JSON merge patch (RFC 7386): `null` deletes a key, objects merge recursively, and anything else (arrays
 * included) replaces the target. A patch that is not an object replaces the whole target.
 */
export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isObject(patch)) return patch
  const result = isObject(target) ? copyObject(target) : {}
  for (const key of keysOf(patch)) {
    const value = patch[key]
    if (value === null) delete result[key]
    else put(result, key, mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value))
  }
  return result
}

/**
 * The smallest merge patch that turns `before` into `after`: changed and added keys with their new values, removed
 * keys as `null`, and arrays (compared deeply) replaced whole. Equal objects give `{}`; when either side is not an
 * object the patch is `after` itself. Merge patch cannot set a member to `null`, so nulls inside `after`'s objects
 * (outside arrays) do not survive the round trip.
 */
export const diffMerge = (before: unknown, after: unknown): unknown => {
  if (!isObject(before) || !isObject(after)) return after
  const patch: Record<string, unknown> = {}
  for (const key of keysOf(before)) {
    if (!has(after, key)) put(patch, key, null)
  }
  for (const key of keysOf(after)) {
    const next = after[key]
    if (!has(before, key)) put(patch, key, next)
    else {
      const previous = before[key]
      if (isObject(previous) && isObject(next)) {
        const nested = diffMerge(previous, next) as JsonObject
        if (keysOf(nested).length > 0) put(patch, key, nested)
      } else if (!deepEqual(previous, next)) put(patch, key, next)
    }
  }
  return patch
}

// -- RFC 6902 ------------------------------------------------------------------------------------------------------

// Thrown inside jsonPatch only and turned into a result at its boundary.
class PatchError {
  constructor(readonly message: string) {}
}

/** The reference tokens of a JSON Pointer (RFC 6901), `~1` → `/` and `~0` → `~`; undefined when malformed. */
export const parsePointer = (pointer: string): ReadonlyArray<string> | undefined => {
  if (pointer === "") return []
  if (!pointer.startsWith("/")) return undefined
  const tokens = pointer.slice(1).split("/")
  if (tokens.some((token) => /~[^01]|~$/.test(token))) return undefined
  return tokens.map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"))
}

/** A JSON Pointer for reference tokens, escaping `~` and `/`. */
export const formatPointer = (tokens: ReadonlyArray<string>): string =>
  tokens.map((token) => `/${token.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("")

const pointerOf = (pointer: string, field: "path" | "from"): ReadonlyArray<string> => {
  const tokens = parsePointer(pointer)
  if (tokens === undefined) throw new PatchError(`invalid JSON pointer in "${field}": ${JSON.stringify(pointer)}`)
  return tokens
}

// An array index: digits without leading zeros (RFC 6901 §4), below `limit`.
const indexOf = (token: string, limit: number, pointer: string): number => {
  if (!/^(0|[1-9][0-9]*)$/.test(token))
    throw new PatchError(`invalid array index ${JSON.stringify(token)} in ${pointer}`)
  const index = Number(token)
  if (index >= limit) throw new PatchError(`array index ${index} out of range in ${pointer}`)
  return index
}

const missing = (pointer: string): PatchError => new PatchError(`path ${JSON.stringify(pointer)} does not exist`)

const get = (document: unknown, tokens: ReadonlyArray<string>, pointer: string): unknown => {
  let current = document
  for (const token of tokens) {
    if (Array.isArray(current)) current = current[indexOf(token, current.length, pointer)]
    else if (isObject(current) && has(current, token)) current = current[token]
    else throw missing(pointer)
  }
  return current
}

// Rebuilds the containers along `tokens`, letting `change` produce the new parent of the last token.
const update = (
  document: unknown,
  tokens: ReadonlyArray<string>,
  pointer: string,
  change: (parent: unknown, last: string) => unknown
): unknown => {
  const [head, ...rest] = tokens
  if (head === undefined) throw new PatchError("the root has no parent")
  if (rest.length === 0) return change(document, head)
  if (Array.isArray(document)) {
    const index = indexOf(head, document.length, pointer)
    const copy = [...document]
    copy[index] = update(document[index], rest, pointer, change)
    return copy
  }
  if (isObject(document) && has(document, head)) {
    const copy = copyObject(document)
    put(copy, head, update(document[head], rest, pointer, change))
    return copy
  }
  throw missing(pointer)
}

const add = (document: unknown, tokens: ReadonlyArray<string>, pointer: string, value: unknown): unknown =>
  tokens.length === 0
    ? value
    : update(document, tokens, pointer, (parent, last) => {
        if (Array.isArray(parent)) {
          // "-" appends; an index may equal the length, inserting at the end.
          const index = last === "-" ? parent.length : indexOf(last, parent.length + 1, pointer)
          return [...parent.slice(0, index), value, ...parent.slice(index)]
        }
        if (isObject(parent)) {
          const copy = copyObject(parent)
          put(copy, last, value)
          return copy
        }
        throw missing(pointer)
      })

const remove = (document: unknown, tokens: ReadonlyArray<string>, pointer: string): unknown => {
  if (tokens.length === 0) throw new PatchError("cannot remove the whole document")
  return update(document, tokens, pointer, (parent, last) => {
    if (Array.isArray(parent)) {
      const index = indexOf(last, parent.length, pointer)
      return [...parent.slice(0, index), ...parent.slice(index + 1)]
    }
    if (isObject(parent) && has(parent, last)) {
      const copy = copyObject(parent)
      delete copy[last]
      return copy
    }
    throw missing(pointer)
  })
}

const replace = (document: unknown, tokens: ReadonlyArray<string>, pointer: string, value: unknown): unknown => {
  if (tokens.length === 0) return value
  return update(document, tokens, pointer, (parent, last) => {
    if (Array.isArray(parent)) {
      const index = indexOf(last, parent.length, pointer)
      const copy = [...parent]
      copy[index] = value
      return copy
    }
    if (isObject(parent) && has(parent, last)) {
      const copy = copyObject(parent)
      put(copy, last, value)
      return copy
    }
    throw missing(pointer)
  })
}

const operationValue = (operation: JsonPatchOperation): unknown => {
  // The type promises a value, but operations arrive from the wire.
  if (!("value" in operation) || operation.value === undefined) {
    throw new PatchError(`${operation.op} operation at ${JSON.stringify(operation.path)} has no "value"`)
  }
  return operation.value
}

const fromOf = (operation: JsonPatchOperation): string => {
  if (!("from" in operation) || typeof operation.from !== "string") {
    throw new PatchError(`${operation.op} operation at ${JSON.stringify(operation.path)} has no "from"`)
  }
  return operation.from
}

const apply = (document: unknown, operation: JsonPatchOperation): unknown => {
  if (typeof operation.path !== "string") throw new PatchError(`${String(operation.op)} operation has no "path"`)
  const path = pointerOf(operation.path, "path")
  switch (operation.op) {
    case "add":
      return add(document, path, operation.path, operationValue(operation))
    case "remove":
      return remove(document, path, operation.path)
    case "replace": {
      const value = operationValue(operation)
      get(document, path, operation.path)
      return replace(document, path, operation.path, value)
    }
    case "move": {
      const fromPointer = fromOf(operation)
      const from = pointerOf(fromPointer, "from")
      const value = get(document, from, fromPointer)
      if (fromPointer === operation.path) return document
      // A value cannot move into one of its own children (RFC 6902 §4.4).
      if (from.length < path.length && from.every((token, index) => token === path[index])) {
        throw new PatchError(
          `cannot move ${JSON.stringify(fromPointer)} into its child ${JSON.stringify(operation.path)}`
        )
      }
      return add(remove(document, from, fromPointer), path, operation.path, value)
    }
    case "copy": {
      const fromPointer = fromOf(operation)
      return add(document, path, operation.path, get(document, pointerOf(fromPointer, "from"), fromPointer))
    }
    case "test": {
      const expected = operationValue(operation)
      if (!deepEqual(get(document, path, operation.path), expected)) {
        throw new PatchError(`test failed: the value at ${JSON.stringify(operation.path)} differs`)
      }
      return document
    }
    default:
      throw new PatchError(`unknown operation ${JSON.stringify((operation as { op: unknown }).op)}`)
  }
}

/**
 * Applies a JSON patch (RFC 6902): add (`-` appends, an index inserts), remove, replace, move, copy and test (deep
 * equality), in order and atomically — on any failure the result is an error and nothing is changed.
 */
export const jsonPatch = (target: unknown, operations: ReadonlyArray<JsonPatchOperation>): Result => {
  try {
    let document = target
    for (const [index, operation] of operations.entries()) {
      try {
        document = apply(document, operation)
      } catch (error) {
        if (error instanceof PatchError) throw new PatchError(`operation ${index}: ${error.message}`)
        throw error
      }
    }
    return { ok: true, value: document }
  } catch (error) {
    if (error instanceof PatchError) return { ok: false, message: error.message }
    throw error
  }
}
