/**
 * Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds this project serves: what
 * `kubectl apply` (client-side), `cordon`, `label` and `annotate` send. Lists with a merge key in upstream's Go types
 * are merged element by element; every other list is replaced whole, as merge patch does.
 *
 * Directives: `$patch: replace | delete | merge` on maps and list elements, `$retainKeys`,
 * `$deleteFromPrimitiveList/<field>`; `$setElementOrder/<field>` is accepted and ignored (order is not significant
 * to the controllers).
 */

import { isObject } from "./Json.ts"
import * as Patch from "./Patch.ts"

type JsonObject = Record<string, unknown>

/**
 * The merge key of each keyed list, by field name. Upstream declares these per Go type; within the kinds served here
 * a field name almost always means one type. `ports` means two (container ports keyed by `containerPort`, Service
 * ports by `port`): the key the patch's elements carry decides.
 */
const mergeKeys: Readonly<Record<string, string | ReadonlyArray<string>>> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  ports: ["containerPort", "port"],
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
  resourceClaims: "name",
  conditions: "type",
  addresses: "type",
  ownerReferences: "uid"
}

/** Lists of strings merged as sets (`patchStrategy:"merge"` on a primitive list). */
const primitiveSets = new Set(["finalizers"])

// Thrown inside apply only and turned into a result at its boundary.
class InvalidPatch {
  constructor(readonly message: string) {}
}

const withoutDirectives = (patch: JsonObject): JsonObject => {
  const result: JsonObject = {}
  for (const [key, value] of Object.entries(patch)) {
    if (!key.startsWith("$")) result[key] = value
  }
  return result
}

/** Strips directives from a value that replaces (rather than merges into) the original. */
const plain = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(plain)
  if (!isObject(value)) return value
  const result: JsonObject = {}
  for (const [key, child] of Object.entries(withoutDirectives(value))) {
    if (child !== null) result[key] = plain(child)
  }
  return result
}

const mergeList = (field: string, original: unknown, patch: ReadonlyArray<unknown>): unknown => {
  const candidates = mergeKeys[field]
  const key =
    typeof candidates === "string"
      ? candidates
      : candidates?.find((name) => patch.some((item) => isObject(item) && item[name] !== undefined))
  if (primitiveSets.has(field)) {
    const base = Array.isArray(original) ? original : []
    return [...base, ...patch.filter((item) => !base.some((existing) => Patch.deepEqual(existing, item)))]
  }
  if (key === undefined) return plain(patch)
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return plain(patch.filter((item) => !(isObject(item) && item.$patch === "replace")))
  }
  const result: Array<unknown> = Array.isArray(original) ? [...original] : []
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined) {
      throw new InvalidPatch(`map in list ${field} does not contain its merge key ${key}`)
    }
    const index = result.findIndex((existing) => isObject(existing) && Patch.deepEqual(existing[key], item[key]))
    if (item.$patch === "delete") {
      if (index >= 0) result.splice(index, 1)
    } else if (index >= 0) {
      result[index] = mergeObject(result[index], item)
    } else {
      result.push(plain(item))
    }
  }
  return result
}

const mergeObject = (original: unknown, patch: JsonObject): unknown => {
  if (patch.$patch === "replace") return plain(patch)
  const result: JsonObject = isObject(original) ? { ...original } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length)
      const current = result[field]
      if (Array.isArray(current) && Array.isArray(value)) {
        result[field] = current.filter((item) => !value.some((removed) => Patch.deepEqual(removed, item)))
      }
      continue
    }
    if (key.startsWith("$")) continue
    if (value === null || (isObject(value) && value.$patch === "delete")) {
      delete result[key]
    } else if (isObject(value)) {
      result[key] = mergeObject(result[key], value)
    } else if (Array.isArray(value)) {
      result[key] = mergeList(key, result[key], value)
    } else {
      result[key] = value
    }
  }
  const retain = patch.$retainKeys
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) {
      if (!retain.includes(key)) delete result[key]
    }
  }
  return result
}

/** Applies a strategic merge patch to a JSON object: the patched value, or why the patch is malformed. */
export const apply = (original: unknown, patch: unknown): Patch.Result => {
  if (!isObject(patch)) return { ok: false, message: "a strategic merge patch must be a JSON object" }
  try {
    return { ok: true, value: mergeObject(original, patch) }
  } catch (error) {
    if (error instanceof InvalidPatch) return { ok: false, message: error.message }
    throw error
  }
}
