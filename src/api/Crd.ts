/**
 * CustomResourceDefinitions generated from the API schemas: the structural openAPIV3Schema (with defaults, enums,
 * patterns and the CEL rules the schemas carry), the status subresource and upstream's printer columns.
 */
import * as Schema from "effect/Schema"
import { stringify } from "yaml"
import * as CapacityBuffer from "./CapacityBuffer.ts"
import * as EC2NodeClass from "./EC2NodeClass.ts"
import * as KWOKNodeClass from "./KWOKNodeClass.ts"
import * as Labels from "./Labels.ts"
import * as NodeClaim from "./NodeClaim.ts"
import * as NodeOverlay from "./NodeOverlay.ts"
import * as NodePool from "./NodePool.ts"

/** A JSON Schema / OpenAPI v3 node. */
export type JsonSchemaNode = { [key: string]: unknown }

/** A printer column (`additionalPrinterColumns`). */
export interface PrinterColumn {
  readonly name: string
  readonly type: "string" | "integer" | "date" | "number" | "boolean"
  readonly jsonPath: string
  readonly priority?: number
  readonly description?: string
}

/** What a CRD is generated from. */
export interface Definition {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly scope: "Cluster" | "Namespaced"
  readonly categories: ReadonlyArray<string>
  readonly shortNames?: ReadonlyArray<string>
  readonly description: string
  readonly schema: Schema.Top
  readonly printerColumns: ReadonlyArray<PrinterColumn>
  /** The scale subresource's paths (`kubectl scale`), for kinds that declare one. */
  readonly scale?: { readonly specReplicasPath: string; readonly statusReplicasPath: string }
}

const readyColumn: PrinterColumn = {
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status'
}
const ageColumn: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }
const labelPath = (key: string) => `.metadata.labels.${key.replaceAll(".", "\\.")}`

/** NodePool, as upstream v1.4.0 declares it, with the scale subresource over `replicas` of v1.8 (static capacity). */
export const NodePoolDefinition: Definition = {
  group: Labels.Group,
  version: "v1",
  kind: NodePool.kind,
  plural: "nodepools",
  singular: "nodepool",
  scope: "Cluster",
  categories: ["karpenter"],
  description: "NodePool is the Schema for the NodePools API",
  schema: NodePool.NodePool,
  printerColumns: [
    { name: "NodeClass", type: "string", jsonPath: ".spec.template.spec.nodeClassRef.name" },
    { name: "Nodes", type: "string", jsonPath: ".status.resources.nodes" },
    readyColumn,
    ageColumn,
    { name: "Weight", type: "integer", jsonPath: ".spec.weight", priority: 1 },
    { name: "CPU", type: "string", jsonPath: ".status.resources.cpu", priority: 1 },
    { name: "Memory", type: "string", jsonPath: ".status.resources.memory", priority: 1 }
  ],
  scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.nodes" }
}

/** NodeClaim, as upstream v1.4.0 declares it (with the Drifted column added in v1.4.0). */
export const NodeClaimDefinition: Definition = {
  group: Labels.Group,
  version: "v1",
  kind: NodeClaim.kind,
  plural: "nodeclaims",
  singular: "nodeclaim",
  scope: "Cluster",
  categories: ["karpenter"],
  description: "NodeClaim is the Schema for the NodeClaims API",
  schema: NodeClaim.NodeClaim,
  printerColumns: [
    { name: "Type", type: "string", jsonPath: labelPath(Labels.InstanceType) },
    { name: "Capacity", type: "string", jsonPath: labelPath(Labels.CapacityType) },
    { name: "Zone", type: "string", jsonPath: labelPath(Labels.Zone) },
    { name: "Node", type: "string", jsonPath: ".status.nodeName" },
    readyColumn,
    ageColumn,
    { name: "ImageID", type: "string", jsonPath: ".status.imageID", priority: 1 },
    { name: "ID", type: "string", jsonPath: ".status.providerID", priority: 1 },
    { name: "NodePool", type: "string", jsonPath: labelPath(Labels.NodePool), priority: 1 },
    { name: "NodeClass", type: "string", jsonPath: ".spec.nodeClassRef.name", priority: 1 },
    { name: "Drifted", type: "string", jsonPath: '.status.conditions[?(@.type=="Drifted")].status', priority: 1 }
  ]
}

/** NodeOverlay, as upstream v1.7.0 declares it (behind the NodeOverlay feature gate). */
export const NodeOverlayDefinition: Definition = {
  group: Labels.Group,
  version: "v1alpha1",
  kind: NodeOverlay.kind,
  plural: "nodeoverlays",
  singular: "nodeoverlay",
  scope: "Cluster",
  categories: ["karpenter"],
  shortNames: ["overlays"],
  description: "NodeOverlay is the Schema for the NodeOverlays API",
  schema: NodeOverlay.NodeOverlay,
  printerColumns: [readyColumn, ageColumn, { name: "Weight", type: "integer", jsonPath: ".spec.weight", priority: 1 }]
}

/** CapacityBuffer, as upstream v1.14.0 ships SIG Autoscaling's CRD (behind the CapacityBuffer feature gate). */
export const CapacityBufferDefinition: Definition = {
  group: CapacityBuffer.group,
  version: CapacityBuffer.version,
  kind: CapacityBuffer.kind,
  plural: "capacitybuffers",
  singular: "capacitybuffer",
  scope: "Namespaced",
  categories: ["autoscaling"],
  shortNames: ["cb"],
  description:
    "CapacityBuffer is the configuration that an autoscaler can use to provision buffer capacity within a cluster.",
  schema: CapacityBuffer.CapacityBuffer,
  printerColumns: [
    { name: "Strategy", type: "string", jsonPath: ".spec.provisioningStrategy" },
    { name: "PodTemplate", type: "string", jsonPath: ".status.podTemplateRef.name" },
    { name: "Replicas", type: "integer", jsonPath: ".status.replicas" },
    { name: "ConditionsType", type: "string", jsonPath: ".status.conditions[*].type" },
    { name: "ConditionsStatus", type: "string", jsonPath: ".status.conditions[*].status" },
    { name: "ConditionsReason", type: "string", jsonPath: ".status.conditions[*].reason" },
    ageColumn
  ]
}

/** KWOKNodeClass (upstream's, plus `failRegistration`). */
export const KWOKNodeClassDefinition: Definition = {
  group: KWOKNodeClass.group,
  version: "v1alpha1",
  kind: KWOKNodeClass.kind,
  plural: "kwoknodeclasses",
  singular: "kwoknodeclass",
  scope: "Cluster",
  categories: ["karpenter"],
  description: "KWOKNodeClass is the Schema for the KWOKNodeClass API",
  schema: KWOKNodeClass.KWOKNodeClass,
  printerColumns: [readyColumn, ageColumn]
}

/** EC2NodeClass, as aws/karpenter-provider-aws v1.4.0 declares it. */
export const EC2NodeClassDefinition: Definition = {
  group: EC2NodeClass.group,
  version: "v1",
  kind: EC2NodeClass.kind,
  plural: "ec2nodeclasses",
  singular: "ec2nodeclass",
  scope: "Cluster",
  categories: ["karpenter"],
  shortNames: ["ec2nc", "ec2ncs"],
  description: "EC2NodeClass is the Schema for the EC2NodeClass API",
  schema: EC2NodeClass.EC2NodeClass,
  printerColumns: [readyColumn, ageColumn, { name: "Role", type: "string", jsonPath: ".spec.role", priority: 1 }]
}

/** Every CRD this project ships. */
export const definitions: ReadonlyArray<Definition> = [
  NodePoolDefinition,
  NodeClaimDefinition,
  NodeOverlayDefinition,
  CapacityBufferDefinition,
  KWOKNodeClassDefinition,
  EC2NodeClassDefinition
]

// The Schema library encodes Schema.Int with the safe-integer range; a CRD states no such bound.
const safeIntegerBounds = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER])

const isObject = (value: unknown): value is JsonSchemaNode =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Folds `allOf` fragments (which is how Schema emits stacked checks) into their node. */
const mergeAllOf = (node: JsonSchemaNode): JsonSchemaNode => {
  const { allOf, ...rest } = node
  if (!Array.isArray(allOf)) return rest
  const merged: JsonSchemaNode = { ...rest }
  for (const fragment of allOf) {
    if (!isObject(fragment)) continue
    for (const [key, value] of Object.entries(mergeAllOf(fragment))) {
      const existing = merged[key]
      merged[key] =
        key === "x-kubernetes-validations" && Array.isArray(existing) && Array.isArray(value)
          ? [...existing, ...value]
          : value
    }
  }
  return merged
}

/**
 * Rewrites a draft-2020-12 node from `Schema.toJsonSchemaDocument` into a structural OpenAPI v3 node.
 */
const toStructural = (input: JsonSchemaNode, definitions: JsonSchemaNode): JsonSchemaNode => {
  let node = mergeAllOf(input)
  const ref = node.$ref
  if (typeof ref === "string") {
    const target = definitions[ref.replace(/^#\/(\$defs|definitions)\//, "")]
    if (!isObject(target)) throw new Error(`unresolved schema reference ${ref}`)
    const { $ref: _ref, ...rest } = node
    node = { ...mergeAllOf(target), ...rest }
  }
  if (node["x-kubernetes-int-or-string"] === true) {
    const { type: _type, ...rest } = node
    return { ...rest, anyOf: [{ type: "integer" }, { type: "string" }] }
  }
  const output: JsonSchemaNode = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "title") continue
    if ((key === "minimum" || key === "maximum") && safeIntegerBounds.has(value as number)) continue
    if (key === "properties" && isObject(value)) {
      output.properties = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, toStructural(child as JsonSchemaNode, definitions)])
      )
    } else if ((key === "items" || key === "additionalProperties") && isObject(value)) {
      output[key] = toStructural(value, definitions)
    } else if (key === "anyOf" && Array.isArray(value)) {
      const branches = value.filter((branch) => !(isObject(branch) && branch.type === "null"))
      if (branches.length === 1 && isObject(branches[0]))
        return { ...output, ...toStructural(branches[0], definitions) }
      output.anyOf = branches.map((branch) => toStructural(branch as JsonSchemaNode, definitions))
    } else {
      output[key] = value
    }
  }
  if (output.type === "object") {
    if (isObject(output.properties) && Array.isArray(output.required)) {
      // The schema is read from the decoded side, where defaulted fields are always present; on the wire they may
      // be omitted.
      const properties = output.properties
      output.required = output.required.filter((key) => !(isObject(properties[key]) && "default" in properties[key]))
      if ((output.required as Array<unknown>).length === 0) delete output.required
    }
    if (output.properties !== undefined) {
      delete output.additionalProperties
    } else if (output.additionalProperties === true || output.additionalProperties === undefined) {
      delete output.additionalProperties
      output["x-kubernetes-preserve-unknown-fields"] = true
    }
  }
  return output
}

const apiVersionDescription =
  "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized " +
  "schemas to the latest internal value, and may reject unrecognized values."
const kindDescription =
  "Kind is a string value representing the REST resource this object represents. Servers may infer this from the " +
  "endpoint the client submits requests to. Cannot be updated. In CamelCase."

/** The structural openAPIV3Schema of a kind. */
export const openApiSchema = (definition: Definition): JsonSchemaNode => {
  // The decoded side carries every check (the encoded side drops checks above a transformation, such as a default).
  const document = Schema.toJsonSchemaDocument(Schema.toType(definition.schema), {
    includeAnnotationKey: (key) => key.startsWith("x-kubernetes-")
  })
  const root = toStructural(document.schema as JsonSchemaNode, (document.definitions ?? {}) as JsonSchemaNode)
  const properties = { ...(root.properties as JsonSchemaNode) }
  properties.apiVersion = { description: apiVersionDescription, type: "string" }
  properties.kind = { description: kindDescription, type: "string" }
  properties.metadata = { type: "object" }
  const { required, ...rest } = root
  return {
    description: definition.description,
    ...rest,
    properties,
    // apiVersion, kind and metadata are the apiserver's business, not the schema's.
    required: ((required ?? []) as ReadonlyArray<string>).filter(
      (key) => !["apiVersion", "kind", "metadata"].includes(key)
    )
  }
}

/** The CRD manifest of a kind. */
export const manifest = (definition: Definition): JsonSchemaNode => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${definition.plural}.${definition.group}` },
  spec: {
    group: definition.group,
    names: {
      categories: [...definition.categories],
      kind: definition.kind,
      listKind: `${definition.kind}List`,
      plural: definition.plural,
      ...(definition.shortNames === undefined ? {} : { shortNames: [...definition.shortNames] }),
      singular: definition.singular
    },
    scope: definition.scope,
    versions: [
      {
        additionalPrinterColumns: definition.printerColumns.map((column) => ({ ...column })),
        name: definition.version,
        schema: { openAPIV3Schema: openApiSchema(definition) },
        served: true,
        storage: true,
        subresources: definition.scale === undefined ? { status: {} } : { scale: { ...definition.scale }, status: {} }
      }
    ]
  }
})

/** The file a CRD is written to under manifests/base/crds/. */
export const fileName = (definition: Definition): string => `${definition.group}_${definition.plural}.yaml`

/** The YAML text of a CRD file (what `karpenter-effect crds` writes). */
export const render = (definition: Definition): string =>
  `# Generated by \`karpenter-effect crds\` from src/api; do not edit.\n---\n${stringify(manifest(definition), {
    lineWidth: 0
  })}`
