/**
 * Reading untyped JSON from the API server (Status bodies, list envelopes, watch frames) without trusting its shape.
 */

/** A JSON object's fields. */
export type Fields = Readonly<Record<string, unknown>>

/** The object at `path` under `value`; an empty object where anything on the way is not an object. */
export const objectAt = (value: unknown, ...path: ReadonlyArray<string>): Fields => {
  let current: unknown = value
  for (const key of path) current = isObject(current) ? current[key] : undefined
  return isObject(current) ? current : {}
}

/** The non-empty string at `key`, if it is one. */
export const stringAt = (object: Fields, key: string): string | undefined => {
  const value = object[key]
  return typeof value === "string" && value !== "" ? value : undefined
}

/** The number at `key`, if it is one. */
export const numberAt = (object: Fields, key: string): number | undefined => {
  const value = object[key]
  return typeof value === "number" ? value : undefined
}

/** The parsed text, or undefined when it is not JSON. */
export const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isObject = (value: unknown): value is Fields =>
  typeof value === "object" && value !== null && !Array.isArray(value)
