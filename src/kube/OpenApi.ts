/**
 * Structural OpenAPI v3 schemas as a CRD declares them: validation of objects against them and defaulting, the way
 * an apiserver treats custom resources (CEL rules excepted: those are the schemas' own checks).
 */
import { isObject } from "./Json.ts"

/** A node of an openAPIV3Schema. */
export type OpenApiSchema = { readonly [key: string]: unknown }

const child = (schema: OpenApiSchema, key: string): OpenApiSchema | undefined => {
  const value = schema[key]
  return isObject(value) ? value : undefined
}

const describeType = (value: unknown): string =>
  Array.isArray(value) ? "array" : value === null ? "null" : typeof value

const typeMatches = (type: unknown, value: unknown): boolean => {
  switch (type) {
    case "object":
      return isObject(value)
    case "array":
      return Array.isArray(value)
    case "string":
      return typeof value === "string"
    case "integer":
      return typeof value === "number" && Number.isInteger(value)
    case "number":
      return typeof value === "number"
    case "boolean":
      return typeof value === "boolean"
    default:
      return true
  }
}

const join = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

/**
 * Every violation of `schema` by `value`, as `path: problem` (empty when valid). Unknown fields are not errors:
 * an apiserver prunes them.
 */
export const validate = (schema: OpenApiSchema, value: unknown, path = ""): Array<string> => {
  const errors: Array<string> = []
  const at = path === "" ? "<root>" : path
  if (schema["x-kubernetes-int-or-string"] === true) {
    if (typeof value !== "string" && !(typeof value === "number" && Number.isInteger(value))) {
      return [`${at}: expected an integer or a string, got ${describeType(value)}`]
    }
  } else if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    return [`${at}: expected ${String(schema.type)}, got ${describeType(value)}`]
  }
  const enumValues = schema.enum
  if (Array.isArray(enumValues) && !enumValues.includes(value)) {
    errors.push(`${at}: unsupported value ${JSON.stringify(value)}, expected one of ${JSON.stringify(enumValues)}`)
  }
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`)
    }
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength) {
      errors.push(`${at}: longer than ${schema.maxLength} characters`)
    }
    if (typeof schema.minLength === "number" && value.length < schema.minLength) {
      errors.push(`${at}: shorter than ${schema.minLength} characters`)
    }
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${at}: less than ${schema.minimum}`)
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${at}: more than ${schema.maximum}`)
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems) {
      errors.push(`${at}: more than ${schema.maxItems} items`)
    }
    if (typeof schema.minItems === "number" && value.length < schema.minItems) {
      errors.push(`${at}: fewer than ${schema.minItems} items`)
    }
    const items = child(schema, "items")
    if (items !== undefined) {
      for (const [index, item] of value.entries()) errors.push(...validate(items, item, join(path, index)))
    }
  }
  if (isObject(value)) {
    const keys = Object.keys(value)
    if (typeof schema.maxProperties === "number" && keys.length > schema.maxProperties) {
      errors.push(`${at}: more than ${schema.maxProperties} properties`)
    }
    const required = schema.required
    if (Array.isArray(required)) {
      for (const key of required) if (!(key in value)) errors.push(`${join(path, String(key))}: Required value`)
    }
    const properties = child(schema, "properties")
    const additional = child(schema, "additionalProperties")
    for (const key of keys) {
      const propertySchema = properties !== undefined ? child(properties, key) : additional
      if (propertySchema !== undefined) errors.push(...validate(propertySchema, value[key], join(path, key)))
    }
  }
  return errors
}

// Where unknown fields are allowed: below `x-kubernetes-preserve-unknown-fields`, and in objects that declare no
// properties of their own (maps say what their values are through additionalProperties).
const keepsUnknown = (schema: OpenApiSchema): boolean =>
  schema["x-kubernetes-preserve-unknown-fields"] === true ||
  (child(schema, "properties") === undefined && child(schema, "additionalProperties") === undefined)

/** The schema of one field (or item) of an object (or array) `schema` describes; undefined when it has none. */
const fieldSchema = (schema: OpenApiSchema, key: string | number): OpenApiSchema | undefined => {
  if (typeof key === "number") return child(schema, "items")
  const properties = child(schema, "properties")
  return properties === undefined ? child(schema, "additionalProperties") : child(properties, key)
}

/**
 * The fields of `value` that `schema` does not know, as paths (`spec.foo`, `spec.containers[0].bar`): what an
 * apiserver's strict decoding reports, and what it prunes otherwise. Keys starting with `$` are patch directives
 * (strategic merge patch), not fields.
 */
export const unknownFields = (schema: OpenApiSchema, value: unknown, path = ""): Array<string> => {
  if (Array.isArray(value)) {
    const items = child(schema, "items")
    return items === undefined ? [] : value.flatMap((item, index) => unknownFields(items, item, join(path, index)))
  }
  if (!isObject(value) || schema["x-kubernetes-preserve-unknown-fields"] === true) return []
  const unknown: Array<string> = []
  for (const [key, field] of Object.entries(value)) {
    if (key.startsWith("$")) continue
    const known = fieldSchema(schema, key)
    if (known !== undefined) unknown.push(...unknownFields(known, field, join(path, key)))
    else if (!keepsUnknown(schema)) unknown.push(join(path, key))
  }
  return unknown
}

/** A copy of `value` without the fields `schema` does not know (an apiserver's pruning). */
export const prune = (schema: OpenApiSchema, value: unknown): unknown => {
  if (Array.isArray(value)) {
    const items = child(schema, "items")
    return items === undefined ? value : value.map((item) => prune(items, item))
  }
  if (!isObject(value) || schema["x-kubernetes-preserve-unknown-fields"] === true) return value
  const output: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    const known = key.startsWith("$") ? undefined : fieldSchema(schema, key)
    if (known !== undefined) output[key] = prune(known, field)
    else if (key.startsWith("$") || keepsUnknown(schema)) output[key] = field
  }
  return output
}

/**
 * The unknown fields a JSON patch operation writes: `value` checked at the schema of the JSON pointer `pointer`
 * (or the pointer itself, when it names an unknown field).
 */
export const unknownFieldsAt = (schema: OpenApiSchema, pointer: string, value: unknown): Array<string> => {
  let current: OpenApiSchema | undefined = schema
  let path = ""
  const segments = pointer === "" ? [] : pointer.slice(1).split("/")
  for (const raw of segments) {
    const segment = raw.replaceAll("~1", "/").replaceAll("~0", "~")
    if (current === undefined || current["x-kubernetes-preserve-unknown-fields"] === true) return []
    const isIndex = /^(\d+|-)$/.test(segment) && child(current, "items") !== undefined
    const key: string | number = isIndex ? (segment === "-" ? 0 : Number(segment)) : segment
    const next = fieldSchema(current, key)
    path = isIndex && segment === "-" ? `${path}[-]` : join(path, key)
    if (next === undefined) return keepsUnknown(current) ? [] : [path]
    current = next
  }
  return current === undefined ? [] : unknownFields(current, value, path)
}

/**
 * A copy of `value` with the schema's defaults filled in where fields are absent, recursively (apiserver defaulting).
 */
export const applyDefaults = (schema: OpenApiSchema, value: unknown): unknown => {
  if (Array.isArray(value)) {
    const items = child(schema, "items")
    return items === undefined ? value : value.map((item) => applyDefaults(items, item))
  }
  if (!isObject(value)) return value
  const output: Record<string, unknown> = { ...value }
  const properties = child(schema, "properties")
  if (properties !== undefined) {
    for (const [key, propertySchema] of Object.entries(properties)) {
      if (!isObject(propertySchema)) continue
      if (output[key] === undefined && propertySchema.default !== undefined) {
        output[key] = structuredClone(propertySchema.default)
      }
      if (output[key] !== undefined) output[key] = applyDefaults(propertySchema, output[key])
    }
  }
  const additional = child(schema, "additionalProperties")
  if (additional !== undefined && properties === undefined) {
    for (const [key, entry] of Object.entries(output)) output[key] = applyDefaults(additional, entry)
  }
  return output
}

/**
 * Why a schema is not structural (Kubernetes' rules for CRDs), as `path: problem`; empty when it is.
 */
export const structuralViolations = (schema: OpenApiSchema, path = "<root>"): Array<string> => {
  const problems: Array<string> = []
  const hasType = typeof schema.type === "string"
  if (
    !hasType &&
    schema["x-kubernetes-preserve-unknown-fields"] !== true &&
    schema["x-kubernetes-int-or-string"] !== true
  ) {
    problems.push(`${path}: no type`)
  }
  if ("$ref" in schema) problems.push(`${path}: $ref is not allowed`)
  if (schema.properties !== undefined && schema.additionalProperties !== undefined) {
    problems.push(`${path}: additionalProperties beside properties`)
  }
  const anyOf = schema.anyOf
  if (Array.isArray(anyOf)) {
    if (anyOf.some((branch) => isObject(branch) && branch.type === "null")) problems.push(`${path}: anyOf with null`)
    if (schema["x-kubernetes-int-or-string"] !== true) problems.push(`${path}: anyOf outside int-or-string`)
  }
  if (schema.nullable === true && schema.default === null) problems.push(`${path}: null default`)
  const properties = child(schema, "properties")
  if (properties !== undefined) {
    for (const [key, property] of Object.entries(properties)) {
      if (isObject(property)) problems.push(...structuralViolations(property, `${path}.${key}`))
    }
  }
  const items = child(schema, "items")
  if (items !== undefined) problems.push(...structuralViolations(items, `${path}[]`))
  const additional = child(schema, "additionalProperties")
  if (additional !== undefined) problems.push(...structuralViolations(additional, `${path}{}`))
  return problems
}
