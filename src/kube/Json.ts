/**
 * JSON as it comes off the wire or out of a store: objects whose fields are not known yet. The one place that says
 * what counts as a JSON object, for the patch engines, the OpenAPI defaulting and the HTTP façade, and the canonical
 * text hashes are taken of.
 */

/** A JSON object's fields. */
export type Json = { [key: string]: unknown }

/** Whether a value is a JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** JSON with object keys sorted (fields set to undefined left out), so equal values hash equally whatever their key order. */
export const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`
  }
  return JSON.stringify(value)
}
