/**
 * The URL grammar of the Kubernetes API (kube-api.md §2.2): discovery and OpenAPI documents, resource URLs
 * (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced or not, with subresources), the bindings collection, and
 * the fault switch.
 */
import * as Discovery from "./Discovery.ts"
import type { Target } from "./Handlers.ts"
import * as OpenApi from "./OpenApiDocuments.ts"

/** Where a request goes. */
export type Route =
  | { readonly _tag: "Document"; readonly body: unknown }
  /** `/api`, which names the server's address. */
  | { readonly _tag: "ApiVersions" }
  | { readonly _tag: "Resource"; readonly target: Target }
  | { readonly _tag: "Bindings"; readonly namespace: string }
  | { readonly _tag: "Faults"; readonly action: "faults" | "drop-watches" | "expire-watches" }
  | { readonly _tag: "NotFound" }

const notFound: Route = { _tag: "NotFound" }

const document = (body: unknown): Route => (body === undefined ? notFound : { _tag: "Document", body })

const resourceRoute = (group: string, version: string, rest: ReadonlyArray<string>): Route => {
  if (rest.length === 0) return document(Discovery.apiResourceList(group, version))
  // namespaces/<ns>/<plural>/...: a namespaced URL, unless <plural> is a subresource of the Namespace itself.
  const namespaced = rest[0] === "namespaces" && rest.length >= 3 && rest[2] !== "status" && rest[2] !== "finalize"
  const namespace = namespaced ? rest[1] : undefined
  const [plural, name, subresource, ...extra] = namespaced ? rest.slice(2) : rest
  if (plural === undefined || extra.length > 0) return notFound
  if (group === "" && plural === "bindings" && namespace !== undefined && name === undefined) {
    return { _tag: "Bindings", namespace }
  }
  const kind = Discovery.find(group, version, plural)
  if (kind === undefined || (namespace !== undefined && !kind.namespaced)) return notFound
  return { _tag: "Resource", target: { kind, namespace, name, subresource } }
}

/** The route of a path (already split from its query string). */
export const route = (path: string, faultInjection: boolean): Route => {
  const segments = path
    .split("/")
    .filter((segment) => segment !== "")
    .map((segment) => decodeURIComponent(segment))
  const [first, second, third, ...rest] = segments
  switch (first) {
    case "version":
      return segments.length === 1 ? document(Discovery.version) : notFound
    case "api":
      if (second === undefined) return { _tag: "ApiVersions" }
      return second === "v1" ? resourceRoute("", "v1", segments.slice(2)) : notFound
    case "apis":
      if (second === undefined) return document(Discovery.apiGroupList)
      if (third === undefined) return document(Discovery.apiGroup(second))
      return resourceRoute(second, third, rest)
    case "openapi":
      if (second !== "v3") return notFound
      return segments.length === 2 ? document(OpenApi.index) : document(OpenApi.document(segments.slice(2).join("/")))
    case "karpenter-effect":
      if (!faultInjection || second !== "faults") return notFound
      if (third === undefined) return { _tag: "Faults", action: "faults" }
      return third === "drop-watches" || third === "expire-watches" ? { _tag: "Faults", action: third } : notFound
    default:
      return notFound
  }
}
