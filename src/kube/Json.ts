/**
 * JSON as it comes off the wire or out of a store: objects whose fields are not known yet. The one place that says
 * what counts as a JSON object, for the patch engines, the OpenAPI defaulting and the HTTP façade.
 */

/** A JSON object's fields. */
export type Json = { [key: string]: unknown }

/** Whether a value is a JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)
