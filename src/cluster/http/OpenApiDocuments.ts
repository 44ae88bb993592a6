/**
 * The OpenAPI v3 documents kubectl fetches before `apply`/`create` with its default validation (kube-api.md §2.3):
 * every kind gets a PATCH operation with its group-version-kind and a `fieldValidation` parameter, which is what
 * kubectl looks for to use server-side validation. Only the custom resources get schemas (their CRD schemas, for
 * `kubectl explain`); for built-ins kubectl computes strategic merge patches from its compiled-in types.
 */
import * as Crd from "../../api/Crd.ts"
import * as Discovery from "./Discovery.ts"

const pathOf = (group: string, version: string) => (group === "" ? `api/${version}` : `apis/${group}/${version}`)

// A fixed hash: the documents only change with the program.
const hash = "karpenter-effect-1"

/** `/openapi/v3`: the per-group-version documents. */
export const index = {
  paths: Object.fromEntries(
    Discovery.groups.flatMap((group) =>
      group.versions.map((version) => [
        pathOf(group.name, version),
        { serverRelativeURL: `/openapi/v3/${pathOf(group.name, version)}?hash=${hash}` }
      ])
    )
  )
}

const parameters = [
  { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
  { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
  { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
  { name: "force", in: "query", schema: { type: "boolean", uniqueItems: true } }
]

const build = (groupVersionPath: string) => {
  const kinds = Discovery.kinds.filter((kind) => pathOf(kind.group, kind.version) === groupVersionPath)
  if (kinds.length === 0) return undefined
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: Discovery.version.gitVersion },
    paths: Object.fromEntries(
      kinds.map((kind) => [
        `/${groupVersionPath}/${kind.namespaced ? "namespaces/{namespace}/" : ""}${kind.plural}/{name}`,
        {
          patch: {
            operationId: `patch${kind.kind}`,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": { group: kind.group, version: kind.version, kind: kind.kind },
            parameters,
            responses: { "200": { description: "OK" } }
          }
        }
      ])
    ),
    components: {
      schemas: Object.fromEntries(
        Crd.definitions
          .filter((definition) => pathOf(definition.group, definition.version) === groupVersionPath)
          .map((definition) => [
            `${definition.group.split(".").reverse().join(".")}.${definition.version}.${definition.kind}`,
            {
              ...Crd.openApiSchema(definition),
              "x-kubernetes-group-version-kind": [
                { group: definition.group, version: definition.version, kind: definition.kind }
              ]
            }
          ])
      )
    }
  }
}

// Generating the CRD schemas takes a while and kubectl fetches these documents on every apply.
const documents = new Map<string, ReturnType<typeof build>>()

/** `/openapi/v3/<api/v1 | apis/group/version>`, if served. */
export const document = (groupVersionPath: string): ReturnType<typeof build> => {
  const cached = documents.get(groupVersionPath)
  if (cached !== undefined) return cached
  const built = build(groupVersionPath)
  if (built !== undefined) documents.set(groupVersionPath, built)
  return built
}
