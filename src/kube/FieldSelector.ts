/**
 * Kubernetes field selectors, as `k8s.io/apimachinery/pkg/fields` (selector.go) plus the API server's per-kind lists
 * of selectable fields (each kind's `AddFieldLabelConversionFunc` and `ToSelectableFields`).
 *
 * Only `=`, `==` and `!=` exist, ANDed by commas. A field the object lacks compares as "", so `spec.nodeName=`
 * selects unscheduled pods.
 */

/** One term: `field=value` (`==` is the same) or `field!=value`. */
export interface Term {
  readonly field: string
  readonly operator: "=" | "!="
  readonly value: string
}

/** A field selector: terms ANDed together; no terms selects everything. */
export interface Selector {
  readonly terms: ReadonlyArray<Term>
}

/** The outcome of parsing: the selector, or apimachinery's error message. */
export type Result =
  | { readonly ok: true; readonly selector: Selector }
  | { readonly ok: false; readonly message: string }

/** Reads a selectable field of an object as the string the selector compares with. */
export type FieldValue = (object: unknown, field: string) => string

/** Selects every object. */
export const everything: Selector = { terms: [] }

// Splits on commas not preceded by a backslash escape (upstream `splitTerms`).
const splitTerms = (text: string): ReadonlyArray<string> => {
  if (text.length === 0) return []
  const terms: Array<string> = []
  let start = 0
  let escaped = false
  for (let index = 0; index < text.length; index++) {
    const ch = text[index]
    if (escaped) escaped = false
    else if (ch === "\\") escaped = true
    else if (ch === ",") {
      terms.push(text.slice(start, index))
      start = index + 1
    }
  }
  terms.push(text.slice(start))
  return terms
}

// The first operator in the term, "!=" and "==" before "=" (upstream `splitTerm`, which ignores escapes).
const splitTerm = (term: string): { field: string; operator: string; value: string } | undefined => {
  for (let index = 0; index < term.length; index++) {
    for (const operator of ["!=", "==", "="]) {
      if (term.startsWith(operator, index)) {
        return { field: term.slice(0, index), operator, value: term.slice(index + operator.length) }
      }
    }
  }
  return undefined
}

// Upstream `UnescapeValue`: only `\\`, `\,` and `\=` are escapes, and a bare `,` or `=` is an error.
const unescapeValue = (value: string): { ok: true; value: string } | { ok: false; message: string } => {
  let result = ""
  let escaped = false
  for (const ch of value) {
    if (escaped) {
      if (ch !== "\\" && ch !== "," && ch !== "=") {
        return { ok: false, message: `invalid field selector: invalid escape sequence: \\${ch}` }
      }
      result += ch
      escaped = false
    } else if (ch === "\\") escaped = true
    else if (ch === "," || ch === "=") {
      return { ok: false, message: `invalid field selector: unescaped character in value: ${ch}` }
    } else result += ch
  }
  if (escaped) return { ok: false, message: "invalid field selector: invalid escape sequence: \\" }
  return { ok: true, value: result }
}

/** A value with `\`, `,` and `=` escaped so that {@link parse} reads it back (upstream `EscapeValue`). */
export const escapeValue = (value: string): string => value.replace(/[\\,=]/g, (ch) => `\\${ch}`)

/**
 * Parses the string syntax (upstream `fields.ParseSelector`): `f=v`, `f==v`, `f!=v`, comma-separated and ANDed;
 * "" selects everything. Like upstream, whitespace is not trimmed: `a = b` names the field "a ".
 */
export const parse = (text: string): Result => {
  const terms: Array<Term> = []
  const parts = [...splitTerms(text)].sort()
  for (const part of parts) {
    if (part === "") continue
    const split = splitTerm(part)
    if (split === undefined) return { ok: false, message: `invalid selector: '${text}'; can't understand '${part}'` }
    const value = unescapeValue(split.value)
    if (!value.ok) return value
    terms.push({ field: split.field, operator: split.operator === "!=" ? "!=" : "=", value: value.value })
  }
  return { ok: true, selector: { terms } }
}

/** The selector requiring each field to equal its value (upstream `fields.SelectorFromSet`). */
export const fromFields = (fields: Readonly<Record<string, string>>): Selector => ({
  terms: Object.keys(fields)
    .sort()
    .map((field) => ({ field, operator: "=", value: fields[field]! }))
})

/** The canonical string form, terms sorted, values escaped, that {@link parse} reads back to an equal selector. */
export const format = (selector: Selector): string =>
  selector.terms
    .map((term) => `${term.field}${term.operator}${escapeValue(term.value)}`)
    .sort()
    .join(",")

// -- Selectable fields ---------------------------------------------------------------------------------------------

const metadataFields = ["metadata.name", "metadata.namespace"]

const podFields: ReadonlySet<string> = new Set([
  ...metadataFields,
  "spec.nodeName",
  "spec.restartPolicy",
  "spec.schedulerName",
  "spec.serviceAccountName",
  "spec.hostNetwork",
  "status.phase",
  "status.podIP",
  "status.nominatedNodeName"
])

// Cluster-scoped kinds with their own conversion function do not accept metadata.namespace.
const nodeFields: ReadonlySet<string> = new Set(["metadata.name", "spec.unschedulable"])
const namespaceFields: ReadonlySet<string> = new Set(["metadata.name", "status.phase"])

const eventFields: ReadonlySet<string> = new Set([
  ...metadataFields,
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type"
])

const defaultFields: ReadonlySet<string> = new Set(metadataFields)

/**
 * The fields a kind can be selected by: `metadata.name` and `metadata.namespace` for every kind without its own list
 * (custom resources included), plus the extra fields of core pods, nodes, namespaces and events.
 */
export const supportedFields = (group: string, kind: string): ReadonlySet<string> => {
  if (group !== "") return defaultFields
  switch (kind) {
    case "Pod":
      return podFields
    case "Node":
      return nodeFields
    case "Namespace":
      return namespaceFields
    case "Event":
      return eventFields
    default:
      return defaultFields
  }
}

/** The API server's error for the first term on an unsupported field, or undefined when every field is supported. */
export const validate = (selector: Selector, supported: ReadonlySet<string>): string | undefined => {
  const unsupported = selector.terms.find((term) => !supported.has(term.field))
  return unsupported === undefined ? undefined : `field label not supported: ${unsupported.field}`
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const read = (object: unknown, path: ReadonlyArray<string>): unknown => {
  let current = object
  for (const segment of path) {
    if (!isRecord(current) || !Object.hasOwn(current, segment)) return undefined
    current = current[segment]
  }
  return current
}

const render = (value: unknown): string =>
  typeof value === "string" ? value : typeof value === "boolean" || typeof value === "number" ? String(value) : ""

/**
 * The value of a dotted field path in a plain JSON object, as the API server's `ToSelectableFields` renders it:
 * booleans and numbers as strings, anything missing or non-scalar as "". Mirrors the server's special cases too:
 * `spec.hostNetwork` and `spec.unschedulable` default to "false" (Go zero values), `status.podIP` falls back to
 * `status.podIPs[0].ip`, and an event's `source` is `source.component`, else `reportingComponent`.
 */
export const fieldValue: FieldValue = (object, field) => {
  switch (field) {
    case "source": {
      const component = render(read(object, ["source", "component"]))
      return component !== "" ? component : render(read(object, ["reportingComponent"]))
    }
    case "spec.hostNetwork":
    case "spec.unschedulable": {
      const value = render(read(object, field.split(".")))
      return value === "" ? "false" : value
    }
    case "status.podIP": {
      const value = render(read(object, ["status", "podIP"]))
      if (value !== "") return value
      const ips = read(object, ["status", "podIPs"])
      return Array.isArray(ips) ? render(read(ips[0], ["ip"])) : ""
    }
    default:
      return render(read(object, field.split(".")))
  }
}

/** Whether the selector selects `object`; `readField` reads its fields (default {@link fieldValue}). */
export const matches = (selector: Selector, object: unknown, readField: FieldValue = fieldValue): boolean =>
  selector.terms.every((term) => (readField(object, term.field) === term.value) === (term.operator === "="))
